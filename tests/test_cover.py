"""Cover art: made fit for podcast apps, embedded in every audio file, read back with
Pillow and mutagen (readers that are not the writer)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4, MP4Cover
from PIL import Image

from audio_pipeline.export import cover

from .test_identity import render_text, text_of


def test_drawn_cover_meets_apples_rules_and_is_deterministic(tmp_path: Path) -> None:
    a = cover.prepare(tmp_path / "a", "罗永浩对谈MiniMax闫俊杰：全模态突破", ("罗永浩", "闫俊杰"))
    b = cover.prepare(tmp_path / "b", "罗永浩对谈MiniMax闫俊杰：全模态突破", ("罗永浩", "闫俊杰"))
    assert a.generated and a.key == b.key
    assert a.feed.read_bytes() == b.feed.read_bytes() and a.embed == b.embed
    image = Image.open(a.feed)
    assert image.format == "JPEG" and image.mode == "RGB" and image.size == (3000, 3000)
    assert a.feed.stat().st_size < 512 * 1024
    small = Image.open(io.BytesIO(a.embed))
    assert small.size == (1400, 1400) and len(a.embed) < 256 * 1024
    # The title is drawn (not a blank square): many distinct colours where the text is.
    pixels = np.asarray(image.crop((300, 300, 2700, 1200)).resize((200, 75))).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 20
    other = cover.prepare(tmp_path / "a", "另一个标题", ("罗永浩",))
    assert other.key != a.key and other.feed.read_bytes() != a.feed.read_bytes()


def test_given_image_is_squared_and_scaled(tmp_path: Path) -> None:
    source = tmp_path / "art.png"
    Image.new("RGBA", (800, 500), (10, 200, 30, 128)).save(source)
    art = cover.prepare(tmp_path / "parts", "t", (), source)
    assert not art.generated
    image = Image.open(art.feed)
    assert image.size == (3000, 3000) and image.mode == "RGB"
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(cover.CoverError, match="not an image"):
        cover.prepare(tmp_path / "parts", "t", (), tmp_path / "bad.png")
    with pytest.raises(cover.CoverError, match="cannot read"):
        cover.artwork_key("t", (), tmp_path / "missing.png")


def test_cover_embedded_everywhere_and_a_new_one_only_retags(tmp_path: Path) -> None:
    first = render_text(tmp_path, text_of("a", "b"))
    out = first.out_dir
    image = first.manifest.cover.image
    assert image == f"cover-{first.manifest.cover.key[:8]}.jpg" and first.manifest.cover.generated
    drawn = (out / image).read_bytes()
    assert Image.open(out / image).size == (3000, 3000)
    for section in first.manifest.sections:
        (apic,) = ID3(out / section.audio).getall("APIC")
        assert apic.type == 3 and apic.mime == "image/jpeg"
        assert Image.open(io.BytesIO(apic.data)).size == (1400, 1400)
    (whole_apic,) = ID3(out / first.manifest.whole.mp3).getall("APIC")
    covers = MP4(out / first.manifest.whole.m4b).tags["covr"]  # type: ignore[index]
    assert len(covers) == 1 and covers[0].imageformat == MP4Cover.FORMAT_JPEG
    assert bytes(covers[0]) == whole_apic.data

    # A cover named in the front matter: every file re-tagged, nothing encoded again.
    Image.new("RGB", (1600, 1600), (200, 40, 40)).save(tmp_path / "art.jpg")
    text = text_of("a", "b").replace("created:", "cover: art.jpg\ncreated:")
    second = render_text(tmp_path, text)
    assert second.encoded == () and second.built == (1, 2) and second.whole_built
    assert not second.manifest.cover.generated
    assert not (out / image).exists()  # a new image, a new name (apps fetch it again)
    assert (out / second.manifest.cover.image).read_bytes() != drawn
    red = Image.open(io.BytesIO(ID3(out / second.manifest.sections[0].audio).getall("APIC")[0].data))
    r, g, b = red.getpixel((700, 700))  # type: ignore[misc]
    assert r > 150 and g < 90 and b < 90


def test_bad_podcast_metadata_stops_the_render_before_any_audio(tmp_path: Path) -> None:
    from audio_pipeline.errors import PipelineError

    text = text_of("a").replace("created:", "category: Podcasts\ncreated:")
    with pytest.raises(PipelineError, match="not an Apple Podcasts category") as info:
        render_text(tmp_path, text)
    assert info.value.exit_code == 2
    (tmp_path / "art.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(cover.CoverError, match="not an image") as bad:
        render_text(tmp_path, text_of("a").replace("created:", "cover: art.png\ncreated:"))
    assert bad.value.exit_code == 2
    assert not list((tmp_path / "out").rglob("*.mp3")) and not list((tmp_path / "out").rglob("*.wav"))
