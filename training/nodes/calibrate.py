"""The verify adapter's verdict threshold, calibrated on worlds its adapter never trained on.

    vot train calibrate --adapters runs/nodes/dpo-verify --seeds 115-119

The verify node's greedy verdict compares the adapter's log-odds of "yes" (log p(" yes") - log
p(" no") after the cognition-check prompt) with 0. Post-training moves that prior: on seed 7 the
GRPO, rejection and DPO stages tipped 94-99 % of verdicts onto "yes" while the right option kept
the higher log-odds on 80-83 % of questions (docs/training.md, "Verify v6"). The calibrated
reading compares the log-odds with a threshold fitted here, on checks of calibration seeds: each
question's right option and one wrong one, in the training wordings (the world's own and the
"train" rewording family; never the held-out family, never evaluation seeds, never the seeds the
adapter's recipe trained on). The threshold is written into the adapter's card
(videothought-adapter.json, "verdict"), where the graph's verify node and `eval-nodes` read it.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from videothought.agent import prompts
from videothought.training.nodes.data import (
    NodeDataError,
    check_training_seeds,
    ensure_world,
    reference_analysis,
    worded_questions,
)
from videothought.training.nodes.models import ADAPTER_CARD, read_adapter_card

logger = logging.getLogger(__name__)


class CalibrationError(ValueError):
    """Calibration cannot run as asked (seeds, adapters folder, too few checks); the message says why."""


def calibration_checks(world_dirs: list[Path], *, rewordings: int = 1, seed: int = 0) -> list[dict]:
    """Verify checks of the worlds' questions: per worded question its right option and one wrong
    option drawn at random, each {"prompt", "correct", "qid", "wording"}. The prompt is the
    cognition check over the reference analysis, as the node data and `eval-nodes` build it."""
    rng = random.Random(seed)
    checks = []
    for root in world_dirs:
        for item in worded_questions(root, family="train", rewordings=rewordings, include_original=True):
            analysis = reference_analysis(item.evidence, item.truth_doc)
            wrong = rng.choice([i for i in range(len(item.choices)) if i != item.answer])
            for index, correct in ((item.answer, True), (wrong, False)):
                checks.append({"prompt": prompts.cognition_check(item.question, analysis, item.choices[index]),
                               "correct": correct, "qid": item.qid, "wording": item.wording})
    return checks


def verdict_log_odds(lm, checks: list[dict], *, node: str = "verify", progress: bool = False) -> list[float]:
    """log p(" yes") - log p(" no") of each check, with the node's adapter active."""
    from tqdm.auto import tqdm

    from videothought.agent.llm.protocol import adapter_scope

    out = []
    with adapter_scope(lm, node):
        for check in tqdm(checks, desc=f"{node} log-odds", disable=not progress):
            yes, no = lm.score(check["prompt"], [" yes", " no"])
            out.append(float(yes - no))
    return out


def fit_threshold(log_odds: list[float], correct: list[bool]) -> dict:
    """The threshold t that makes `log_odds > t` ("yes") agree with `correct` most often.

    Candidates are the midpoints between neighbouring distinct values (and one below the least,
    one above the greatest); of equally good ones the middle is taken, so a plateau's edge (one
    check away from a worse accuracy) is not. Returns threshold, its accuracy and yes share, and
    the accuracy and yes share of the uncalibrated reading (t = 0)."""
    if len(log_odds) != len(correct):
        raise CalibrationError(f"{len(log_odds)} log-odds but {len(correct)} labels")
    if not any(correct) or all(correct):
        raise CalibrationError("calibration needs right and wrong checks both; got only one kind")
    values = sorted(set(log_odds))
    candidates = [values[0] - 1.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1.0]

    def accuracy(threshold: float) -> float:
        return sum((m > threshold) == c for m, c in zip(log_odds, correct)) / len(log_odds)

    scored = [(accuracy(t), t) for t in candidates]
    best = max(a for a, _ in scored)
    plateau = [t for a, t in scored if a == best]
    threshold = plateau[len(plateau) // 2]
    return {"threshold": round(threshold, 6), "accuracy": best,
            "yes_share": sum(m > threshold for m in log_odds) / len(log_odds),
            "accuracy_at_zero": accuracy(0.0), "yes_share_at_zero": sum(m > 0 for m in log_odds) / len(log_odds)}


def _recipe_seeds(card: dict) -> set[int]:
    """The training seeds of the recipe that wrote an adapter (empty when the card names none readable)."""
    recipe = card.get("recipe")
    if not recipe or not Path(recipe).is_file():
        logger.warning("the adapter's card names no readable recipe (%r): its training seeds are not checked", recipe)
        return set()
    from videothought.training.nodes.recipe import NodeRecipe, RecipeError

    try:
        return set(NodeRecipe.load(recipe).data.seeds)
    except RecipeError as error:
        logger.warning("cannot read the adapter's recipe %s (%s): its training seeds are not checked", recipe, error)
        return set()


def calibrate_adapter(adapters: str | Path, seeds: list[int], *, worlds_dir: str | Path = "runs/worlds",
                      videos_per_seed: int = 3, node: str = "verify", min_checks: int = 20, lm=None,
                      progress: bool = True) -> dict:
    """Fit the threshold of `adapters`' `node` adapter (a stage output or a shipped folder) on the
    calibration seeds' checks and write it into that adapter's card as "verdict". Returns the card's
    new "verdict" entry. `lm`: the embedded LLM with the adapter loaded (default: loaded here)."""
    from videothought.training.nodes.evaluate import load_stage_lm, stage_adapters

    try:
        seeds = check_training_seeds(seeds)
    except NodeDataError as error:
        raise CalibrationError(f"calibration seeds: {error}") from None
    try:
        folder = Path(stage_adapters(adapters).get(node) or "")
    except FileNotFoundError as error:
        raise CalibrationError(str(error)) from None
    if not (folder / ADAPTER_CARD).is_file():
        raise CalibrationError(f"{adapters} holds no {node!r} adapter with a {ADAPTER_CARD}")
    card = read_adapter_card(folder)
    trained_on = sorted(set(seeds) & _recipe_seeds(card))
    if trained_on:
        raise CalibrationError(f"calibration seeds {trained_on} are seeds the adapter was trained on "
                               f"({card.get('recipe')}): choose others")
    roots = [ensure_world(Path(worlds_dir) / f"w{seed}", seed, videos_per_seed) for seed in seeds]
    checks = calibration_checks(roots)
    if len(checks) < min_checks:
        raise CalibrationError(f"only {len(checks)} calibration checks from seeds {seeds}; at least {min_checks} needed")
    lm = lm if lm is not None else load_stage_lm(str(adapters))
    log_odds = verdict_log_odds(lm, checks, node=node, progress=progress)
    verdict = {**fit_threshold(log_odds, [c["correct"] for c in checks]), "checks": len(checks), "seeds": seeds}
    card["verdict"] = verdict
    temporary = folder / f"{ADAPTER_CARD}.tmp"
    temporary.write_text(json.dumps(card, indent=1) + "\n")
    temporary.replace(folder / ADAPTER_CARD)
    logger.info("%s: threshold %.3f (accuracy %.3f; at 0: %.3f, yes %.2f) on %d checks of seeds %s", folder,
                verdict["threshold"], verdict["accuracy"], verdict["accuracy_at_zero"], verdict["yes_share_at_zero"],
                len(checks), seeds)
    return verdict


def calibrate_stage(recipe, *, progress: bool = True) -> dict:
    """Calibrate the verify adapter a stage just wrote (recipe.data.calibration_seeds), on the
    recipe's own base model (so CI's tiny random model calibrates too)."""
    from videothought.agent.llm.local import LocalLanguageModel
    from videothought.training.nodes.evaluate import stage_adapters
    from videothought.training.nodes.models import load_base

    model, tokenizer = load_base(recipe.base_model, seed=recipe.train.seed)
    folder = stage_adapters(recipe.output_dir).get("verify")
    if folder is None:
        raise CalibrationError(f"{recipe.output_dir} holds no verify adapter to calibrate")
    lm = LocalLanguageModel(model, tokenizer, name=recipe.base_model, adapters={"verify": folder})
    return calibrate_adapter(recipe.output_dir, recipe.data.calibration_seeds, worlds_dir=recipe.data.worlds_dir,
                             videos_per_seed=recipe.data.videos_per_seed, lm=lm, progress=progress)
