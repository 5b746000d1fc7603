"""Stage 1, adapter-only SFT: a LLaVA-style projector from the frozen AoE encoder's clip and region
embeddings to the frozen LLM's input embeddings, as visual soft tokens.

    embedding (D=128) ──Linear──GELU──Linear──► (K, H) soft tokens   (K=4, H=576 for SmolLM2-135M)

    <|im_start|>user\\n  [v1 v2 v3 v4]  What colour is this object?<|im_end|>\\n<|im_start|>assistant\\n pink
                        └ the placeholder VISUAL_PLACEHOLDER in the message is replaced by the K tokens

Only the projector learns (the LLM and the encoder are frozen); the loss is the LLM's
cross-entropy on the answer tokens. Training data come from the training worlds' truth:
region embeddings of the true boxes described as "a large pink star" (and asked for their
colour and shape), clip embeddings of caption segments described by the world's captions.

Checkpoints are safetensors only: projector weights, AdamW moments, and a JSON trainer state;
batches are drawn from a generator seeded by (seed, step), so a resumed run repeats the
uninterrupted one.

    projector = VisualProjector.from_pretrained("agent/adapters/projector", model=lm.model)
    scores = score_with_visual(lm.model, lm.tokenizer, projector(embedding[None])[0], messages, [" red", " blue"])
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

VISUAL_PLACEHOLDER = "<visual>"
REGION_PROMPTS = (("What colour is this object?", "colour"), ("What shape is this object?", "shape"),
                  ("Describe this object.", "label"))
CLIP_PROMPT = "Describe this clip."


class ProjectorError(ValueError):
    """A projector folder that is missing, malformed, or made for another encoder or LLM."""


@dataclass
class ProjectorConfig:
    embedding_size: int = 128  # the AoE encoder's embedding width (D)
    llm_hidden_size: int = 576  # the LLM's input embedding width (H): SmolLM2-135M
    num_tokens: int = 4  # soft tokens per embedding: one vector cannot say colour, shape and motion at once
    hidden_size: int = 512  # the MLP's width (LLaVA-1.5: 2 layers, GELU)
    output_scale: float = 0.136  # LayerNorm gain at start = the LLM's embedding std (SmolLM2: 0.136): the soft
    # tokens start as large as word embeddings; near-zero ones are blown up by the first RMSNorm (loss 13.6 at step 1)
    base_model: dict = field(default_factory=dict)  # identity of the LLM (training/nodes/models.base_identity)

    def __post_init__(self):
        for name in ("embedding_size", "llm_hidden_size", "num_tokens", "hidden_size"):
            if int(getattr(self, name)) < 1:
                raise ProjectorError(f"projector config {name} must be at least 1, got {getattr(self, name)!r}")


class VisualProjector(nn.Module):
    def __init__(self, config: ProjectorConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(config.embedding_size, config.hidden_size), nn.GELU(),
                                 nn.Linear(config.hidden_size, config.num_tokens * config.llm_hidden_size))
        self.norm = nn.LayerNorm(config.llm_hidden_size)
        with torch.no_grad():
            self.norm.weight.fill_(config.output_scale)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, D) unit embeddings -> (B, K, H) soft tokens."""
        batch = embeddings.shape[0]
        tokens = self.net(embeddings).view(batch, self.config.num_tokens, self.config.llm_hidden_size)  # (B, K, H)
        return self.norm(tokens)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(folder / "projector.safetensors"))
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=1) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, model=None) -> VisualProjector:
        """Load a projector; with `model`, check it was trained for that LLM (ProjectorError if not)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / "projector.safetensors").is_file():
            raise ProjectorError(f"{folder} is not a projector folder (config.json + projector.safetensors)")
        try:
            config = ProjectorConfig(**json.loads((folder / "config.json").read_text()))
        except (TypeError, ValueError) as error:
            raise ProjectorError(f"{folder}/config.json: {error}") from None
        if model is not None:
            hidden = model.get_input_embeddings().weight.shape[1]
            if hidden != config.llm_hidden_size:
                raise ProjectorError(f"projector {folder} makes {config.llm_hidden_size}-wide tokens for base model "
                                     f"{config.base_model.get('name')!r}; this LLM's embeddings are {hidden} wide")
        projector = cls(config)
        try:
            projector.load_state_dict(load_file(str(folder / "projector.safetensors")))
        except RuntimeError as error:
            raise ProjectorError(f"{folder}: weights do not match its config.json: {error}") from None
        return projector.eval()


# ---- building the LLM's inputs -------------------------------------------------------------------
def visual_messages(question: str, with_visual: bool = True) -> list[dict]:
    from videothought.agent.prompts import SYSTEM

    user = f"{VISUAL_PLACEHOLDER}\n{question}" if with_visual else question
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def split_prompt(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids before and after the placeholder of the rendered chat prompt (after = all when none)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    before, found, after = text.partition(VISUAL_PLACEHOLDER)
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    return (encode(before), encode(after)) if found else ([], encode(text))


def batch_inputs(model, tokenizer, rows: list[tuple[torch.Tensor | None, list[dict], str]]):
    """Right-padded inputs_embeds (B, T, H), attention mask (B, T) and labels (B, T) (-100 outside the
    targets) for rows of (soft tokens (K, H) or None, messages, target text)."""
    embed = model.get_input_embeddings()
    sequences, labels = [], []
    for tokens, messages, target in rows:
        before, after = split_prompt(tokenizer, messages)
        target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        pieces = [embed(torch.tensor(before, dtype=torch.long))] if before else []
        if tokens is not None:
            pieces.append(tokens.to(embed.weight.dtype))
        pieces.append(embed(torch.tensor(after + target_ids, dtype=torch.long)))
        sequence = torch.cat(pieces)  # (T_i, H)
        label = torch.full((sequence.shape[0],), -100, dtype=torch.long)
        label[sequence.shape[0] - len(target_ids):] = torch.tensor(target_ids)
        sequences.append(sequence)
        labels.append(label)
    width = max(s.shape[0] for s in sequences)
    hidden = sequences[0].shape[1]
    inputs = torch.zeros(len(rows), width, hidden, dtype=sequences[0].dtype)  # (B, T, H)
    mask = torch.zeros(len(rows), width, dtype=torch.long)  # (B, T)
    padded_labels = torch.full((len(rows), width), -100, dtype=torch.long)  # (B, T)
    for i, (sequence, label) in enumerate(zip(sequences, labels)):
        inputs[i, : sequence.shape[0]] = sequence
        mask[i, : sequence.shape[0]] = 1
        padded_labels[i, : sequence.shape[0]] = label
    return inputs, mask, padded_labels


def score_with_visual(model, tokenizer, tokens: torch.Tensor | None, messages: list[dict],
                      continuations: list[str]) -> list[float]:
    """Summed log-probabilities of each continuation after the prompt with soft tokens (K, H) in
    place of the placeholder (None: the LLM blind, placeholder dropped). One padded forward."""
    if tokens is None:
        messages = [{**m, "content": m["content"].replace(VISUAL_PLACEHOLDER + "\n", "")} for m in messages]
    with torch.inference_mode():
        inputs, mask, labels = batch_inputs(model, tokenizer, [(tokens, messages, c) for c in continuations])
        logits = model(inputs_embeds=inputs, attention_mask=mask).logits[:, :-1].float()  # (B, T-1, V)
        targets = labels[:, 1:]  # (B, T-1)
        logprobs = torch.log_softmax(logits, dim=-1)
        picked = logprobs.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * (targets >= 0)  # (B, T-1)
    return picked.sum(-1).tolist()


# ---- data: embeddings of true regions and caption segments ---------------------------------------
def world_visual_examples(roots: list[Path], encoder, *, regions_per_track: int, frames_per_clip: int,
                          progress: bool = True) -> dict:
    """{"embeddings": (N, D) float32, "kind": [...], "text": [...], "colour": [...], "shape": [...],
    "video": [...]} from the worlds' truth (regions) and captions (clips)."""
    from tqdm.auto import tqdm

    from videothought.evals.world import load_world
    from videothought.perception.video import VideoReader

    embeddings, meta = [], []
    videos = [v for root in roots for v in load_world(root)]
    for video in tqdm(videos, desc="projector data", disable=not progress, unit="video"):
        with VideoReader(str(video.path)) as reader:
            frames = reader.get_frames(list(range(reader.metadata.num_frames))).frames  # (T, H, W, 3)
        by_track: dict[int, list[dict]] = {}
        for node in video.stsg.get("graph", {}).get("nodes", []):
            if node.get("kind", "observation") == "observation" and node.get("visible", True) and node.get("box"):
                by_track.setdefault(int(node["track_id"]), []).append(node)
        pairs, owners = [], []
        for track_id, nodes in sorted(by_track.items()):
            nodes.sort(key=lambda n: n["frame_index"])
            for i in np.linspace(0, len(nodes) - 1, min(regions_per_track, len(nodes))).round().astype(int):
                node = nodes[int(i)]
                if int(node["frame_index"]) < len(frames):
                    pairs.append((int(node["frame_index"]), list(map(float, node["box"]))))
                    owners.append(node)
        if pairs:
            regions = np.asarray(encoder.encode_regions(frames, pairs), dtype=np.float32)  # (N, D)
            for row, node in zip(regions, owners):
                attributes = node.get("attributes") or {}
                size = attributes.get("size")
                embeddings.append(row)
                meta.append({"kind": "region", "video": video.video_id, "colour": attributes.get("colour", ""),
                             "shape": attributes.get("shape", ""),
                             "text": f"a {size + ' ' if size else ''}{node.get('label', 'object')}"})
        for caption in video.captions:
            start, end = caption.get("segment") or (0, len(frames) - 1)
            picks = np.linspace(start, min(end, len(frames) - 1), frames_per_clip).round().astype(int)
            embeddings.append(np.asarray(encoder.clip_embedding(frames[picks]), dtype=np.float32))
            meta.append({"kind": "clip", "video": video.video_id, "colour": "", "shape": "", "text": caption["caption"]})
    array = np.stack(embeddings).astype(np.float32)  # (N, D)
    array /= np.linalg.norm(array, axis=-1, keepdims=True) + 1e-8
    return {"embeddings": array, **{k: [m[k] for m in meta] for k in ("kind", "video", "colour", "shape", "text")}}


def save_visual_examples(path: Path, data: dict) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": data["embeddings"]}, str(path))
    path.with_suffix(".json").write_text(json.dumps({k: v for k, v in data.items() if k != "embeddings"}))


def load_visual_examples(path: Path) -> dict:
    from safetensors.numpy import load_file

    return {"embeddings": load_file(str(path))["embeddings"], **json.loads(path.with_suffix(".json").read_text())}


def training_rows(data: dict) -> list[tuple[int, str, str]]:
    """(embedding row, question, target) triples: each region asked three ways, each clip described."""
    rows = []
    for i, kind in enumerate(data["kind"]):
        if kind == "region":
            for question, key in REGION_PROMPTS:
                target = data["text"][i] if key == "label" else data[key][i]
                if target:  # no leading space: the reply starts a line ("assistant\n"), where " pink" is unlikely
                    rows.append((i, question, target))
        else:
            rows.append((i, CLIP_PROMPT, data["text"][i]))
    return rows


# ---- training ------------------------------------------------------------------------------------
def _save_state(folder: Path, projector: VisualProjector, optimizer, step: int, history: list) -> None:
    from safetensors.torch import save_file

    temporary = folder.with_name(folder.name + ".tmp")
    temporary.mkdir(parents=True, exist_ok=True)
    projector.save_pretrained(temporary)
    moments = {}
    for index, parameter in enumerate(projector.parameters()):
        state = optimizer.state.get(parameter, {})
        for key in ("exp_avg", "exp_avg_sq", "step"):
            if key in state:
                moments[f"{index}.{key}"] = torch.as_tensor(state[key]).detach().clone().reshape(-1) \
                    if key == "step" else state[key].detach().contiguous()
    save_file(moments, str(temporary / "optimizer.safetensors"))
    (temporary / "trainer.json").write_text(json.dumps({"step": step, "history": history}))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    temporary.rename(folder)


def _load_state(folder: Path, projector: VisualProjector, optimizer) -> tuple[int, list]:
    from safetensors.torch import load_file

    loaded = VisualProjector.from_pretrained(folder)
    projector.load_state_dict(loaded.state_dict())
    moments = load_file(str(folder / "optimizer.safetensors"))
    for index, parameter in enumerate(projector.parameters()):
        if f"{index}.exp_avg" in moments:
            optimizer.state[parameter] = {"exp_avg": moments[f"{index}.exp_avg"].clone(),
                                          "exp_avg_sq": moments[f"{index}.exp_avg_sq"].clone(),
                                          "step": moments[f"{index}.step"].reshape(()).clone()}
    record = json.loads((folder / "trainer.json").read_text())
    return int(record["step"]), list(record["history"])


def train_projector(recipe, *, resume: bool = True, progress: bool = True, data: dict | None = None) -> dict:
    """Train the projector of `recipe` (stage "projector"); output_dir/projector/ holds the result."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from videothought.training.nodes.data import ensure_world
    from videothought.training.nodes.models import base_identity, load_base

    started = time.perf_counter()
    out = Path(recipe.output_dir)
    final, checkpoint = out / "projector", out / "checkpoint"
    if resume and (final / "projector.safetensors").is_file() and (out / "history.json").is_file():
        logger.info("projector already trained in %s; skipping", final)
        return json.loads((out / "history.json").read_text())["summary"]
    if not resume:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    if data is None:
        cache = out.parent / "projector-data" / "train.safetensors"
        if not cache.is_file():
            from videothought.perception.encoder import load_default_encoder

            roots = [ensure_world(Path(recipe.data.worlds_dir) / f"w{s}", s, recipe.data.videos_per_seed)
                     for s in recipe.data.seeds]
            save_visual_examples(cache, world_visual_examples(roots, load_default_encoder(),
                                                              regions_per_track=recipe.projector.regions_per_track,
                                                              frames_per_clip=recipe.projector.frames_per_clip,
                                                              progress=progress))
        data = load_visual_examples(cache)
    rows = training_rows(data)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model, tokenizer = load_base(recipe.base_model, seed=recipe.train.seed)
    model.requires_grad_(False)
    model.eval()
    torch.manual_seed(recipe.train.seed)
    config = ProjectorConfig(embedding_size=int(data["embeddings"].shape[1]),
                             llm_hidden_size=int(model.get_input_embeddings().weight.shape[1]),
                             num_tokens=recipe.projector.num_tokens, hidden_size=recipe.projector.hidden_size,
                             output_scale=round(float(model.get_input_embeddings().weight.std()), 4),
                             base_model=base_identity(model, recipe.base_model))
    projector = VisualProjector(config)
    optimizer = torch.optim.AdamW(projector.parameters(), lr=float(recipe.train.learning_rate), weight_decay=0.0)
    step, history = 0, []
    if resume and (checkpoint / "trainer.json").is_file():
        step, history = _load_state(checkpoint, projector, optimizer)
        logger.info("projector: resuming from step %d (%s)", step, checkpoint)
    model, projector, optimizer = accelerator.prepare(model, projector, optimizer)
    embeddings = torch.from_numpy(data["embeddings"])
    train = recipe.train
    bar = tqdm(total=train.max_steps, initial=step, desc="projector", disable=not progress or not accelerator.is_main_process)
    while step < train.max_steps:
        rng = np.random.default_rng([train.seed, step])  # the batch of a step depends on nothing else
        picks = rng.choice(len(rows), size=min(train.batch_size, len(rows)), replace=False)
        lr = float(train.learning_rate) * min(1.0, (step + 1) / max(1, train.warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens = projector(embeddings[[rows[i][0] for i in picks]])  # (B, K, H)
        batch = [(tokens[j], visual_messages(rows[i][1]), rows[i][2]) for j, i in enumerate(picks)]
        inputs, mask, labels = batch_inputs(accelerator.unwrap_model(model), tokenizer, batch)
        loss = model(inputs_embeds=inputs, attention_mask=mask, labels=labels).loss
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        step += 1
        bar.update(1)
        if step % train.logging_steps == 0 or step == 1:
            history.append({"step": step, "loss": round(float(loss), 4)})
            bar.set_postfix(loss=f"{float(loss):.3f}")
            logger.info("projector step %d loss %.4f", step, float(loss))
        if step % train.save_steps == 0 and accelerator.is_main_process:
            _save_state(checkpoint, accelerator.unwrap_model(projector), optimizer, step, history)
    bar.close()
    summary = {"stage": "projector", "examples": len(rows), "steps": step,
               "first_loss": history[0]["loss"] if history else None, "last_loss": history[-1]["loss"] if history else None,
               "seconds": round(time.perf_counter() - started, 1)}
    if accelerator.is_main_process:
        accelerator.unwrap_model(projector).save_pretrained(final)
        (out / "history.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))
    return summary


# ---- evaluation -----------------------------------------------------------------------------------
def evaluate_projector(adapters_dir: str | None, world_root: Path, *, limit_videos: int = 25,
                       cache: Path | None = None) -> dict:
    """Colour / shape of true regions and caption choice (1 of 5) from the visual tokens alone,
    against the LLM blind (the same prompts without tokens). Needs `adapters_dir/projector`."""
    from videothought.agent.llm.local import LocalLanguageModel
    from videothought.evals.world.config import SHAPES
    from videothought.perception.attributes import COLOUR_NAMES

    if not adapters_dir:
        raise ProjectorError("the projector metrics need --adapters DIR holding projector/")
    folder = Path(adapters_dir) / "projector"
    lm = LocalLanguageModel.embedded(dtype="float32")
    projector = VisualProjector.from_pretrained(folder, model=lm.model)
    cache = cache or Path("runs/nodes/projector-data") / f"eval-{Path(world_root).name}.safetensors"
    if not cache.is_file():
        from videothought.perception.encoder import load_default_encoder

        save_visual_examples(cache, world_visual_examples([Path(world_root)], load_default_encoder(),
                                                          regions_per_track=1, frames_per_clip=8))
    data = load_visual_examples(cache)
    videos = sorted(set(data["video"]))[:limit_videos]
    keep = [i for i, v in enumerate(data["video"]) if v in videos]
    colours = [c for c in COLOUR_NAMES if c in set(data["colour"])] or list(COLOUR_NAMES)
    shapes = list(SHAPES)
    rng = np.random.default_rng(0)
    counts = {k: [0, 0] for k in ("colour", "shape", "caption")}  # [with tokens, blind]
    totals = {k: 0 for k in counts}
    captions = [i for i in keep if data["kind"][i] == "clip"]
    with torch.inference_mode():
        for i in keep:
            tokens = projector(torch.from_numpy(data["embeddings"][i : i + 1]))[0]  # (K, H)
            if data["kind"][i] == "region":
                for key, names in (("colour", colours), ("shape", shapes)):
                    question = REGION_PROMPTS[0][0] if key == "colour" else REGION_PROMPTS[1][0]
                    truth = names.index(data[key][i]) if data[key][i] in names else None
                    if truth is None:
                        continue
                    totals[key] += 1
                    for slot, visual in ((0, tokens), (1, None)):
                        scores = score_with_visual(lm.model, lm.tokenizer, visual, visual_messages(question),
                                                   list(names))
                        counts[key][slot] += int(np.argmax(scores) == truth)
            else:
                others = [j for j in captions if data["video"][j] != data["video"][i]]
                if len(others) < 4:
                    continue
                options = [i] + list(rng.choice(others, size=4, replace=False))
                texts = [data["text"][j] for j in options]
                lengths = [max(1, len(lm.tokenizer(t, add_special_tokens=False)["input_ids"])) for t in texts]
                totals["caption"] += 1
                for slot, visual in ((0, tokens), (1, None)):
                    scores = score_with_visual(lm.model, lm.tokenizer, visual, visual_messages(CLIP_PROMPT), texts)
                    counts["caption"][slot] += int(np.argmax(np.array(scores) / np.array(lengths)) == 0)
    result = {}
    for key in counts:
        n = max(1, totals[key])
        result[f"{key}_accuracy_visual"] = counts[key][0] / n
        result[f"{key}_accuracy_blind"] = counts[key][1] / n
        result[f"{key}_items"] = totals[key]
    result["chance"] = {"colour": 1 / len(colours), "shape": 1 / len(shapes), "caption": 0.2}
    return result
