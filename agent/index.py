"""The long-video library, as the agent imports it (a re-export; the code moved).

The library's store and retrieval live in videothought.library (library/), the build of a
segment (decode, track, embed) in videothought.perception.indexing, the segment rows and words
in videothought.graph.segments / graph.words. New code imports those; this module keeps
`from videothought.agent.index import Library` working for the agent's own modules and for
code written before the move. `python -m videothought.agent.index` runs `vot index`.
"""

from videothought.graph.segments import TRACK_ID_STRIDE, merge_documents, segment_facts, segment_summary
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
from videothought.perception.indexing import IndexSettings, MiniLMText

__all__ = [
    "SCHEMA_VERSION", "TRACK_ID_STRIDE", "BoundIndex", "CorruptLibraryError", "IndexSettings", "Library",
    "LibraryError", "MiniLMText", "RetrievalWeights", "SegmentHit", "VideoRecord", "file_sha256",
    "merge_documents", "segment_facts", "segment_summary", "stem", "terms",
]

if __name__ == "__main__":
    from videothought.library.cli import main

    raise SystemExit(main())
