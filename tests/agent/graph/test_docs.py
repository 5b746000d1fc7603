"""The snippet of docs/agent.md (replace a node, add one) runs as written, with a fake LM and a hand-written STSG."""

from __future__ import annotations


from tests.agent.graph.helpers import DocumentBuilder
from tests.conftest import moving_square_frames
from videothought.agent.context import VoTContext
from videothought.agent.llm import FakeLanguageModel
from tests.readme import snippet_file
from tests.readme import snippet as readme_snippet
from videothought.perception.video import write_video

def snippet() -> str:
    return readme_snippet("custom-graph")


def test_snippet_is_about_fifteen_lines():
    code = [line for line in snippet().splitlines() if line.strip() and not line.startswith(("import", "from"))]
    assert len(code) <= 16


def test_snippet_replaces_a_node_and_adds_an_ocr_node(tmp_path, monkeypatch):
    video = write_video(tmp_path / "clip.mp4", moving_square_frames(20), fps=10.0)
    lm = FakeLanguageModel(replies=["red circle", "The red circle hits the blue square.", "8", "yes"])
    context = VoTContext(lm=lm, stsg_builder=DocumentBuilder())
    code = snippet().replace('"clip.mp4"', repr(str(video))).replace("context=default_context()", "context=TEST_CONTEXT")
    monkeypatch.chdir(tmp_path)  # runs.sqlite lands here
    namespace = {"TEST_CONTEXT": context}
    exec(compile(code, str(snippet_file('custom-graph')), "exec"), namespace)
    result = namespace["result"]
    nodes = [record["node"] for record in result["trace"]]
    assert nodes == ["identify_targets", "track", "ocr", "analyze_actions", "rank_answers", "verify"]
    assert result["frame_text"] == ["EXIT"]
    assert all(target["track_ids"] for target in result["targets"])
    assert "Text seen in the video: EXIT" in lm.calls[1]["messages"][-1]["content"]
    assert result["answer"] == "it collides with the blue square" and (tmp_path / "runs.sqlite").is_file()
