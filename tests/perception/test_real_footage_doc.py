"""docs/real-footage.md: its snippets run as written (the real clip where it is on this machine,
a tiny random OWLv2 saved to disk, a tiny random Qwen2-VL behind our OpenAI-compatible server
on loopback), and the names and numbers it gives exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import shared_clip
from tests.graph.scenes import Mover, render
from videothought.perception.people import BASIC_COLOURS
from videothought.perception.video import write_video

DOC = Path(__file__).resolve().parents[2] / "docs" / "real-footage.md"


def snippet(name: str) -> str:
    block = re.search(rf"<!-- snippet:{name} -->\s*```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block, f"docs/real-footage.md lost its {name} snippet"
    return block.group(1)


def run(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_the_page_names_real_attributes_and_has_its_numbers():
    from videothought.perception.people import description_vocabulary

    text = DOC.read_text(encoding="utf-8")
    for key in ("upper_colour", "lower_colour", "walking_direction", "crossed", "relative_size", "identity"):
        assert f"`{key}" in text, key
    assert set(description_vocabulary()) >= {"upper_colour", "walking_direction", "crossed"}
    assert "EVENTS_AFTER" not in text and "WORLD_AFTER" not in text  # measured numbers filled in
    assert "vot bench events" in text and "vot eval --task real" in text


@pytest.mark.slow
def test_the_default_snippet_finds_the_woman_in_red():
    code = snippet("default")
    assert '"vtest.avi"' in code
    namespace = run(code.replace('"vtest.avi"', repr(str(shared_clip("vtest.avi")))))
    assert namespace["in_red"] and set(namespace["in_red"]) & set(namespace["walking_left"])
    assert namespace["people"] >= 1 and isinstance(namespace["right_to_left"], list)


@pytest.mark.slow
def test_the_open_vocabulary_snippet_feeds_the_same_attributes(tmp_path):
    pytest.importorskip("transformers")
    from tests.perception.test_detectors import tiny_owlv2

    model, tokenizer = tiny_owlv2()
    model.save_pretrained(tmp_path / "owlv2")
    tokenizer.save_pretrained(tmp_path / "owlv2")
    frames, _ = render([Mover("red", "circle", (20, 40), (4, 0))], 10)
    video = write_video(tmp_path / "clip.mp4", frames, fps=10.0)
    code = snippet("open-vocabulary")
    code = code.replace('"/models/owlv2-base-patch16-ensemble"', repr(str(tmp_path / "owlv2")))
    namespace = run(code.replace('"clip.mp4"', repr(str(video))))
    assert namespace["names"] == list(BASIC_COLOURS)
    assert namespace["stsg"].vocabulary["label"] == ["a person", "a bicycle", "a backpack"]


@pytest.mark.slow
def test_the_video_llm_snippet_sends_frames_to_a_real_server(tmp_path):
    pytest.importorskip("transformers")
    from videothought.agent.llm.server import LLMServer
    from videothought.agent.llm.video import tiny_random_video_lm

    frames, _ = render([Mover("red", "circle", (20, 40), (4, 0))], 12)
    video = write_video(tmp_path / "clip.mp4", frames, fps=10.0)
    lm = tiny_random_video_lm(seed=0, model_type="qwen2_vl")
    with LLMServer(lm) as served:
        code = snippet("video-llm").replace('"http://127.0.0.1:8000/v1?images=1"', repr(served.url + "?images=1"))
        namespace = run(code.replace('"clip.mp4"', repr(str(video))).replace("print(reply.text)", ""))
    reply = namespace["reply"]
    question = [{"role": "user", "content": "Which way does the woman in red walk?"}]
    # The server saw the frames: the prompt counted the video's tokens.
    assert reply.prompt_tokens > lm.generate(question, max_new_tokens=1).prompt_tokens
    assert isinstance(reply.text, str)
