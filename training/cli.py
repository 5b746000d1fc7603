"""`vot train`: encoder pretraining and the LLM nodes' post-training stages.

    vot train encoder --config training/recipes/encoder/aoe_world_v1.yaml [--no-resume]
    vot train eval-encoder --checkpoint perception/checkpoints/aoe-world-v1 --world data/world-heldout
    vot train nodes --config training/recipes/nodes/lora.yaml [--no-resume]     # stages 1, 2, 4
    vot train eval-nodes --adapters runs/nodes/lora --world runs/worlds/w7 --limit 200 --family heldout
    vot train calibrate --adapters runs/nodes/dpo-verify --seeds 115-119    # the verify verdict's threshold
    vot train probe-node --node verify --train runs/nodes/data/train.jsonl --eval runs/nodes/data/eval-w7-original.jsonl
    accelerate launch -m videothought.training.cli encoder --config R.yaml   # several GPUs
    accelerate launch -m videothought.training.cli nodes --config R.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="train_command", metavar="STAGE")
    commands.required = True
    encoder = commands.add_parser("encoder", help="contrastive pretraining of the AoE video encoder")
    encoder.add_argument("--config", required=True, help="a recipe, e.g. training/recipes/encoder/aoe_world_v1.yaml")
    encoder.add_argument("--no-resume", action="store_true", help="start over even if OUTPUT has checkpoints")
    encoder.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation after training")
    evaluate = commands.add_parser("eval-encoder", help="region labelling and text-to-video retrieval on held-out world clips")
    evaluate.add_argument("--checkpoint", default=None, help="encoder folder (default: the shipped checkpoint)")
    evaluate.add_argument("--world", required=True, help="a held-out world folder (generated when missing)")
    evaluate.add_argument("--videos", type=int, default=100)
    evaluate.add_argument("--seed", type=int, default=1000, help="world seed used if the folder must be generated")
    evaluate.add_argument("--frames-per-video", type=int, default=8)
    nodes = commands.add_parser("nodes", help="post-train the LLM nodes: projector, per-node LoRA, cold-start VoT SFT")
    nodes.add_argument("--config", required=True, help="a recipe, e.g. training/recipes/nodes/lora.yaml")
    nodes.add_argument("--no-resume", action="store_true", help="start over even if OUTPUT has checkpoints")
    nodes.add_argument("--data-only", action="store_true", help="build the node examples and stop")
    evaluate_nodes = commands.add_parser("eval-nodes", help="per-node metrics on a world seed never trained on")
    evaluate_nodes.add_argument("--adapters", default=None,
                                help="a stage output or shipped adapters folder (default: none, the untrained LLM)")
    evaluate_nodes.add_argument("--world", required=True, help="an evaluation world (seed 7: generated when missing)")
    evaluate_nodes.add_argument("--seed", type=int, default=7, help="world seed used if the folder must be generated")
    evaluate_nodes.add_argument("--videos", type=int, default=25)
    evaluate_nodes.add_argument("--limit", type=int, default=200, help="questions (the first N)")
    evaluate_nodes.add_argument("--family", default="original", choices=["original", "train", "heldout"],
                                help="the wording: the world's own, or a reword family")
    evaluate_nodes.add_argument("--metrics", default="grounding,rank,verify,targets,actions",
                                help="comma-separated: grounding,rank,verify,targets,actions,trace,projector,blind,nextqa")
    evaluate_nodes.add_argument("--nextqa", default="../shared/data/nextqa/val.csv",
                                help="NExT-QA val.csv for the question-only check on real wording")
    evaluate_nodes.add_argument("--generate-limit", type=int, default=40, help="questions for generation metrics")
    evaluate_nodes.add_argument("--nextqa-limit", type=int, default=None,
                                help="NExT-QA val questions for the nextqa metric (default: --limit)")
    evaluate_nodes.add_argument("--cache-dir", default="runs/nodes/stsg-cache", help="tracked STSG cache")
    evaluate_nodes.add_argument("--out", default=None, help="write the metrics JSON here too")
    evaluate_nodes.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the machine is shared)")

    calibrate = commands.add_parser("calibrate", help="fit the verify adapter's verdict threshold on calibration seeds")
    calibrate.add_argument("--adapters", required=True, help="a stage output or shipped adapters folder")
    calibrate.add_argument("--seeds", default="115-119",
                           help="calibration world seeds, A-B or A,B,... (never evaluation seeds nor the adapter's "
                                "training seeds)")
    calibrate.add_argument("--worlds-dir", default="runs/worlds", help="where the seeds' worlds live (made when missing)")
    calibrate.add_argument("--videos-per-seed", type=int, default=3)
    calibrate.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the machine is shared)")

    probe = commands.add_parser("probe-node", help="is a yes/no node's decision in the frozen model? a linear probe")
    probe.add_argument("--node", default="verify", help="verify, or rank_answers (its rate_candidate rows)")
    probe.add_argument("--train", required=True, help="node examples (JSONL) the probe is fitted on")
    probe.add_argument("--eval", required=True, help="node examples (JSONL) of a world never trained on")
    probe.add_argument("--train-limit", type=int, default=600)
    probe.add_argument("--eval-limit", type=int, default=200)
    probe.add_argument("--layers", default="-1,-8,-15", help="hidden-state layers whose last-token states are read")
    probe.add_argument("--base-model", default="embedded", help="embedded, tiny-random, or a local checkpoint folder")
    probe.add_argument("--adapters", default=None, help="a stage output: read the states with its node adapter on")
    probe.add_argument("--seed", type=int, default=0)
    probe.add_argument("--out", default=None, help="write the result JSON here too")
    probe.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the machine is shared)")

def run(args: argparse.Namespace) -> int:
    if args.train_command == "encoder":
        return _train_encoder(args)
    if args.train_command == "eval-encoder":
        return _eval_encoder(args)
    if args.train_command == "nodes":
        return _train_nodes(args)
    if args.train_command == "eval-nodes":
        return _eval_nodes(args)
    if args.train_command == "probe-node":
        return _probe_node(args)
    if args.train_command == "calibrate":
        return _calibrate(args)
    raise SystemExit(f"vot train: unknown stage {args.train_command!r}")


def _train_encoder(args) -> int:
    from videothought.training.encoder.train import Recipe, RecipeError, train_encoder

    try:
        recipe = Recipe.load(args.config)
    except RecipeError as error:
        print(f"vot train encoder: {error}", file=sys.stderr)
        return 2
    summary = train_encoder(recipe, resume=not args.no_resume)
    history = summary.pop("history")
    encoder = summary.pop("encoder")
    if history:
        summary["first_loss"] = history[0]["loss"]
        summary["last_loss"] = history[-1]["loss"]
    if recipe.eval_world is not None and not args.no_eval:
        summary["eval"] = _evaluate(encoder, recipe.eval_world, recipe.eval_frames_per_clip)
    print(json.dumps(summary))
    return 0


def _evaluate(encoder, world_spec, frames_per_video: int) -> dict:
    from videothought.perception.encoder.loading import VideoEncoderBundle
    from videothought.training.encoder.data import load_world_examples
    from videothought.training.encoder.evaluate import evaluate_encoder
    from videothought.training.encoder.train import ensure_world

    root = ensure_world(world_spec)
    examples = load_world_examples(root, frames_per_video, world_spec.videos, progress=True)
    return evaluate_encoder(VideoEncoderBundle(encoder.eval()), examples, progress=True)


def _eval_encoder(args) -> int:
    from videothought.perception.encoder.loading import EncoderCheckpointError, default_checkpoint, load_encoder
    from videothought.training.encoder.train import WorldSpec

    try:
        bundle = load_encoder(args.checkpoint or default_checkpoint())
    except EncoderCheckpointError as error:
        print(f"vot train eval-encoder: {error}", file=sys.stderr)
        return 2
    spec = WorldSpec(dir=args.world, videos=args.videos, seed=args.seed, frames_per_video=args.frames_per_video)
    result = _evaluate(bundle.model, spec, args.frames_per_video)
    result["checkpoint"] = str(args.checkpoint or default_checkpoint())
    result["world"] = args.world
    print(json.dumps(result))
    return 0


def _train_nodes(args) -> int:
    from videothought.training.nodes.models import AdapterMismatchError
    from videothought.training.nodes.recipe import NodeRecipe, RecipeError

    _readable_logs()
    try:
        recipe = NodeRecipe.load(args.config)
    except RecipeError as error:
        print(f"vot train nodes: {error}", file=sys.stderr)
        return 2
    try:
        if args.data_only:
            from videothought.training.nodes.pipeline import ensure_examples

            print(json.dumps({"examples": str(ensure_examples(recipe))}))
            return 0
        from videothought.training.nodes.pipeline import run_stage

        summary = run_stage(recipe, resume=not args.no_resume)
    except (AdapterMismatchError, FileNotFoundError, ValueError) as error:
        print(f"vot train nodes: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def _probe_node(args) -> int:
    from pathlib import Path

    import torch

    from videothought.training.nodes.data import read_jsonl
    from videothought.training.nodes.evaluate import stage_adapters, write_json
    from videothought.training.nodes.models import AdapterMismatchError, check_adapter_fits, load_base
    from videothought.training.nodes.probe import ProbeDataError, labelled_rows, probe_node

    _readable_logs()
    torch.set_num_threads(args.threads)
    try:
        layers = tuple(int(part) for part in args.layers.split(",") if part.strip())
        for name in ("train", "eval"):
            if not Path(getattr(args, name)).is_file():
                raise FileNotFoundError(f"--{name}: no node examples file {getattr(args, name)}")
        rows = {}
        for name in ("train", "eval"):
            try:
                rows[name] = read_jsonl(Path(getattr(args, name)))
            except ValueError as error:  # json.JSONDecodeError
                raise ValueError(f"--{name}: {getattr(args, name)} is not JSON lines ({error})") from None
        train = labelled_rows(rows["train"], args.node, args.train_limit, args.seed)
        held = labelled_rows(rows["eval"], args.node, args.eval_limit, args.seed)
        model, tokenizer = load_base(args.base_model, seed=args.seed)
        if not layers or any(not -model.config.num_hidden_layers - 1 <= layer <= model.config.num_hidden_layers
                             for layer in layers):
            raise ValueError(f"--layers {args.layers!r}: the model has hidden states 0..{model.config.num_hidden_layers}")
        if args.adapters:
            from peft import PeftModel

            folder = stage_adapters(args.adapters).get(args.node)
            if folder is None:
                raise FileNotFoundError(f"{args.adapters} holds no {args.node!r} adapter")
            check_adapter_fits(folder, model, expected_node=args.node)
            model = PeftModel.from_pretrained(model, folder)
    except (ProbeDataError, FileNotFoundError, AdapterMismatchError, ValueError) as error:
        print(f"vot train probe-node: {error}", file=sys.stderr)
        return 2
    result = {"adapters": args.adapters, **probe_node(model, tokenizer, args.node, train, held, layers=layers, seed=args.seed)}
    if args.out:
        write_json(Path(args.out), result)
    print(json.dumps(result))
    return 0


def _eval_nodes(args) -> int:
    import time
    from pathlib import Path

    import torch

    from videothought.agent.context import VoTSettings
    from videothought.training.nodes.data import ensure_world, perception_context, worded_questions
    from videothought.training.nodes.evaluate import NodeEvaluation, load_stage_lm, write_json
    from videothought.training.nodes.models import AdapterMismatchError

    _readable_logs()
    torch.set_num_threads(args.threads)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    known = {"grounding", "rank", "verify", "targets", "actions", "trace", "projector", "blind", "nextqa"}
    if set(metrics) - known:
        print(f"vot train eval-nodes: unknown metrics {sorted(set(metrics) - known)}; known: {sorted(known)}",
              file=sys.stderr)
        return 2
    root = ensure_world(Path(args.world), args.seed, args.videos)
    if args.seed != 7 and not (1000 <= args.seed <= 1100):
        logging.getLogger(__name__).warning("seed %d is not an evaluation seed (7, 1000-1100)", args.seed)
    result: dict = {"adapters": args.adapters, "world": str(root), "family": args.family, "limit": args.limit}
    started = time.perf_counter()
    if "projector" in metrics:
        from videothought.training.nodes.projector import evaluate_projector

        result["projector"] = evaluate_projector(args.adapters, root, limit_videos=args.videos)
    text_metrics = [m for m in metrics if m != "projector"]
    if text_metrics:
        family = None if args.family == "original" else args.family
        items = worded_questions(root, family=family, rewordings=1, include_original=family is None, limit=args.limit)
        evaluation = NodeEvaluation(items, perception_context(args.cache_dir), generate_limit=args.generate_limit)
        if set(text_metrics) - {"blind", "nextqa", "verify"}:  # these read the question and the truth, not the video
            evaluation.prepare()
        try:
            lm = load_stage_lm(args.adapters)
        except (AdapterMismatchError, FileNotFoundError) as error:
            print(f"vot train eval-nodes: {error}", file=sys.stderr)
            return 2
        result["questions"] = len(items)
        settings = VoTSettings()
        if "grounding" in text_metrics:
            result.update(evaluation.grounding())
        if "rank" in text_metrics:
            result.update(evaluation.rank(lm, settings))
        if "verify" in text_metrics:
            result.update(evaluation.verify(lm))
        if "targets" in text_metrics:
            result.update(evaluation.targets(lm))
        if "actions" in text_metrics:
            result.update(evaluation.actions(lm, settings.max_new_tokens))
        if "trace" in text_metrics:
            result.update(evaluation.trace(lm))
        if "blind" in text_metrics:
            from videothought.training.nodes.evaluate import blind_accuracy

            result["blind"] = blind_accuracy(lm, [(i.question, i.choices, i.answer) for i in items])
        if "nextqa" in text_metrics:
            from videothought.training.nodes.evaluate import blind_accuracy, nextqa_questions

            result["nextqa_blind"] = blind_accuracy(lm, nextqa_questions(args.nextqa, args.nextqa_limit or args.limit))
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        write_json(Path(args.out), result)
    print(json.dumps(result))
    return 0


def parse_seeds(text: str) -> list[int]:
    """"115-119" -> [115, ..., 119]; "115,117" -> [115, 117]; anything else is a ValueError naming it."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"seeds must be A-B or A,B,...; got {text!r}") from None
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def _calibrate(args) -> int:
    import torch

    from videothought.training.nodes.calibrate import CalibrationError, calibrate_adapter
    from videothought.training.nodes.models import AdapterMismatchError

    _readable_logs()
    torch.set_num_threads(args.threads)
    try:
        verdict = calibrate_adapter(args.adapters, parse_seeds(args.seeds), worlds_dir=args.worlds_dir,
                                    videos_per_seed=args.videos_per_seed)
    except (CalibrationError, AdapterMismatchError, ValueError) as error:
        print(f"vot train calibrate: {error}", file=sys.stderr)
        return 2
    print(json.dumps(verdict))
    return 0


def _readable_logs() -> None:
    """INFO lines with a time stamp for this package (trl and transformers keep their own levels)."""
    logger = logging.getLogger("videothought")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """For `accelerate launch -m videothought.training.cli encoder --config R.yaml`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="vot train")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
