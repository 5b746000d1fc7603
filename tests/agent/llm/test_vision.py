"""Vision-language backends see the video: frames reach the vision tower of the tiny random
Qwen2-VL / Qwen2.5-VL through the `video:` backend, through HTTP image parts and our server, and
in every generating or scoring node of the VoT graph."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from tests.agent.graph.helpers import DocumentBuilder
from tests.conftest import moving_square_frames
from videothought.agent import steps
from videothought.agent.llm import FakeLanguageModel, ScoringNotSupportedError, load_language_model
from videothought.agent.llm.http import HTTPLanguageModel, frames_to_image_parts
from videothought.agent.llm.server import LLMServer, image_parts_to_frames
from videothought.agent.llm.video import tiny_random_video_lm
from videothought.agent.state import TraceRecord
from videothought.perception.video import write_video

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where does the red square move?"}]
CANDIDATES = [" right", " left", " nowhere"]


class TowerCounter:
    """Counts forward calls of a model's vision tower and keeps the pixel rows it was given."""

    def __init__(self, lm):
        self.calls: list[tuple[int, ...]] = []
        self.handle = lm.model.model.visual.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        pixels = args[0] if args else kwargs["hidden_states"]
        self.calls.append(tuple(pixels.shape))

    def close(self):
        self.handle.remove()


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def video_lm(request):
    return tiny_random_video_lm(seed=0, model_type=request.param)


@pytest.fixture
def tower(video_lm):
    counter = TowerCounter(video_lm)
    yield counter
    counter.close()


@pytest.fixture(scope="module")
def frames():
    return moving_square_frames(4)  # (4, 48, 64, 3) uint8


def test_the_video_backend_feeds_frames_to_the_vision_tower(video_lm, tower, frames):
    assert video_lm.accepts_frames is True
    pixel_rows = video_lm.encode_frames(frames)[0].shape  # (N, C * tp * p * p)
    video_lm.generate(CHAT, frames=frames, max_new_tokens=3)
    assert tower.calls == [tuple(pixel_rows)]
    video_lm.score(CHAT, CANDIDATES, frames=frames)  # K candidates, ONE vision pass
    assert tower.calls == [tuple(pixel_rows)] * 2
    video_lm.generate(CHAT, max_new_tokens=3)
    video_lm.score(CHAT, CANDIDATES)
    assert len(tower.calls) == 2  # text-only calls never run the tower


def test_image_parts_round_trip_to_frames(frames):
    parts = frames_to_image_parts(frames)
    assert [p["type"] for p in parts] == ["image_url"] * 4
    assert parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    decoded = image_parts_to_frames([p["image_url"]["url"] for p in parts])
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 4  # JPEG at quality 85


def test_frames_travel_as_image_parts_through_our_server_to_the_tower(video_lm, tower, frames):
    """HTTP backend (send_images) -> our server -> the video LM: the same pixels reach the tower,
    and scores over HTTP equal in-process scores on the JPEG-decoded frames."""
    sent = image_parts_to_frames([p["image_url"]["url"] for p in frames_to_image_parts(frames)])
    with LLMServer(video_lm) as server:
        client = load_language_model(server.url + "?images=1", max_retries=0)
        assert isinstance(client, HTTPLanguageModel) and client.accepts_frames is True
        remote = client.generate(CHAT, frames=frames, max_new_tokens=4)
        local = video_lm.generate(CHAT, frames=sent, max_new_tokens=4)
        assert (remote.text, remote.prompt_tokens) == (local.text, local.prompt_tokens)
        pixel_rows = tuple(video_lm.encode_frames(sent)[0].shape)
        assert tower.calls == [pixel_rows, pixel_rows]
        remote_scores = client.score(CHAT, CANDIDATES, frames=frames)
        assert len(tower.calls) == 2 + len(CANDIDATES)  # one chat scoring request per candidate
        assert remote_scores == pytest.approx(video_lm.score(CHAT, CANDIDATES, frames=sent), abs=1e-4)
        assert remote_scores != pytest.approx(video_lm.score(CHAT, CANDIDATES), abs=1e-4)  # the images mattered
        calls = len(tower.calls)
        client.generate(CHAT, max_new_tokens=2)  # no frames: no images sent, the tower stays idle
        assert len(tower.calls) == calls + 0 + 1 - 1
    plain = HTTPLanguageModel("http://127.0.0.1:9/v1", model="m")
    assert plain.accepts_frames is False
    with pytest.raises(Exception, match="send_images is off"):
        plain.generate(CHAT, frames=frames)


def test_image_scoring_against_a_server_without_the_extension_is_a_clear_error(frames):
    fake = FakeLanguageModel(accepts_frames=True)  # generates with frames, but has no continuation_logprobs
    with LLMServer(fake) as server:
        client = HTTPLanguageModel(server.url, send_images=True, max_retries=0)
        assert client.generate(CHAT, frames=frames).text == "OK"
        assert fake.calls[-1]["frames"] == frames.shape  # the images arrived as frames
        with pytest.raises(ScoringNotSupportedError, match="cannot score candidates with images.*send_images=False"):
            client.score(CHAT, CANDIDATES, frames=frames)


# ----------------------------------------------------------------------------- steps: watch_frames and the helpers


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(write_video(tmp_path_factory.mktemp("vision") / "square.mp4", moving_square_frames(20), fps=10.0))


def test_watch_frames_decodes_only_for_a_backend_that_takes_frames(clip):
    settings = SimpleNamespace(vision_frames=3, max_side=32)
    text_only = SimpleNamespace(lm=FakeLanguageModel(), settings=settings)
    # nothing is decoded for a text-only backend, not even a missing file
    assert steps.watch_frames({"video_path": "/no/such/video.mp4", "frame_indices": [0, 1]}, text_only) is None
    context = SimpleNamespace(lm=FakeLanguageModel(accepts_frames=True), settings=settings)
    state = {"video_path": clip, "frame_indices": list(range(0, 20, 2))}
    frames = steps.watch_frames(state, context)
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    assert steps.watch_frames(state, context) is frames  # cached on the context: decoded once per question
    # frames spread over the question's frames: 0, 10 and 18 of the clip (the square moves 2 px a frame)
    red_x = [int(np.argmax((f[..., 0] > 150) & (f[..., 1] < 100), axis=1).max()) for f in frames]
    assert red_x[0] < red_x[1] < red_x[2]
    assert steps.watch_frames({"video_path": "/no/such/video.mp4"}, context) is None  # undecodable: text-only


def test_step_helpers_pass_frames_only_to_backends_that_take_them(frames):
    vision, text = FakeLanguageModel(accepts_frames=True, replies=["a"]), FakeLanguageModel(replies=["a"])
    for lm in (vision, text):
        record = TraceRecord(node="analyze_actions")
        assert steps.llm_generate(lm, CHAT, record, 8, frames=frames) == "a"
        assert steps.llm_score(lm, CHAT, CANDIDATES, record, frames=frames) is not None
        assert steps.generate_parsed(lm, lambda strict: CHAT, str.strip, record, 8, 0, "reply", frames=frames) == "a"
        assert record.llm_calls == 3 and not record.errors
    assert [c.get("frames") for c in vision.calls] == [frames.shape] * 3
    assert all("frames" not in c for c in text.calls)


# ----------------------------------------------------------------------------- the graph


class NodeWatchingLM:
    """Wraps the tiny video LM: knows which node is calling (nodes activate an adapter named after
    themselves through adapter_scope) and records, per call, whether frames came and the tower ran."""

    accepts_frames = True

    def __init__(self, lm, tower: TowerCounter, node_names):
        self.lm, self.tower, self.name = lm, tower, lm.name
        self.adapter_names = tuple(node_names)
        self.active_adapter = None
        self.calls: list[tuple[str | None, str, bool, int]] = []

    def use_adapter(self, name):
        self.active_adapter = name

    def _watched(self, kind, call, frames):
        before = len(self.tower.calls)
        result = call()
        self.calls.append((self.active_adapter, kind, frames is not None, len(self.tower.calls) - before))
        return result

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0, stop=None, on_text=None, frames=None):
        return self._watched("generate", lambda: self.lm.generate(
            messages, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop, on_text=on_text,
            frames=frames), frames)

    def score(self, prompt, continuations, *, frames=None):
        return self._watched("score", lambda: self.lm.score(prompt, continuations, frames=frames), frames)

    def count_tokens(self, text):
        return self.lm.count_tokens(text)


@pytest.mark.slow
@pytest.mark.parametrize("choices", [["it moves right", "it moves left", "it stops", "it turns", "it vanishes"], []],
                         ids=["multiple-choice", "open-ended"])
def test_every_generating_or_scoring_node_watches_the_video(clip, choices):
    from videothought.agent.context import VoTContext, VoTSettings
    from videothought.agent.graph import NODE_ORDER, build_vot_graph
    from videothought.agent.run import question_input

    lm = tiny_random_video_lm(seed=1)
    tower = TowerCounter(lm)
    watching = NodeWatchingLM(lm, tower, NODE_ORDER)
    wanted = {"llm_targets": "always", "max_new_tokens": 8, "parse_retries": 0, "vision_frames": 4}
    known = {f.name for f in dataclasses.fields(VoTSettings)}
    settings = VoTSettings(**{k: v for k, v in wanted.items() if k in known})
    context = VoTContext(lm=watching, stsg_builder=DocumentBuilder(), settings=settings)
    app = build_vot_graph().compile()
    state = app.invoke(question_input("Where does the red circle go?", clip, choices), context=context)
    tower.close()
    calling_nodes = {record["node"] for record in state["trace"] if record.get("llm_calls")}
    assert "analyze_actions" in calling_nodes and "rank_answers" in calling_nodes
    for node in calling_nodes:
        node_calls = [call for call in watching.calls if call[0] == node]
        assert node_calls, f"{node} made LLM calls outside its adapter scope"
        assert all(with_frames and tower_runs == 1 for _, _, with_frames, tower_runs in node_calls), (node, node_calls)
    assert all(call[0] in calling_nodes for call in watching.calls)
