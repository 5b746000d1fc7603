"""The recipe of one node post-training stage: a typed config read from YAML.

    # vot train nodes --config training/recipes/nodes/lora.yaml
    stage: lora
    output_dir: runs/nodes/lora
    init_from: runs/nodes/projector        # the previous stage's output: stages chain
    ...

Every YAML recipe starts with the command that runs it. Bad values fail at load time with a
`RecipeError` that names the key and quotes the value.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

STAGES = ("projector", "lora", "coldstart", "grpo", "rejection", "dpo")
RL_STAGES = ("grpo", "rejection", "dpo")  # they start from the previous stage's adapters: init_from is required
BASE_MODELS_HELP = "'embedded' (SmolLM2-135M-Instruct), 'tiny-random' (CI) or a transformers model folder"


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the key and the value."""


@dataclass
class DataSpec:
    """Where the node data comes from: world seeds used for training only (never 7 or 1000-1100)."""

    worlds_dir: str = "runs/worlds"  # one folder per seed, w<seed>/, generated when missing
    seeds: list[int] = field(default_factory=lambda: list(range(100, 140)))
    videos_per_seed: int = 3  # 40 seeds x 3 videos x 8 questions = 960 questions
    rewordings: int = 2  # "train"-family wordings per question, besides the world's own wording
    paraphrases: int = 0  # the writer: paraphrase-generator wordings per question (evals/world/paraphrase.py)
    # ... in each of these generator families (evals/world/paraphrase.py FAMILIES); whatever a recipe
    # supervises is no longer unseen for the RL stages after it (the "heldout" family is never here)
    paraphrase_families: list[str] = field(default_factory=lambda: ["a"])
    # the writer's RL stages (grpo, rejection, dpo): the paraphrase family their answer-only questions are
    # said in; pick one the adapter they start from was never supervised on ("c" after writer_ab.yaml)
    rl_family: str = "b"
    chained_per_video: int = 0  # the writer: chained questions per training video (evals/world/chained.py)
    followups: bool = False  # the writer: the follow-up conversations' turns (evals/world/followups.py)
    people: int = 0  # the writer: examples of people-question shapes (training/nodes/writer_shapes.py)
    option_reads: int = 0  # the writer: single-option readings per example, for its option pass (writer_data.option_examples)
    cache_dir: str = "runs/nodes/stsg-cache"  # tracked STSG documents (JSON), shared by every stage
    examples: str = "runs/nodes/data/train.jsonl"  # node examples, built once and reused
    max_examples_per_node: int = 4000  # the CPU budget: more examples than steps x batch are never seen
    # seeds whose questions fit the verify adapter's verdict threshold after the stage (training/nodes/calibrate.py);
    # empty: not calibrated (the node reads the greedy verdict)
    calibration_seeds: list[int] = field(default_factory=list)

    def __post_init__(self):
        from videothought.training.nodes.data import NodeDataError, check_training_seeds

        for name in ("seeds", "calibration_seeds"):
            value = getattr(self, name)
            if isinstance(value, dict):  # {from: 100, to: 139}, inclusive
                try:
                    value = list(range(int(value["from"]), int(value["to"]) + 1))
                except (KeyError, TypeError, ValueError):
                    raise RecipeError(f"data.{name} must be a list or {{from: A, to: B}}, got {value!r}") from None
            if name == "calibration_seeds" and not value:
                self.calibration_seeds = []
                continue
            try:
                setattr(self, name, check_training_seeds(value))
            except NodeDataError as error:
                raise RecipeError(f"data.{name}: {error}") from None
        shared = sorted(set(self.seeds) & set(self.calibration_seeds))
        if shared:
            raise RecipeError(f"data.calibration_seeds {shared} are training seeds too: calibrate on seeds never trained on")
        for name in ("videos_per_seed", "max_examples_per_node"):
            if int(getattr(self, name)) < 1:
                raise RecipeError(f"data.{name} must be at least 1, got {getattr(self, name)!r}")
        from videothought.evals.world.paraphrase import FAMILIES

        if not self.paraphrase_families or any(f not in FAMILIES for f in self.paraphrase_families):
            raise RecipeError(f"data.paraphrase_families must be a non-empty list of {list(FAMILIES)}, "
                              f"got {self.paraphrase_families!r}")
        if self.rl_family not in FAMILIES:
            raise RecipeError(f"data.rl_family must be one of {list(FAMILIES)}, got {self.rl_family!r}")
        for name in ("rewordings", "paraphrases", "chained_per_video", "people"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise RecipeError(f"data.{name} must be an integer >= 0, got {getattr(self, name)!r}")


@dataclass
class LoraSpec:
    r: int = 8  # rank 8 on q/k/v/o of a 135M model: ~0.9M parameters, 3.5 MB per node in float32
    alpha: int = 16
    dropout: float = 0.0  # 0: a resumed run repeats the uninterrupted one exactly
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    top_layers: int | None = None  # LoRA on the last N decoder layers only: the backward pass stops at the
    # lowest adapted layer, which is what makes a 135M model trainable on a shared 2-core CPU

    def __post_init__(self):
        if self.top_layers is not None and (not isinstance(self.top_layers, int) or self.top_layers < 1):
            raise RecipeError(f"lora.top_layers must be a positive integer or null, got {self.top_layers!r}")
        if int(self.r) < 1:
            raise RecipeError(f"lora.r must be at least 1, got {self.r!r}")
        if not 0 <= float(self.dropout) < 1:
            raise RecipeError(f"lora.dropout must be in [0, 1), got {self.dropout!r}")
        if not self.target_modules:
            raise RecipeError("lora.target_modules is empty")


@dataclass
class TrainSpec:
    max_steps: int = 150  # per node; ~1.5 s a step at batch 8 on the shared 2-core CPU
    batch_size: int = 8
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    save_steps: int = 50  # checkpoints a killed run resumes from
    logging_steps: int = 10
    seed: int = 0
    max_length: int = 384  # tokens of prompt + completion; longer examples are cut from the left of the prompt
    base_dtype: str = "float32"  # the frozen base's weights; "bfloat16" runs its matmuls on the CPU's bf16 units
    group_by_length: bool = False  # batches of similar lengths: less padding, fewer wasted token positions

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "save_steps", "logging_steps", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RecipeError(f"train.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < float(self.learning_rate) < 1):
            raise RecipeError(f"train.learning_rate must be in (0, 1), got {self.learning_rate!r}")
        if self.warmup_steps < 0:
            raise RecipeError(f"train.warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if self.base_dtype not in ("float32", "bfloat16"):
            raise RecipeError(f"train.base_dtype must be float32 or bfloat16, got {self.base_dtype!r}")
        if not isinstance(self.group_by_length, bool):
            raise RecipeError(f"train.group_by_length must be true or false, got {self.group_by_length!r}")


@dataclass
class ProjectorSpec:
    num_tokens: int = 4  # visual soft tokens per embedding (LLaVA uses one per patch; one clip vector here)
    hidden_size: int = 512
    regions_per_track: int = 3  # boxes per ground-truth object encoded as region examples
    frames_per_clip: int = 8  # frames per caption segment for the clip embedding

    def __post_init__(self):
        for name in ("num_tokens", "hidden_size", "regions_per_track", "frames_per_clip"):
            if int(getattr(self, name)) < 1:
                raise RecipeError(f"projector.{name} must be at least 1, got {getattr(self, name)!r}")


@dataclass
class RLSpec:
    """Settings of the RL stages: 3 GRPO, 5 rejection sampling, 6 DPO (training/nodes/{grpo,rejection,dpo}.py)."""

    questions: int = 16  # training questions per node (each with its truth); the CPU budget, not the data, sets it
    num_generations: int = 4  # GRPO group size; train.batch_size (completions per step) must be a multiple of it
    max_completion_length: int = 160  # tokens; a reference trace is ~100 tokens, the node's inference budget 160
    temperature: float = 1.0  # sampling temperature of GRPO rollouts and rejection samples
    beta: float = 0.0  # GRPO's KL weight (trl's default 0: no reference forward, which halves CPU time)
    rewards: list[str] | None = None  # GRPO: the rewards used (None: all of the node's); the step-reward ablation
    # keeps [answer]
    reward_weights: dict[str, float] | None = None  # GRPO: weight per reward name (missing: 1.0); trl sums the
    # weighted rewards before the group's advantage. The trace's step rewards differ between rollouts far more
    # often than its answer does, so unweighted they decide the advantage (docs/training.md, v3 chain)
    step_rewards_need_format: bool = False  # GRPO, rejection: targets and events only for a complete trace
    samples_per_question: int = 4  # rejection sampling: N traces per training question
    dpo_beta: float = 0.1  # DPO's temperature on the log-ratio (trl's default)
    length_budget_words: int = 120  # the hacking gate's budget for a trace; reference traces are 40-110 words
    collapse_window: int = 3  # logged points compared when watching reward vs accuracy for a collapse
    constrained: bool = False  # GRPO on the writer: rollouts decoded under the program language's grammar
    # (agent/llm/constrained.py) instead of trl's free sampling, so every sample is a document of the language
    paired: bool = False  # GRPO, rejection, DPO: a question's right-option and wrong-option checks are drawn together
    # (grpo.rl_rows); GRPO keeps them in one step (trl's shuffle off), so a yes/no verdict's prior gets no net push

    def __post_init__(self):
        for name in ("questions", "num_generations", "max_completion_length", "samples_per_question",
                     "length_budget_words", "collapse_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RecipeError(f"rl.{name} must be a positive integer, got {value!r}")
        if self.num_generations < 2:
            raise RecipeError(f"rl.num_generations must be at least 2 (GRPO compares a group), got {self.num_generations!r}")
        if not 0 < float(self.temperature) <= 2:
            raise RecipeError(f"rl.temperature must be in (0, 2], got {self.temperature!r}")
        if float(self.beta) < 0 or float(self.dpo_beta) <= 0:
            raise RecipeError(f"rl.beta must be >= 0 and rl.dpo_beta > 0, got {self.beta!r}, {self.dpo_beta!r}")
        if not isinstance(self.constrained, bool):
            raise RecipeError(f"rl.constrained must be true or false, got {self.constrained!r}")
        if not isinstance(self.paired, bool):
            raise RecipeError(f"rl.paired must be true or false, got {self.paired!r}")
        if not isinstance(self.step_rewards_need_format, bool):
            raise RecipeError(f"rl.step_rewards_need_format must be true or false, got {self.step_rewards_need_format!r}")
        if self.reward_weights is not None:
            if not isinstance(self.reward_weights, dict) or not self.reward_weights:
                raise RecipeError(f"rl.reward_weights must be a mapping of reward name to weight, got {self.reward_weights!r}")
            for name, weight in self.reward_weights.items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                    raise RecipeError(f"rl.reward_weights[{name!r}] must be a number >= 0, got {weight!r}")
            if self.rewards and set(self.reward_weights) - set(self.rewards):
                raise RecipeError(f"rl.reward_weights names rewards not in rl.rewards: "
                                  f"{sorted(set(self.reward_weights) - set(self.rewards))}")


@dataclass
class NodeRecipe:
    stage: str
    output_dir: str
    base_model: str = "embedded"
    init_from: str | None = None  # the previous stage's output_dir (stages chain)
    nodes: list[str] = field(default_factory=list)  # lora/coldstart: the adapters this stage trains
    init_adapters: dict[str, str] = field(default_factory=dict)  # new adapter <- init_from's adapter (coldstart)
    node_steps: dict[str, int] = field(default_factory=dict)  # per-node max_steps (default train.max_steps)
    data: DataSpec = field(default_factory=DataSpec)
    lora: LoraSpec = field(default_factory=LoraSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    projector: ProjectorSpec = field(default_factory=ProjectorSpec)
    rl: RLSpec = field(default_factory=RLSpec)
    export_to: str | None = None  # copy the final adapters here (the shipped folder)
    # which node adapters to ship (empty: all the stage holds); an adapter measured no better than
    # the untrained model, or harmful in the graph, stays in output_dir and out of the default stack
    export_nodes: list[str] = field(default_factory=list)
    source: str | None = None  # the YAML file (set by load)
    command: str | None = None  # its first line

    def __post_init__(self):
        if self.stage not in STAGES:
            raise RecipeError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if not self.output_dir:
            raise RecipeError("output_dir is required")
        if not isinstance(self.base_model, str) or not self.base_model:
            raise RecipeError(f"base_model must be {BASE_MODELS_HELP}, got {self.base_model!r}")
        if self.base_model not in ("embedded", "tiny-random") and not Path(self.base_model).is_dir():
            raise RecipeError(f"base_model must be {BASE_MODELS_HELP}; {self.base_model!r} is neither")
        if self.stage in ("lora", "coldstart", *RL_STAGES) and not self.nodes:
            raise RecipeError(f"stage {self.stage!r} needs nodes: the adapters to train")
        from videothought.training.nodes.data import NODE_NAMES, TRACE_NODE
        from videothought.training.nodes.writer_data import NODE as WRITER

        known = (*NODE_NAMES, TRACE_NODE, WRITER)
        for node in self.nodes:
            if node not in known:
                raise RecipeError(f"nodes: unknown node {node!r}; known: {list(known)}")
        if WRITER in self.nodes and len(self.nodes) > 1:
            raise RecipeError(f"the writer trains on its own data (question -> program): give it a recipe of its own, "
                              f"not with {[n for n in self.nodes if n != WRITER]}")
        if self.stage in RL_STAGES and not self.init_from:
            raise RecipeError(f"stage {self.stage!r} needs init_from: the previous stage's output it starts from")
        if self.stage in RL_STAGES:
            from videothought.training.nodes.rewards import NODE_REWARDS

            for node in self.nodes:
                if node not in NODE_REWARDS:
                    raise RecipeError(f"stage {self.stage!r}: node {node!r} has no rewards; rewarded: {sorted(NODE_REWARDS)}")
                if self.rl.rewards and not set(self.rl.rewards) & set(NODE_REWARDS[node]):
                    raise RecipeError(f"rl.rewards {self.rl.rewards} has none of node {node!r}'s: {sorted(NODE_REWARDS[node])}")
                unknown = set(self.rl.reward_weights or {}) - {n for m in self.nodes for n in NODE_REWARDS.get(m, {})}
                if unknown:
                    raise RecipeError(f"rl.reward_weights names no reward of nodes {self.nodes}: {sorted(unknown)}")
        if self.stage == "grpo" and self.train.batch_size % self.rl.num_generations:
            raise RecipeError(f"train.batch_size {self.train.batch_size} must be a multiple of rl.num_generations "
                              f"{self.rl.num_generations} (GRPO's groups)")
        if self.stage == "grpo" and self.rl.paired and (self.train.batch_size // self.rl.num_generations) % 2:
            raise RecipeError(f"rl.paired needs an even number of questions a step: train.batch_size "
                              f"{self.train.batch_size} / rl.num_generations {self.rl.num_generations} is odd")
        if self.data.calibration_seeds and "verify" not in self.nodes:
            raise RecipeError(f"data.calibration_seeds calibrate the verify adapter, but 'verify' is not among nodes "
                              f"{self.nodes}")
        for node in self.export_nodes:
            if node not in known:
                raise RecipeError(f"export_nodes: unknown node {node!r}; known: {list(known)}")
        if self.export_nodes and not self.export_to:
            raise RecipeError("export_nodes needs export_to: the folder they are shipped in")
        for node, steps in self.node_steps.items():
            if node not in self.nodes:
                raise RecipeError(f"node_steps: {node!r} is not among nodes {self.nodes}")
            if not isinstance(steps, int) or steps < 1:
                raise RecipeError(f"node_steps.{node} must be a positive integer, got {steps!r}")
        for new, old in self.init_adapters.items():
            if new not in self.nodes:
                raise RecipeError(f"init_adapters: {new!r} is not among nodes {self.nodes}")
            if not self.init_from:
                raise RecipeError(f"init_adapters {{{new}: {old}}} needs init_from (the previous stage's output)")

    @classmethod
    def from_dict(cls, record: dict, *, source: str | None = None, command: str | None = None) -> NodeRecipe:
        if not isinstance(record, dict):
            raise RecipeError(f"a recipe is a YAML mapping, got {type(record).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise RecipeError(f"unknown recipe keys {unknown}; known: {sorted(known - {'source', 'command'})}")
        parts = {"data": DataSpec, "lora": LoraSpec, "train": TrainSpec, "projector": ProjectorSpec, "rl": RLSpec}
        values = dict(record)
        for key, kind in parts.items():
            given = values.get(key) or {}
            if not isinstance(given, dict):
                raise RecipeError(f"{key} must be a mapping, got {given!r}")
            names = {f.name for f in fields(kind)}
            bad = sorted(set(given) - names)
            if bad:
                raise RecipeError(f"unknown keys {bad} under {key}; known: {sorted(names)}")
            try:
                values[key] = kind(**given)
            except TypeError as error:
                raise RecipeError(f"{key}: {error}") from None
        for key in ("stage", "output_dir"):
            if key not in values:
                raise RecipeError(f"the recipe has no {key!r}")
        return cls(**values, source=source, command=command)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NodeRecipe:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise RecipeError(f"no recipe at {path}")
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        if not first.startswith("# vot train nodes") and not first.startswith("# accelerate launch"):
            raise RecipeError(f"{path}: the first line must be the command that runs it ('# vot train nodes --config ...')")
        try:
            record = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise RecipeError(f"{path}: not valid YAML: {error}") from None
        return cls.from_dict(record, source=str(path), command=first.lstrip("# ").strip())

    def to_dict(self) -> dict:
        return asdict(self)
