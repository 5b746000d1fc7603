"""The run context of the VoT graph: the models and settings a run uses, never checkpointed.

LangGraph hands it to every node as `runtime.context` (the graph's `context_schema`).
State stays JSON-safe; everything heavy (the language model, the encoder, the proposer
and tracker, a long video's segment index) lives here.

    context = default_context()                     # the embedded offline stack
    context = default_context(lm=my_model)          # swap one part
    app.invoke(question, config, context=context)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class VoTSettings:
    """Knobs of one run. Defaults are tuned for the 135M embedded LLM on a CPU."""

    num_frames: int = 64  # frames handed to the tracker: a 5 s world clip at 12 fps is tracked frame by frame
    max_frames_per_second: float = 12.0  # collisions last a frame or two: sparser sampling misses them
    max_side: int = 320  # frames are decoded at this size: proposals do not need more on the world's clips
    max_new_tokens: int = 32  # the analysis stays short: one sentence, ~1 s at 33 tok/s
    context_tokens: int = 140  # budget of the verbalised partial STSG: SmolLM2 loses the thread on long prompts,
    # and every candidate's scoring pass pays for it
    parse_retries: int = 1  # extra LLM calls when an answer does not parse, before falling back to code
    llm_targets: str = "fallback"  # "always": the LLM lists targets for every question; "fallback": only when
    # no object phrase is found in code (the world's grammar is parsed exactly; SmolLM2 adds nothing there)
    rate_candidates: bool = True  # the VoT 1-10 rationality rating of the leading candidate (one generation)
    cognition_check: bool = True  # verify asks the LLM whether the answer fits the action analysis
    evidence_weight: float = 1.0  # weight of the STSG evidence-consistency score in the ranking
    loglik_weight: float = 0.5  # weight of the LLM's preference: per-token log-likelihoods softmaxed over the
    # candidates into probabilities (0..1); 0.5 lets it break ties and near-ties of the STSG evidence only
    rating_weight: float = 0.25  # weight of the rationality rating (-1..1) of the leader; it is only asked
    # for when the leader's margin is under 2x this (when it can change the ranking)
    segments_per_question: int = 3  # long videos: how many indexed segments a question looks at
    num_proposals: int = 4  # open-ended questions: candidate answers proposed before ranking
    region_grounding: bool = True  # ground phrases with the encoder's region-text similarity too (when
    # an encoder is loaded); off: labels and attributes only (the ablation of the grounding report)
    vision_frames: int = 8  # frames a vision-language LLM watches in each call (text-only LLMs get none)
    program_samples: int = 1  # the program path: programs per question, the greedy one + samples at 0.7, written in
    # ONE batched decode (a local backend), executed, and the options voted on (self-consistency)

    def __post_init__(self):
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be at least 2, got {self.num_frames!r}")
        if self.max_frames_per_second <= 0:
            raise ValueError(f"max_frames_per_second must be positive, got {self.max_frames_per_second!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens!r}")
        if self.llm_targets not in ("always", "fallback"):
            raise ValueError(f"llm_targets must be 'always' or 'fallback', got {self.llm_targets!r}")
        if self.parse_retries < 0:
            raise ValueError(f"parse_retries must be >= 0, got {self.parse_retries!r}")
        if self.program_samples < 1:
            raise ValueError(f"program_samples must be at least 1, got {self.program_samples!r}")
        if self.vision_frames < 1:
            raise ValueError(f"vision_frames must be at least 1, got {self.vision_frames!r}")
        if self.segments_per_question < 1:
            raise ValueError(f"segments_per_question must be at least 1, got {self.segments_per_question!r}")
        for name in ("evidence_weight", "loglik_weight", "rating_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


# (frames (T, H, W, 3) uint8, frame_indices, fps, proposer, tracker, video_path) -> STSG document dict
StsgBuilder = Callable[..., dict]


@dataclass
class VoTContext:
    """What the nodes use. `lm` follows videothought.agent.llm.LanguageModel.

    encoder: optional; grounding falls back to STSG labels and attributes without it.
    proposer, tracker: handed to videothought.perception.pipeline.track_frames (None = its defaults).
    stsg_builder: replaces the whole perception call (tests, oracle ground truth, other trackers).
    index: a long video's segment index (videothought.library.BoundIndex); when set,
        the track node retrieves the relevant segments' STSGs instead of decoding the video.
    """

    lm: Any
    encoder: Any = None
    proposer: Any = None
    tracker: Any = None
    settings: VoTSettings = field(default_factory=VoTSettings)
    stsg_builder: StsgBuilder | None = None
    index: Any = None
    cache_dir: str | None = None  # STSG documents of tracked videos are kept here too (JSON files)
    # the program path's writer: a callable like agent.writer.write_program (lm, question, choices, names, *,
    # history, temperature, seed, frames, on_text) -> Written; None: write_program. Benchmarks pass programs
    # written in batches, or the gold programs (the perception ceiling), through it
    writer: Any = None
    # reads description words in the executor (graph/ground.py TextMatcher; default_context: MiniLM,
    # perception/text_match.py); None: exact names only
    matcher: Any = None
    _stsg_memory: dict = field(default_factory=dict, repr=False)

    def with_overrides(self, **overrides) -> VoTContext:
        return replace(self, **overrides)

    def cached_stsg(self, key: str) -> dict | None:
        """A tracked STSG document by cache key (file fingerprint + frames), from memory or disk."""
        if key in self._stsg_memory:
            return self._stsg_memory[key]
        if self.cache_dir:
            path = Path(self.cache_dir) / "stsg" / f"{key}.json"
            if path.is_file():
                try:
                    self._stsg_memory[key] = json.loads(path.read_text(encoding="utf-8"))
                    return self._stsg_memory[key]
                except (OSError, json.JSONDecodeError) as error:
                    logger.warning("ignoring the unreadable cached STSG %s: %s", path, error)
        return None

    def store_stsg(self, key: str, doc: dict) -> None:
        self._stsg_memory[key] = doc
        if self.cache_dir:
            path = Path(self.cache_dir) / "stsg" / f"{key}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")  # two processes may store the same video
            temporary.write_text(json.dumps(doc), encoding="utf-8")
            temporary.replace(path)


def load_default_encoder_or_none():
    """The project's AoE encoder when its package and checkpoint are installed, else None."""
    from videothought.perception.encoder import load_default_encoder

    try:
        return load_default_encoder()
    except Exception as error:  # a missing checkpoint must not stop the agent: labels still ground
        logger.warning("the default encoder did not load (%s); grounding uses STSG labels and attributes", error)
        return None


def load_lm(spec: str | None = None, *, adapters: str | None = "env"):
    """load_language_model(spec), with the embedded model in float32: on CPUs without fast bf16
    matmuls the 135M model scores and generates ~3x faster in float32 than in bf16 (measured here:
    a 5-candidate score 7 s vs 24 s, 16 generated tokens 4.4 s vs 12 s, on a loaded machine).

    adapters (the embedded model only): "env" (the default) loads what $VIDEOTHOUGHT_ADAPTERS names
    ("none": no adapters; "shipped" or unset: the post-trained per-node adapters in agent/adapters/;
    a folder: its adapters); "shipped" or a folder path loads those; None or "none" loads none (the
    untrained LLM).

    On by default: the shipped adapters (issue 11; docs/training.md "Before / after") were measured
    not to hurt the nodes they train on world seed 7 and to keep question-only accuracy at chance.
    Turn them off with VIDEOTHOUGHT_ADAPTERS=none or adapters=None."""
    import os

    from videothought.agent.llm import EMBEDDED_SPEC, LLM_ENV_VAR, load_language_model

    resolved = spec or os.environ.get(LLM_ENV_VAR) or EMBEDDED_SPEC
    if adapters == "env":
        adapters = "shipped"  # node_adapters reads $VIDEOTHOUGHT_ADAPTERS first
    if resolved == EMBEDDED_SPEC:
        return load_language_model(resolved, dtype="float32", adapters=node_adapters(adapters))
    return load_language_model(resolved)


# ---- post-trained node adapters (written by `vot train nodes`, training/nodes) ----------------------
SHIPPED_ADAPTERS = Path(__file__).resolve().parent / "adapters"  # one peft folder per node, named after it
ADAPTERS_ENV_VAR = "VIDEOTHOUGHT_ADAPTERS"  # another adapters folder for the embedded model, or "none"


def node_adapters(which: str | None = "shipped") -> dict[str, str]:
    """{node name: adapter folder} for the embedded LLM. "shipped": $VIDEOTHOUGHT_ADAPTERS when set
    ("none": {}; a folder), else agent/adapters/ ({} with a warning when the install lacks it);
    a folder: its <node>/ subfolders; None or "none": {}.
    Every folder must hold adapter_config.json, adapter_model.safetensors and the card
    videothought-adapter.json naming the node and the base model it was trained on; a folder that
    does not is an error naming it (a half-copied adapter must not load silently)."""
    import os

    if which is None or which == "none":
        return {}
    if which == "shipped":
        which = os.environ.get(ADAPTERS_ENV_VAR) or "shipped"
        if which == "none":
            return {}
        if which == "shipped":
            if not SHIPPED_ADAPTERS.is_dir():  # an install without them: the untrained LLM, with a warning
                logger.warning("no shipped node adapters in %s; the LLM runs untrained", SHIPPED_ADAPTERS)
                return {}
            which = str(SHIPPED_ADAPTERS)
    root = Path(which)  # a folder named by the caller or $VIDEOTHOUGHT_ADAPTERS must exist
    if not root.is_dir():
        raise FileNotFoundError(f"adapters folder {root} does not exist")
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "projector"):
        missing = [n for n in ("adapter_config.json", "adapter_model.safetensors", "videothought-adapter.json")
                   if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"adapter {folder.name!r} in {root} lacks {missing}")
        card = json.loads((folder / "videothought-adapter.json").read_text(encoding="utf-8"))
        if card.get("node") not in (None, folder.name):
            raise ValueError(f"adapter folder {folder} is named {folder.name!r} but was trained for node {card.get('node')!r}")
        if (card.get("base_model") or {}).get("name") != "embedded":
            raise ValueError(f"adapter {folder} was trained on base model {(card.get('base_model') or {}).get('name')!r}, "
                             "not the embedded SmolLM2-135M-Instruct")
        found[folder.name] = str(folder)
    return found


def default_context(**overrides) -> VoTContext:
    """The embedded offline stack: SmolLM2-135M-Instruct with the shipped node adapters (load_lm;
    VIDEOTHOUGHT_ADAPTERS=none for the untrained LLM), the AoE encoder when present, the default
    proposer and tracker of videothought.perception.pipeline.

    Overrides name VoTContext fields (lm=, encoder=, settings=, ...) or VoTSettings fields
    (max_new_tokens=48, ...). The LLM is only loaded when `lm` is not given.
    """
    context_names = {f.name for f in fields(VoTContext)}
    settings_names = {f.name for f in fields(VoTSettings)}
    unknown = set(overrides) - context_names - settings_names
    if unknown:
        raise TypeError(
            f"default_context got unknown overrides {sorted(unknown)}; "
            f"known: {sorted(context_names)} and settings {sorted(settings_names)}"
        )
    settings_overrides = {k: overrides.pop(k) for k in list(overrides) if k in settings_names}
    settings = overrides.pop("settings", None) or VoTSettings()
    if settings_overrides:
        settings = replace(settings, **settings_overrides)
    if "lm" not in overrides:
        overrides["lm"] = load_lm()
    else:
        from videothought.agent.llm import check_language_model

        check_language_model(overrides["lm"])  # a swapped LLM that does not fit fails here, by name
    if "encoder" not in overrides:
        overrides["encoder"] = load_default_encoder_or_none()
    if "matcher" not in overrides:
        from videothought.perception.text_match import default_matcher

        overrides["matcher"] = default_matcher()  # MiniLM reads words perception does not spell its way
    if "proposer" not in overrides:
        # built once per context: the default proposer costs ~1 s to set up (colour tables)
        from videothought.perception.proposals import default_proposer

        overrides["proposer"] = default_proposer()
    return VoTContext(settings=settings, **overrides)
