"""feed.xml: RSS 2.0 + iTunes + Podcasting 2.0, checked with feedparser and lxml.

The episode MP3s are real files encoded by ffmpeg, so enclosure lengths and
hashes are those of real audio.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import hashlib
import html
import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import feedparser
import numpy as np
import pytest
from lxml import etree

from audio_pipeline.export.feed import (
    PublishError,
    format_duration,
    guess_language,
    write_feed,
)
from audio_pipeline.export.podcastindex import PODCAST_NS
from audio_pipeline.manifest import Manifest
from audio_pipeline.media.codec import encode_mp3
from audio_pipeline.media.mp3 import concat_copy

RATE = 24000
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
NS = {"itunes": ITUNES_NS, "podcast": PODCAST_NS, "atom": "http://www.w3.org/2005/Atom"}
BASE = "https://example.org/podcasts/罗永浩/"
TITLE = "罗永浩对谈MiniMax闫俊杰"
FEED_ID = "0b3c5d2e-4f6a-5b7c-8d9e-0f1a2b3c4d5e"
SECTIONS = [
    ("一、全模态突破：中国AI创业公司的差异化路径", "01-全模态突破"),
    ("二、人才与组织：第一性原理", "02-人才与组织"),
    ("三、商业化 & <未来>", "03-商业化"),
]


def tone_pcm(seconds: float, freq: float) -> bytes:
    """A quiet sine tone as s16le mono PCM."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * 6000).astype("<i2").tobytes()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def section_turns(seconds: float, title: str, index: int) -> list[dict[str, Any]]:
    """Heading read by the narrator, a narrator line, then two speakers (times in ms)."""
    total = int(seconds * 1000)
    marks = [0, int(total * 0.2), int(total * 0.4), int(total * 0.7), total]
    texts = [
        (None, title, None),
        (None, f"第{index}部分的开场介绍。", 3),
        ("闫俊杰", f"第{index}段：我们从一开始就明确，真正的通用人工智能必然是融合体。", 5),
        ("罗永浩", f"第{index}段：你觉得核心原因是什么？", 7),
    ]
    return [
        {
            "speaker": speaker,
            "line": line or 1,
            "heading": line is None,
            "start_ms": marks[i],
            "end_ms": marks[i + 1],
            "clip_key": hashlib.sha256(f"{index}-{i}".encode()).hexdigest(),
            "text": text,
        }
        for i, (speaker, text, line) in enumerate(texts)
    ]


def make_interview(
    out_dir: Path,
    *,
    seconds: float = 1.0,
    sections: int = 3,
    whole: bool = True,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Real episode MP3s (+ vtt/srt/chapters files) in ``out_dir`` and their manifest, as
    the render writes it (read it with :func:`typed`)."""
    episodes = out_dir / "episodes"
    episodes.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for i, (title, slug) in enumerate(SECTIONS[:sections], start=1):
        mp3 = episodes / f"{slug}.mp3"
        encode_mp3([tone_pcm(seconds, 220.0 * i)], RATE, mp3)
        turns = section_turns(seconds, title, i)
        (episodes / f"{slug}.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:00.500\n标题\n", encoding="utf-8")
        (episodes / f"{slug}.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\n标题\n", encoding="utf-8")
        chapters = {
            "version": "1.2.0",
            "chapters": [{"startTime": t["start_ms"] / 1000, "title": t["speaker"] or title} for t in turns],
        }
        (episodes / f"{slug}.chapters.json").write_text(json.dumps(chapters, ensure_ascii=False), encoding="utf-8")
        entries.append(
            {
                "id": hashlib.sha256(title.encode()).hexdigest()[:16],
                "pub_order": i,
                "index": i,
                "title": title,
                "audio": f"episodes/{slug}.mp3",
                "vtt": f"episodes/{slug}.vtt",
                "srt": f"episodes/{slug}.srt",
                "chapters": f"episodes/{slug}.chapters.json",
                "duration_ms": int(seconds * 1000),
                "bytes": mp3.stat().st_size,
                "sha256": sha256_of(mp3),
                "build_key": hashlib.sha256(f"build-{i}".encode()).hexdigest(),
                "audio_key": hashlib.sha256(f"audio-{i}".encode()).hexdigest(),
                "aac_frames": 0,
                "speakers": ["闫俊杰", "罗永浩"],
                "turns": turns,
            }
        )
    whole_entry: dict[str, Any] | None = None
    if whole:
        stem = "luo-yonghao-yan-junjie"
        joined = concat_copy([out_dir / e["audio"] for e in entries], out_dir / f"{stem}.mp3")
        starts = [round(s) for s in joined.starts_ms]
        ends = [*starts[1:], round(joined.duration_ms)]
        (out_dir / f"{stem}.vtt").write_text("WEBVTT\n", encoding="utf-8")
        whole_entry = {
            "mp3": f"{stem}.mp3",
            "m4b": f"{stem}.m4b",
            "vtt": f"{stem}.vtt",
            "srt": f"{stem}.srt",
            "duration_ms": round(joined.duration_ms),
            "build_key": hashlib.sha256(b"whole").hexdigest(),
            "chapters": [
                {"index": e["index"], "title": e["title"], "start_ms": s, "end_ms": end}
                for e, s, end in zip(entries, starts, ends, strict=True)
            ],
            "m4b_chapters": [
                {"title": e["title"], "start_ms": s, "end_ms": end}
                for e, s, end in zip(entries, starts, ends, strict=True)
            ],
            "parts": [],
        }
    manifest: dict[str, Any] = {
        "version": 1,
        "title": TITLE,
        "source": "luo-yonghao-yan-junjie.md",
        "meta": meta if meta is not None else {"title": TITLE, "created": "2025-12-28", "tags": ["播客"]},
        "engine": "kokoro",
        "base_url": None,
        "feed_id": FEED_ID,
        "cover": {"image": "cover-00000000.jpg", "key": "0" * 64, "generated": True},  # no such file
        "sections": entries,
        "whole": whole_entry,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


def typed(manifest: dict[str, Any]) -> Manifest:
    return Manifest.from_json(copy.deepcopy(manifest))


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def interview(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "output" / "luo-yonghao-yan-junjie"
    return out, make_interview(out)


def parse(path: Path) -> tuple[Any, etree._Element]:
    data = path.read_bytes()
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    root = etree.fromstring(data)
    return parsed, root


def items(root: etree._Element) -> list[etree._Element]:
    return list(root.iterfind("./channel/item"))


# --------------------------------------------------------------------------- tests


def test_feed_fields_with_base_url(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    path = write_feed(out, typed(manifest), base_url=BASE)
    assert path == out / "feed.xml"
    parsed, root = parse(path)

    # Channel.
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert root.nsmap["podcast"] == PODCAST_NS and root.nsmap["itunes"] == ITUNES_NS
    feed = parsed.feed
    assert feed.title == TITLE
    assert feed.language == "zh-cn"
    assert feed.link == "https://example.org/podcasts/%E7%BD%97%E6%B0%B8%E6%B5%A9/index.html"
    assert feed.author == "闫俊杰、罗永浩"
    assert feed.generator == "audio-pipeline"
    assert feed.itunes_type == "serial"
    assert SECTIONS[0][0] in feed.subtitle
    assert [t.term for t in feed.tags] == ["播客", "Society & Culture"]  # <category>, then itunes:category
    channel = root.find("channel")
    assert channel is not None
    self_link = channel.find("atom:link[@rel='self']", NS)
    assert self_link is not None
    assert self_link.get("href") == "https://example.org/podcasts/%E7%BD%97%E6%B0%B8%E6%B5%A9/feed.xml"
    podcast_guid = channel.findtext("podcast:guid", namespaces=NS)
    assert podcast_guid and len(podcast_guid) == 36

    # Items: one per section, in order.
    assert len(parsed.entries) == len(SECTIONS)
    for i, (entry, item, section) in enumerate(
        zip(parsed.entries, items(root), manifest["sections"], strict=True), start=1
    ):
        mp3 = out / section["audio"]
        assert entry.title == section["title"]
        (enclosure,) = entry.enclosures
        assert int(enclosure.length) == os.path.getsize(mp3)
        assert enclosure.type == "audio/mpeg"
        assert enclosure.href.startswith("https://example.org/podcasts/%E7%BD%97%E6%B0%B8%E6%B5%A9/episodes/")
        # The version query changes with the audio, so caches fetch an edited episode again.
        assert enclosure.href.isascii() and enclosure.href.endswith(f".mp3?v={sha256_of(mp3)[:12]}")
        assert unquote(enclosure.href) == BASE + section["audio"] + f"?v={sha256_of(mp3)[:12]}"
        assert entry.itunes_duration == "0:00:01"
        assert entry.id == str(uuid.uuid5(uuid.UUID(FEED_ID), section["id"]))
        assert entry.guidislink is False
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        assert int(entry.itunes_episode) == i
        assert entry.author == "闫俊杰、罗永浩"
        assert item.findtext("itunes:author", namespaces=NS) == "闫俊杰、罗永浩"
        # Notes: the first turn after the heading read aloud, then the chapters with times.
        lead = f"<p>{section['turns'][1]['text']}</p><p>章节</p><p>00:00 {html.escape(section['title'])}<br"
        assert entry.summary.startswith(lead)
        assert entry.link.endswith(f"/index.html#episode-{i}")

        chapters = item.findall("podcast:chapters", NS)
        assert len(chapters) == 1
        assert chapters[0].get("type") == "application/json+chapters"
        assert unquote(chapters[0].get("url") or "") == BASE + section["chapters"]
        transcripts = {t.get("type"): t for t in item.findall("podcast:transcript", NS)}
        assert set(transcripts) == {"text/vtt", "application/x-subrip"}
        assert unquote(transcripts["text/vtt"].get("url") or "") == BASE + section["vtt"]
        assert unquote(transcripts["application/x-subrip"].get("url") or "") == BASE + section["srt"]
        assert transcripts["text/vtt"].get("language") == "zh-cn"


def test_pub_dates_follow_front_matter_and_keep_order(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    parsed, root = parse(write_feed(out, typed(manifest), base_url=BASE))
    dates = [email.utils.parsedate_to_datetime(item.findtext("pubDate") or "") for item in items(root)]
    start = dt.datetime(2025, 12, 28, tzinfo=dt.UTC)
    assert dates == [start + dt.timedelta(minutes=i) for i in (1, 2, 3)]
    assert [e.published_parsed[:5] for e in parsed.entries] == [(2025, 12, 28, 0, i) for i in (1, 2, 3)]
    channel = root.find("channel")
    assert channel is not None
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate") or "") == dates[-1]


@pytest.mark.parametrize(
    ("meta", "fallback", "expected"),
    [
        ({"date": "2024-03-05"}, None, dt.datetime(2024, 3, 5, tzinfo=dt.UTC)),
        ({"created": "2024-03-05T10:30:00+08:00"}, None, dt.datetime(2024, 3, 5, 2, 30, tzinfo=dt.UTC)),
        ({}, dt.date(2023, 1, 2), dt.datetime(2023, 1, 2, tzinfo=dt.UTC)),
        ({"created": "not a date"}, dt.date(2023, 1, 2), dt.datetime(2023, 1, 2, tzinfo=dt.UTC)),
    ],
)
def test_pub_date_sources(
    tmp_path: Path, meta: dict[str, Any], fallback: dt.date | None, expected: dt.datetime
) -> None:
    manifest = make_interview(tmp_path, sections=2, whole=False, meta=meta)
    _, root = parse(write_feed(tmp_path, typed(manifest), base_url=None, fallback_date=fallback))
    dates = [email.utils.parsedate_to_datetime(item.findtext("pubDate") or "") for item in items(root)]
    assert dates == [expected + dt.timedelta(minutes=1), expected + dt.timedelta(minutes=2)]


def test_no_date_at_all_means_no_dates_and_no_clock(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=2, whole=False, meta={})
    path = write_feed(tmp_path, typed(manifest), base_url=None)
    first = path.read_bytes()
    _, root = parse(path)
    assert root.find("channel/lastBuildDate") is None
    assert root.find("channel/pubDate") is None
    assert all(item.find("pubDate") is None for item in items(root))
    path.unlink()
    assert write_feed(tmp_path, typed(manifest), base_url=None).read_bytes() == first


def test_relative_urls_without_base_url(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    parsed, root = parse(write_feed(out, typed(manifest), base_url=None))
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("link") == "index.html"
    assert channel.find("atom:link[@rel='self']", NS) is None
    assert channel.find("podcast:guid", NS) is None
    item = items(root)[0]
    enclosure = item.find("enclosure")
    assert enclosure is not None
    assert (enclosure.get("url") or "").startswith("episodes/01-%E5%85%A8%E6%A8%A1%E6%80%81%E7%AA%81%E7%A0%B4.mp3?v=")
    for elem in root.iter("enclosure", f"{{{PODCAST_NS}}}chapters", f"{{{PODCAST_NS}}}transcript"):
        url = (elem.get("url") or "").split("?v=")[0]
        assert "://" not in url and not url.startswith("/") and url.isascii()
        # The relative URL resolves to the real file next to feed.xml.
        assert (out / unquote(url)).is_file()
    assert item.findtext("link") == "index.html#episode-1"
    assert ".mp3?v=" in parsed.entries[0].enclosures[0].href


def test_byte_identical_rerun_keeps_mtime(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    path = write_feed(out, typed(manifest), base_url=BASE)
    first = path.read_bytes()
    old = 1_600_000_000
    os.utime(path, (old, old))
    again = write_feed(out, typed(manifest), base_url=BASE)
    assert again.read_bytes() == first
    assert path.stat().st_mtime == old  # not rewritten
    assert not list(out.glob(".*.part"))  # no temporary left behind
    # A different feed (another base URL) is written.
    write_feed(out, typed(manifest), base_url="https://other.example/")
    assert path.read_bytes() != first and path.stat().st_mtime != old


def test_guid_stays_enclosure_changes_with_audio(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    parsed1, _ = parse(write_feed(out, typed(manifest), base_url=BASE))
    # A re-render that gives the same audio: same GUIDs and enclosures even if other fields move.
    manifest2 = copy.deepcopy(manifest)
    manifest2["sections"][0]["build_key"] = "0" * 64
    manifest2["sections"][1]["title"] = "二、人才与组织（修订标题）"
    parsed2, _ = parse(write_feed(out, typed(manifest2), base_url=BASE))
    assert [e.id for e in parsed1.entries] == [e.id for e in parsed2.entries]
    assert [e.enclosures for e in parsed1.entries] == [e.enclosures for e in parsed2.entries]

    # Episode 2's audio changes: the same episode (GUID), a new enclosure (URL and length).
    mp3 = out / manifest["sections"][1]["audio"]
    encode_mp3([tone_pcm(1.5, 987.0)], RATE, mp3)
    manifest2["sections"][1]["sha256"] = sha256_of(mp3)
    manifest2["sections"][1]["duration_ms"] = 1500
    parsed3, _ = parse(write_feed(out, typed(manifest2), base_url=BASE))
    assert [e.id for e in parsed3.entries] == [e.id for e in parsed1.entries]
    urls1 = [e.enclosures[0].href for e in parsed1.entries]
    urls3 = [e.enclosures[0].href for e in parsed3.entries]
    assert urls3[0] == urls1[0] and urls3[2] == urls1[2]
    assert urls3[1] != urls1[1] and urls3[1].endswith(f"?v={sha256_of(mp3)[:12]}")
    assert int(parsed3.entries[1].enclosures[0].length) == os.path.getsize(mp3)
    assert parsed3.entries[1].itunes_duration == "0:00:02"  # 1.5 s rounds to 2


def test_language_and_author_guess(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=1, whole=False, meta={"created": "2025-01-01"})
    manifest["title"] = "An interview"
    manifest["sections"][0]["speakers"] = ["Alice", "Bob"]
    manifest["sections"][0]["turns"] = []
    parsed, _ = parse(write_feed(tmp_path, typed(manifest), base_url=None))
    assert parsed.feed.language == "en"
    assert parsed.entries[0].author == "Alice, Bob"
    assert parsed.entries[0].summary == "<p>Alice, Bob</p>"  # no turns: the speaker list
    manifest["meta"]["language"] = "de-DE"
    manifest["meta"]["author"] = "Redaktion"
    parsed, _ = parse(write_feed(tmp_path, typed(manifest), base_url=None))
    assert parsed.feed.language == "de-de"
    assert parsed.feed.author == "Redaktion"
    assert guess_language(typed({**manifest, "title": "罗永浩", "meta": {}})) == "zh-cn"


def test_description_skips_the_heading_the_renderer_marks(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=2, whole=False)
    first, second = manifest["sections"]
    first["turns"][0].update(text="第一部分", heading=True)  # read differently from the title
    second["turns"][0]["heading"] = False  # the renderer says: not a heading, whatever the text
    parsed, _ = parse(write_feed(tmp_path, typed(manifest), base_url=None))
    assert parsed.entries[0].summary.startswith(f"<p>{first['turns'][1]['text']}</p>")
    assert parsed.entries[1].summary.startswith(f"<p>{second['turns'][0]['text']}</p>")


def test_partial_render_lists_rendered_sections_only(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=3, whole=False)
    del manifest["sections"][1]
    parsed, _ = parse(write_feed(tmp_path, typed(manifest), base_url=None))
    assert [int(e.itunes_episode) for e in parsed.entries] == [1, 3]


def test_missing_links_are_left_out(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    (out / manifest["sections"][0]["srt"]).unlink()
    (out / manifest["sections"][0]["chapters"]).unlink()
    _, root = parse(write_feed(out, typed(manifest), base_url=None))
    first = items(root)[0]
    assert first.find("podcast:chapters", NS) is None
    assert [t.get("type") for t in first.findall("podcast:transcript", NS)] == ["text/vtt"]


def test_errors(interview: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = interview
    with pytest.raises(PublishError, match="http"):
        write_feed(out, typed(manifest), base_url="ftp://example.org/")
    good = typed(manifest)  # (the reader refuses such a path; the feed checks on its own)
    bad = replace(good, sections=(replace(good.sections[0], audio="../outside.mp3"), *good.sections[1:]))
    with pytest.raises(PublishError, match="not inside"):
        write_feed(out, bad, base_url=None)
    gone = copy.deepcopy(manifest)
    (out / gone["sections"][2]["audio"]).unlink()
    with pytest.raises(PublishError, match="missing"):
        write_feed(out, typed(gone), base_url=None)
    assert not (out / "feed.xml").exists()


def test_format_duration() -> None:
    assert format_duration(0) == "0:00:00"
    assert format_duration(59_499) == "0:00:59"
    assert format_duration(3_723_600) == "1:02:04"


PODCAST_META = {
    "title": TITLE,
    "created": "2025-12-28",
    "author": "十字路口",
    "owner": {"name": "十字路口", "email": "hi@example.org"},
    "category": ["Technology", "Business > Entrepreneurship"],
    "explicit": False,
    "hosts": ["罗永浩"],
    "guests": ["闫俊杰"],
    "locked": True,
}


def test_podcast_metadata_cover_and_people(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, meta=dict(PODCAST_META))
    from PIL import Image

    Image.new("RGB", (3000, 3000), (1, 2, 3)).save(tmp_path / "cover-abcdef12.jpg")
    manifest["cover"] = {"image": "cover-abcdef12.jpg", "key": "abcdef1234567890", "generated": False}
    parsed, root = parse(write_feed(tmp_path, typed(manifest), base_url=BASE))
    channel = root.find("channel")
    assert channel is not None
    # Artwork: itunes:image and <image>, the same absolute URL.
    cover_url = "https://example.org/podcasts/%E7%BD%97%E6%B0%B8%E6%B5%A9/cover-abcdef12.jpg"
    assert parsed.feed.image.href == cover_url
    itunes_image = channel.find("itunes:image", NS)
    assert itunes_image is not None and itunes_image.get("href") == cover_url
    assert channel.findtext("image/url") == cover_url and channel.findtext("image/title") == TITLE
    # Owner, author, categories, language, explicit.
    assert channel.findtext("itunes:owner/itunes:name", namespaces=NS) == "十字路口"
    assert channel.findtext("itunes:owner/itunes:email", namespaces=NS) == "hi@example.org"
    assert parsed.feed.author == "十字路口"
    tops = channel.findall("itunes:category", NS)
    assert [c.get("text") for c in tops] == ["Technology", "Business"]
    assert [c.get("text") for c in tops[1].findall("itunes:category", NS)] == ["Entrepreneurship"]
    assert channel.findtext("language") == "zh-cn"
    assert channel.findtext("itunes:explicit", namespaces=NS) == "false"
    # Podcasting 2.0: people with their roles, locked with its owner.
    persons = [(p.text, p.get("role"), p.get("group")) for p in channel.findall("podcast:person", NS)]
    assert persons == [("闫俊杰", "guest", "cast"), ("罗永浩", "host", "cast")]
    locked = channel.find("podcast:locked", NS)
    assert locked is not None and locked.text == "yes" and locked.get("owner") == "hi@example.org"
    item_persons = [(p.text, p.get("role")) for p in items(root)[0].findall("podcast:person", NS)]
    assert item_persons == [("闫俊杰", "guest"), ("罗永浩", "host")]
    # Every podcast:* element is one the namespace defines, in the namespace.
    known = {"guid", "locked", "person", "chapters", "transcript"}
    assert {etree.QName(e).localname for e in root.iter(f"{{{PODCAST_NS}}}*")} <= known


def test_episode_notes_list_chapters_with_times(tmp_path: Path) -> None:
    manifest = make_interview(tmp_path, sections=1, whole=False)
    turns = manifest["sections"][0]["turns"]
    for turn, start in zip(turns, [0, 4_000, 65_000, 3_725_000], strict=True):
        turn["start_ms"] = start
    turns[2]["text"] = "第一句话很短。第二句也不长！第三句就不该出现在开头了，因为前两句已经够了。" * 3
    turns[1]["text"] = "开场白的第一句。开场白的第二句。" + "后面还有很多很多的话" * 30
    parsed, _ = parse(write_feed(tmp_path, typed(manifest), base_url=None))
    notes = parsed.entries[0].summary
    first, heading, chapters = notes.split("</p><p>")
    assert first == "<p>开场白的第一句。开场白的第二句。"  # whole sentences, not the whole turn
    assert heading == "章节"
    lines = chapters.removesuffix("</p>").split("<br />")
    assert [line.split(" ", 1)[0] for line in lines] == ["00:00", "00:04", "01:05", "1:02:05"]
    assert lines[2].startswith("01:05 闫俊杰：第一句话很短。") and lines[2].endswith("…")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"category": "Tech"}, "'Tech' is not an Apple Podcasts category"),
        ({"category": "Technology > Gadgets"}, "not a subcategory of 'Technology'"),
        ({"explicit": "maybe"}, "explicit: expected true or false"),
        ({"owner": {"name": "x", "email": "not-an-email"}}, "is not an email address"),
        ({"locked": True}, "podcast:locked needs the owner's email"),
        ({"hosts": ["甲"], "guests": ["甲"]}, "both host and guest"),
        ({"podcast_guid": "nope"}, "is not a UUID"),
    ],
)
def test_bad_podcast_metadata_is_refused(meta: dict[str, Any], message: str) -> None:
    from audio_pipeline.errors import PipelineError
    from audio_pipeline.export import podcast_meta

    with pytest.raises(PipelineError, match=message) as info:
        podcast_meta.read(meta, source="talk.md")
    assert info.value.exit_code == 2
    assert podcast_meta.read({}).categories == (podcast_meta.DEFAULT_CATEGORY,)
