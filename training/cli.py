"""`vot train`: encoder pretraining now (LLM node post-training stages later).

    vot train encoder --config training/recipes/encoder/aoe_world_v1.yaml [--no-resume]
    vot train eval-encoder --checkpoint perception/checkpoints/aoe-world-v1 --world data/world-heldout
    accelerate launch -m videothought.training.cli encoder --config R.yaml   # several GPUs
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


def run(args: argparse.Namespace) -> int:
    if args.train_command == "encoder":
        return _train_encoder(args)
    if args.train_command == "eval-encoder":
        return _eval_encoder(args)
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


def main(argv: list[str] | None = None) -> int:
    """For `accelerate launch -m videothought.training.cli encoder --config R.yaml`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="vot train")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
