"""The SQLite library: schema, hash-only reopen, corrupt files, retrieval by facts."""

from __future__ import annotations

import json
import sqlite3
import zlib

import numpy as np
import pytest

from tests.library.conftest import FakeText
from videothought.library import (
    SCHEMA_VERSION,
    CorruptLibraryError,
    IndexSettings,
    Library,
    LibraryError,
    merge_documents,
    stem,
    terms,
)

SETTINGS = IndexSettings(segment_seconds=2.0, index_fps=5.0)


@pytest.fixture(scope="module")
def built(parts_video, tmp_path_factory):
    path = tmp_path_factory.mktemp("lib") / "videos.sqlite"
    library = Library(path, text_model=FakeText())
    record = library.add(parts_video, settings=SETTINGS)
    return library, record


def test_schema_and_rows(built):
    library, record = built
    assert record.status == "complete" and record.num_segments == 4 and record.segments_done == 4
    assert record.build_seconds > 0 and record.fps == 10.0 and record.num_frames == 80
    db = library.connection
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "videos", "segments", "tracks", "events"} <= tables
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    rows = db.execute("SELECT segment, start_frame, end_frame, summary, text_embedding, clip_embedding, stsg "
                      "FROM segments ORDER BY segment").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(0, 0), (1, 20), (2, 40), (3, 60)]
    doc = json.loads(zlib.decompress(rows[2][6]))
    frames = {n["frame_index"] for n in doc["graph"]["nodes"]}
    assert frames and min(frames) >= 40 and max(frames) <= 59  # the whole video's frame numbers
    assert np.frombuffer(rows[0][4], dtype=np.float32).shape == (64,) and rows[0][5] is None  # no encoder
    labels = [r[0] for r in db.execute("SELECT label FROM tracks WHERE segment=1")]
    assert any("blue" in label for label in labels), labels
    assert "blue" in rows[1][3] and "red" not in rows[1][3]  # the summary names what is seen
    columns = [r[1] for r in db.execute("PRAGMA table_info(events)")]
    assert columns == ["video_id", "segment", "position", "type", "track_ids", "labels", "attributes", "terms",
                       "start_frame", "end_frame"]  # rows themselves: see the world retrieval test


def test_retrieve_by_facts_returns_merged_document(built):
    library, record = built
    doc, segments = library.retrieve("What does the blue circle do?", ["blue circle"], k=1)
    assert segments == [1]
    assert doc["video"]["fps"] == 10.0 and doc["video"]["segments"] == [1]
    assert all(int(t) // 100_000 == 1 for t in doc["tracks"])
    doc, segments = library.retrieve("Where does the yellow circle go?", ["yellow circle"], k=2, video=record.name)
    assert 3 in segments and segments == sorted(segments)
    bound = library.bind(record.video_id)
    assert bound.retrieve("the green square", ["green square"], k=1)[1] == [2]
    hit = bound.search("the red square", ["red square"], k=1)[0]
    assert hit.segment == 0 and hit.parts["facts"] > 0 and "text" in hit.parts


def test_second_add_only_checks_the_hash(built, parts_video):
    library, record = built

    class Refuses:
        def propose(self, frames):
            raise AssertionError("a complete video must not be tracked again")

    again = Library(library.path, text_model=FakeText())
    assert again.add(parts_video, settings=SETTINGS, proposer=Refuses()) == record
    other = again.connection.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
    assert other == 1
    again.close()


def test_several_videos_and_search_across_the_library(tmp_path, parts_video):
    from tests.library.conftest import parts_frames
    from videothought.perception.video import write_video

    flipped = write_video(tmp_path / "flipped.mp4", parts_frames()[::-1].copy(), fps=10.0)
    library = Library(tmp_path / "two.sqlite", text_model=FakeText())
    first = library.add(parts_video, settings=SETTINGS)
    second = library.add(flipped, settings=SETTINGS)
    assert [v.name for v in library.videos()] == ["parts", "flipped"]
    hits = library.search("the yellow circle", ["yellow circle"], k=2)
    assert {(h.video_id, h.segment) for h in hits} == {(first.video_id, 3), (second.video_id, 0)}
    with pytest.raises(LibraryError, match="no video 'nope'"):
        library.video("nope")


def test_corrupt_file_gives_a_clear_error_and_a_rebuild(tmp_path, parts_video):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CorruptLibraryError, match="broken.sqlite: not a readable video library"):
        Library(path)
    library = Library(path, rebuild=True, text_model=FakeText())
    assert library.videos() == []
    assert list(tmp_path.glob("broken.sqlite.corrupt-*")), "the unreadable file is kept aside"
    assert library.add(parts_video, settings=SETTINGS).status == "complete"

    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(CorruptLibraryError, match="not a video library"):
        Library(foreign)


def test_an_unfinished_index_is_not_searched(tmp_path, parts_video):
    library = Library(tmp_path / "lib.sqlite", text_model=FakeText())
    record = library.add(parts_video, settings=SETTINGS)
    with library.connection:
        library.connection.execute("UPDATE videos SET status='indexing'")
    library._cache.clear()
    with pytest.raises(LibraryError, match="unfinished"):
        library.retrieve("the red square", ["red square"], k=1, video=record.video_id)


def test_words_and_settings():
    assert stem("collides") == stem("collide") == stem("colliding") == stem("collided")
    assert terms("What does the pink star do right after it enters?") == ["pink", "star", "enter"]
    with pytest.raises(ValueError, match="segment_seconds must be positive"):
        IndexSettings(segment_seconds=0)
    merged = merge_documents([{"graph": {"nodes": [], "links": []}, "tracks": {"2": {"label": "x"}}, "events": []}],
                             [5], fps=12.0)
    assert list(merged["tracks"]) == ["500002"] and merged["video"]["fps"] == 12.0


def test_a_follow_up_retrieves_around_the_previous_answer_and_keeps_the_vocabulary(built):
    library, record = built
    # frame 45 lies in segment 2 (frames 40-59), in its first half: its earlier neighbour comes too
    assert library.segments_around(record.video_id, 45) == [2, 1]
    assert library.segments_around(record.video_id, 55) == [2, 3]
    assert library.segments_around(record.video_id, 10_000) == []
    doc, segments = library.retrieve("What does it do next?", ["red square"], k=3, video=record.video_id,
                                     around_frame=45)
    assert {1, 2} <= set(segments) and len(segments) == 3  # the red square's best segment fills the third
    without, _ = library.retrieve("What does it do next?", ["red square"], k=1, video=record.video_id)
    assert segments != [0] and without["video"]["segments"] == [0]
    # a merged document keeps what the perception stack can name, so an absent colour reads as one
    parts = [{"graph": {"nodes": [], "links": []}, "tracks": {}, "events": [], "vocabulary": {"colour": ["red"]}}]
    assert merge_documents(parts, [4], 10.0)["vocabulary"] == {"colour": ["red"]}
