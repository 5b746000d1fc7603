"""The video library: indexed videos in one SQLite file, written by one process and searched by questions.

    store.py        schema, opening, the one writer (begin_video, commit_segment, finish_video), add()
    retrieval.py    scoring segments by facts, text and clip similarity; BoundIndex for the track node
    distributed.py  the same build on a Ray cluster: workers make SegmentRecords, this process commits
    cluster.py      starting or joining Ray, and the worker thread policy (shared with evals, training)
    cli.py          `vot index`

Building a segment's record (decode, track, embed) is perception's job (perception/indexing.py);
the STSG segment rows and words are graph's (graph/segments.py, graph/words.py). The library
sits above both and below the agent, which only reads it (agent/session.py, the track node).

    from videothought.library import Library
    library = Library("videos.sqlite", encoder=load_default_encoder())
    video = library.add("hour.mp4", progress=True)     # indexes once; a rerun continues a killed build
    doc, segment_ids = library.retrieve("What colour is the star that hits the pink hexagon?",
                                        ["star", "pink hexagon"], k=3, video=video.video_id)
"""

from videothought.graph.segments import TRACK_ID_STRIDE, merge_documents, segment_facts
from videothought.graph.verbalize import segment_summary
from videothought.graph.words import stem, terms
from videothought.library.retrieval import BoundIndex, RetrievalWeights, SegmentHit
from videothought.library.store import (
    SCHEMA_VERSION,
    CorruptLibraryError,
    Library,
    LibraryError,
    VideoRecord,
    file_sha256,
)
from videothought.perception.indexing import IndexSettings, MiniLMText, SegmentRecord

__all__ = [
    "SCHEMA_VERSION", "TRACK_ID_STRIDE", "BoundIndex", "CorruptLibraryError", "IndexSettings", "Library",
    "LibraryError", "MiniLMText", "RetrievalWeights", "SegmentHit", "SegmentRecord", "VideoRecord", "file_sha256",
    "merge_documents", "segment_facts", "segment_summary", "stem", "terms",
]
