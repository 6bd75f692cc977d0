"""Episode identity: a section keeps its identity (and its feed GUID and pubDate) across
edits, renumbered headings, insertions, removals and reordering; only sections whose
audio changed are encoded again, the others are renamed and re-tagged."""

from __future__ import annotations

import email.utils
from pathlib import Path
from typing import Any

import feedparser
import pytest

from audio_pipeline import identity, render, transcript, voices
from audio_pipeline.media import mp3

from .conftest import VOICES
from .fakes import ToneEngine

HEAD = "---\ntitle: 测试访谈\ncreated: 2025-12-28\n---\n"
SECTIONS = {
    "a": "## 一、开场\n\n**罗永浩**：你好，欢迎来到节目。今天我们聊聊AI。\n\n**闫俊杰**：谢谢邀请。\n\n",
    "b": "## 二、正题\n\n**罗永浩**：MiniMax是怎么开始的？\n\n**闫俊杰**：从一个想法开始，后来慢慢长大。\n\n",
    "c": "## 三、结尾\n\n**罗永浩**：谢谢你，今天聊得很愉快。\n\n",
}


def text_of(*parts: str) -> str:
    return HEAD + "".join(SECTIONS.get(p, p) for p in parts)


def render_text(tmp_path: Path, text: str, engine: ToneEngine | None = None) -> render.Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "talk.md"
    src.write_text(text, "utf-8")
    vmap = voices.load(VOICES)
    settings = render.Settings(out_root=tmp_path / "out", engine="espeak", base_url="https://example.org/talk/")
    return render.render(transcript.read(src, vmap.speakers), vmap, engine or ToneEngine(), settings)


def feed_items(result: render.Result) -> dict[str, dict[str, Any]]:
    """Per episode title (numbering dropped): GUID, enclosure URL and length, pubDate."""
    parsed = feedparser.parse((result.out_dir / "feed.xml").read_bytes())
    assert not parsed.bozo
    out = {}
    for entry in parsed.entries:
        (enclosure,) = entry.enclosures
        out[identity.bare_title(entry.title)] = {
            "guid": entry.id,
            "url": enclosure.href,
            "length": int(enclosure.length),
            "date": email.utils.parsedate_to_datetime(entry.published),
        }
    return out


def audio_bytes(result: render.Result) -> dict[str, bytes]:
    """Per episode title (numbering dropped): the MP3's audio, behind its tag."""
    out = {}
    for entry in result.manifest.sections:
        path = result.out_dir / entry.audio
        out[identity.bare_title(entry.title)] = path.read_bytes()[mp3.audio_offset(path) :]
    return out


def test_bare_title_drops_numbering_only() -> None:
    assert identity.bare_title("五、AI 与创业") == identity.bare_title("六、AI与创业") == "ai与创业"
    assert identity.bare_title("第3章 开始") == identity.bare_title("3. 开始") == "开始"
    assert identity.bare_title("Part 2: Intro") == "intro"
    assert identity.bare_title("2025年的计划") == "2025年的计划"  # a number that is the title's own
    assert identity.bare_title("十七、想象力") == "想象力"


def test_match_by_title_then_by_text() -> None:
    old = [
        identity.Known("A", "一、开场", "你好欢迎来到节目今天我们聊聊人工智能"),
        identity.Known("B", "二、正题", "MiniMax是怎么开始的从一个想法开始"),
        identity.Known("C", "三、结尾", "谢谢你今天聊得很愉快"),
    ]
    new = [
        identity.Current("一、序", "你好欢迎来到节目今天我们聊聊人工智能吧"),  # retitled, same text
        identity.Current("二、插曲", "完全不同的新内容在这里"),  # new
        identity.Current("四、结尾", "谢谢你"),  # renumbered, text cut short
        identity.Current("三、正题", "MiniMax是怎么开始的从一个想法开始"),  # moved
    ]
    assert identity.match(old, new) == [0, None, 2, 1]
    ids = identity.assign(old, new)
    assert [i for i, _ in ids][0::2] == ["A", "C"] and ids[3][0] == "B"
    assert ids[1][0] not in {"A", "B", "C"} and ids[1][1] is None


def test_edit_keeps_guid_changes_enclosure_keeps_date(tmp_path: Path) -> None:
    first = render_text(tmp_path, text_of("a", "b", "c"))
    before, audio_before = feed_items(first), audio_bytes(first)
    assert len({v["guid"] for v in before.values()}) == 3
    edited = render_text(tmp_path, text_of("a", "b", "c").replace("慢慢长大", "慢慢长大成了公司"))
    after = feed_items(edited)
    assert edited.encoded == (2,) and edited.built == (2,)
    assert {k: v["guid"] for k, v in after.items()} == {k: v["guid"] for k, v in before.items()}
    assert {k: v["date"] for k, v in after.items()} == {k: v["date"] for k, v in before.items()}
    assert after["正题"]["url"] != before["正题"]["url"] and after["正题"]["length"] != before["正题"]["length"]
    assert after["开场"] == before["开场"] and after["结尾"] == before["结尾"]
    assert audio_bytes(edited)["开场"] == audio_before["开场"]


def test_renumbered_heading_keeps_guid(tmp_path: Path) -> None:
    first = render_text(tmp_path, text_of("a", "b", "c"))
    before = feed_items(first)
    renumbered = render_text(tmp_path, text_of("a", "b", "c").replace("三、结尾", "五、结尾"))
    after = feed_items(renumbered)
    assert {k: v["guid"] for k, v in after.items()} == {k: v["guid"] for k, v in before.items()}
    assert after["结尾"]["date"] == before["结尾"]["date"]
    # The heading is read aloud, so its audio changed: that section alone is encoded.
    assert renumbered.encoded == (3,)
    assert [Path(s.audio).name for s in renumbered.manifest.sections][2] == "03-五-结尾.mp3"


def test_insert_encodes_only_the_new_section(tmp_path: Path) -> None:
    first = render_text(tmp_path, text_of("a", "b", "c"))
    before, audio_before = feed_items(first), audio_bytes(first)
    new = "## 插曲\n\n**闫俊杰**：这是后来插进来的一段，讲一个小故事。\n\n"
    inserted = render_text(tmp_path, text_of("a", new, "b", "c"))
    after = feed_items(inserted)
    assert inserted.encoded == (2,)  # the new section; the others were renamed and re-tagged
    assert inserted.built == (1, 2, 3, 4)  # track n/4 in every tag
    for name in ("开场", "正题", "结尾"):
        assert after[name]["guid"] == before[name]["guid"]
        assert after[name]["date"] == before[name]["date"]
        assert audio_bytes(inserted)[name] == audio_before[name]
    assert after["插曲"]["guid"] not in {v["guid"] for v in before.values()}
    assert after["插曲"]["date"] > max(v["date"] for v in before.values())
    names = [Path(s.audio).name for s in inserted.manifest.sections]
    assert names == ["01-一-开场.mp3", "02-插曲.mp3", "03-二-正题.mp3", "04-三-结尾.mp3"]
    assert sorted(p.name for p in (inserted.out_dir / "episodes").glob("*.mp3")) == names
    assert not list((inserted.out_dir / ".parts").glob(".reuse-*"))
    # Tags follow the new positions.
    from mutagen.id3 import ID3

    assert str(ID3(inserted.out_dir / "episodes" / "04-三-结尾.mp3")["TRCK"]) == "4/4"
    # The whole interview holds all four, in order.
    assert [c.title for c in inserted.manifest.whole.chapters] == ["一、开场", "插曲", "二、正题", "三、结尾"]


def test_remove_and_reorder_keep_guids_without_encoding(tmp_path: Path) -> None:
    first = render_text(tmp_path, text_of("a", "b", "c"))
    before = feed_items(first)
    removed = render_text(tmp_path, text_of("a", "c"))
    after = feed_items(removed)
    assert removed.encoded == ()
    assert set(after) == {"开场", "结尾"}
    assert all(after[k]["guid"] == before[k]["guid"] and after[k]["date"] == before[k]["date"] for k in after)
    assert sorted(p.name for p in (removed.out_dir / "episodes").glob("*.mp3")) == ["01-一-开场.mp3", "02-三-结尾.mp3"]

    reordered = render_text(tmp_path, text_of("c", "a"))
    again = feed_items(reordered)
    assert reordered.encoded == ()
    assert {k: v["guid"] for k, v in again.items()} == {k: v["guid"] for k, v in after.items()}
    assert [s.title for s in reordered.manifest.sections] == ["三、结尾", "一、开场"]


def test_identities_recorded_and_deterministic(tmp_path: Path) -> None:
    a = render_text(tmp_path / "a", text_of("a", "b", "c"))
    b = render_text(tmp_path / "b", text_of("a", "b", "c"))
    assert [s.id for s in a.manifest.sections] == [s.id for s in b.manifest.sections]
    assert len({s.id for s in a.manifest.sections}) == 3
    assert [s.pub_order for s in a.manifest.sections] == [1, 2, 3]
    assert a.manifest.feed_id == b.manifest.feed_id
    assert (a.out_dir / "feed.xml").read_bytes() == (b.out_dir / "feed.xml").read_bytes()


@pytest.mark.parametrize("guid", ["6d3f0c0e-8a55-4b8f-9a0e-1f2f3a4b5c6d"])
def test_front_matter_podcast_guid_is_the_feed_identity(tmp_path: Path, guid: str) -> None:
    text = text_of("a").replace("created: 2025-12-28\n", f"created: 2025-12-28\npodcast_guid: {guid}\n")
    result = render_text(tmp_path, text)
    assert result.manifest.feed_id == guid


def test_manifest_from_before_identities_is_rebuilt_alike(tmp_path: Path) -> None:
    """A manifest without identities is not one this version writes: read as none,
    everything is built afresh, and afresh gives the same identities and feed."""
    import json

    first = render_text(tmp_path, text_of("a", "b", "c"))
    path = first.out_dir / "manifest.json"
    old = json.loads(path.read_text("utf-8"))
    for key in ("feed_id", "cover"):
        old.pop(key)
    for entry in old["sections"]:
        for key in ("id", "pub_order", "audio_key"):
            entry.pop(key)
    path.write_text(json.dumps(old, ensure_ascii=False), "utf-8")
    again = render_text(tmp_path, text_of("a", "b", "c"))
    assert again.encoded == (1, 2, 3)
    assert [s.id for s in again.manifest.sections] == [s.id for s in first.manifest.sections]
    assert [s.pub_order for s in again.manifest.sections] == [1, 2, 3]
    assert again.manifest.feed_id == first.manifest.feed_id
    assert feed_items(again) == feed_items(first)
