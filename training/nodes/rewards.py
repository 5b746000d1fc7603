"""Rewards of the RL stages (3 GRPO, 5 rejection sampling, 6 DPO pairs): plain functions of one
completion's text and the truth of its question, from the synthetic world (never from a model).

    truth = {"question", "choices", "answer",                 # the question and its right option
             "targets": ["pink star"],                          # the question's phrases naming the evidence objects
             "objects": ["pink star", "purple circle"],         # the evidence objects' true labels
             "events": [{"type": "collide", "labels": [..], "frame": 31}, ...],        # evidence, in time order
             "scene_events": [...],                              # every true event of the video
             "correct": bool}                                    # verify / rating rows: is the shown option right

The cold-start trace (stage 4's completion, `data.trace_text`) is five lines:

    Step 1 (targets): pink star, purple circle.
    Step 2 (tracks): pink star -> track 3; purple circle -> track 1.
    Step 3 (actions): At 2.4s the pink star collides with the purple circle. At 3.1s ...
    Step 4 (answer): (B) it bounces off the top edge
    Step 5 (verify): the facts agree with the answer.

Rewards of a trace, each in [0, 1]:

    format    the five steps in order, each non-empty, Step 4 parses to exactly one option
              (the same parser `vot train eval-nodes` uses: unparsable is wrong)
    answer    Step 4's option is the right one
    targets   recall of the evidence objects in Step 1, zeroed when most named targets are not
              evidence objects (naming everything earns nothing)
    events    the events Step 3 claims happened (a true event of that type, with the objects it
              names), in the true order, times the recall of the evidence events; a trace that reads
              shuffled or time-reversed evidence reports the events out of order and earns 0 here
    verdict   Step 5 agrees with the answer exactly when the answer is right (0 without an answer)

With `steps_need_format`, targets and events are earned only by a trace that has the format (all
five steps, one option in Step 4): a rollout that names the targets and never reaches an answer earns
nothing, so GRPO's advantage ranks complete traces by their steps instead of rewarding Step 1 and
Step 3 alone (what the unweighted v3 run did, losing Step 4's letter).

Every reward is multiplied by `hacking_gate`: 0 for a completion that names every option (or
several in Step 4), that repeats the question, or that runs far over the length budget; the
gate falls linearly from 1 at the budget to 0 at `overlong_factor` x the budget. A completion with
only the format (headers, no content) earns 0 from every reward, since each asks for content.

Step 2 (the phrase -> track links) is not rewarded: those links are the agent's code output
copied into the trace, and track ids have no counterpart in the world's truth without a box
matching pass (evaluate.track_to_truth), which a reward on text alone cannot run.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from videothought.training.nodes.evaluate import parse_trace_answer

STEP_NAMES = ("targets", "tracks", "actions", "answer", "verify")
_STEP = re.compile(r"Step\s*([1-5])\s*(?:\(([a-z]+)\))?\s*:", re.IGNORECASE)
# verb stems that make a Step 3 sentence an event claim (word-initial). Narrower than data.EVENT_WORDS,
# which serves recall: "left" (a direction), "moving" (track descriptions) and "rest" would turn every
# description into a false claim here.
CLAIM_VERBS = {
    "collide": ("collid", "hits", "hit ", "bump", "crash"), "push": ("push",), "enter": ("enter", "arriv"),
    "exit": ("leav", "exit"), "appear": ("appear",), "disappear": ("disappear", "vanish"),
    "start": ("starts", "start ", "begin"), "stop": ("stop", "halt", "comes to rest"),
    "turn": ("turn", "bounc", "revers", "rebound"), "occluded": ("hidden", "occlud"), "approach": ("approach",),
}
_AFFIRM = re.compile(r"\b(agree|agrees|yes|consistent|supports?|correct|confirmed?)\b")
_DENY = re.compile(r"\b(no|not|disagree|disagrees|contradicts?|wrong|incorrect)\b")


@dataclass(frozen=True)
class RewardConfig:
    length_budget_words: int = 120  # a reference trace is 40-110 words; the node's generation budget is ~160 tokens
    overlong_factor: float = 1.5  # at 1.5x the budget the gate is 0: "far over" earns nothing
    min_target_precision: float = 0.5  # under this share of named targets being evidence objects, targets earn 0
    question_echo_share: float = 0.8  # a run of this share of the question's words, copied, is an echo
    steps_need_format: bool = False  # the trace's step rewards (targets, events) only for a complete trace

    def __post_init__(self):
        if self.length_budget_words < 1:
            raise ValueError(f"length_budget_words must be >= 1, got {self.length_budget_words!r}")
        if self.overlong_factor <= 1:
            raise ValueError(f"overlong_factor must be > 1, got {self.overlong_factor!r}")
        if not 0 <= self.min_target_precision <= 1 or not 0 < self.question_echo_share <= 1:
            raise ValueError(f"min_target_precision and question_echo_share are shares in [0, 1], got "
                             f"{self.min_target_precision!r}, {self.question_echo_share!r}")


DEFAULT = RewardConfig()


# ---- parsing a trace ---------------------------------------------------------------------------------
def trace_steps(text: str) -> dict[int, str]:
    """{step number: its text} for the steps written in increasing order; a repeated or
    out-of-order header ends the parse (what follows is not the trace)."""
    matches = list(_STEP.finditer(text))
    steps: dict[int, str] = {}
    last = 0
    for index, match in enumerate(matches):
        number = int(match.group(1))
        name = (match.group(2) or "").lower()
        if number <= last or (name and name != STEP_NAMES[number - 1]):
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        steps[number] = text[match.end():end].strip()
        last = number
    return steps


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+|\n", text) if s.strip()]


def _named_labels(sentence: str, labels: list[str]) -> list[str]:
    low = " " + " ".join(_words(sentence)) + " "
    return [label for label in labels if f" {' '.join(_words(label))} " in low]


def _claim_types(sentence: str) -> set[str]:
    low = " " + sentence.lower() + " "
    found = set()
    for kind, stems in CLAIM_VERBS.items():
        if any(re.search(r"(?<![a-z])" + re.escape(stem), low) for stem in stems):
            found.add(kind)
    return found  # "disappears" is no "appear" claim: stems match at a word's start only


# ---- the rewards ---------------------------------------------------------------------------------------
def format_reward(completion: str, truth: dict) -> float:
    steps = trace_steps(completion)
    if set(steps) != {1, 2, 3, 4, 5} or any(not _words(steps[k]) for k in steps):
        return 0.0
    return float(parse_trace_answer(completion, len(truth["choices"])) is not None and _single_option(steps[4], truth))


def answer_reward(completion: str, truth: dict) -> float:
    steps = trace_steps(completion)
    if 4 not in steps or not _single_option(steps[4], truth):
        return 0.0
    return float(parse_trace_answer(completion, len(truth["choices"])) == int(truth["answer"]))


def _single_option(step4: str, truth: dict) -> bool:
    """Step 4 names one option: one option letter, and no second option's text."""
    letters = set(re.findall(r"(?<![A-Za-z])([A-E])[.)]", step4))
    if len(letters) != 1:
        return False
    named = [c for c in truth["choices"] if _contains_phrase(step4, c)]
    return len(named) <= 1 or len({_norm(c) for c in named}) == 1 or _nested(named)


def _nested(named: list[str]) -> bool:
    """Two named options where one contains the other ("the red star" in "the red star and the cube")."""
    texts = sorted({_norm(c) for c in named}, key=len)
    return len(texts) == 2 and f" {texts[0]} " in f" {texts[1]} "


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _contains_phrase(text: str, phrase: str) -> bool:
    phrase = _norm(phrase)
    return bool(phrase) and f" {phrase} " in f" {_norm(text)} "


_ARTICLES = frozenset({"the", "a", "an", "its", "their"})


def _same_phrase(a: str, b: str) -> bool:
    """One phrase's content words contain the other's ("the star" names "pink star")."""
    x, y = set(_words(a)) - _ARTICLES, set(_words(b)) - _ARTICLES
    return bool(x) and bool(y) and (x <= y or y <= x)


def target_reward(completion: str, truth: dict, config: RewardConfig = DEFAULT) -> float:
    steps = trace_steps(completion)
    named = [p.strip() for p in re.split(r"[,;]| and ", (steps.get(1) or "").rstrip(".")) if _words(p)]
    named = [p for p in named if _norm(p) not in ("none", "nothing")]
    references = list(truth.get("targets") or []) + list(truth.get("objects") or [])
    if not references:
        return 1.0 if not named else 0.0
    if not named:
        return 0.0
    precision = sum(any(_same_phrase(p, r) for r in references) for p in named) / len(named)
    if precision < config.min_target_precision:
        return 0.0
    wanted = list(truth.get("targets") or truth.get("objects") or [])
    objects = list(truth.get("objects") or [])
    found = 0
    for target in wanted:
        found += any(_same_phrase(p, target) for p in named) or any(_same_phrase(p, o) for p in named for o in objects
                                                                    if _same_phrase(o, target))
    return found / len(wanted)


def event_claims(text: str, labels: list[str]) -> list[tuple[set[str], list[str]]]:
    """(event types, object labels named) per sentence of `text` that claims an event."""
    claims = []
    for sentence in _sentences(text):
        kinds = _claim_types(sentence)
        if kinds:
            claims.append((kinds, _named_labels(sentence, labels)))
    return claims


def _matches(claim: tuple[set[str], list[str]], event: dict) -> bool:
    kinds, named = claim
    return event["type"] in kinds and bool(named) and set(named) <= set(event.get("labels") or [])


def event_reward(completion: str, truth: dict) -> float:
    """precision (claimed events that happened, with the objects named) x recall (evidence events
    claimed) x order (the claims can be assigned true events in non-decreasing time)."""
    scene = list(truth.get("scene_events") or []) or list(truth.get("events") or [])
    evidence = list(truth.get("events") or [])
    labels = sorted({label for e in scene + evidence for label in e.get("labels") or []} | set(truth.get("objects") or []),
                    key=len, reverse=True)
    text = trace_steps(completion).get(3, "")
    if not _words(text):
        return 0.0
    claims = event_claims(text, labels)
    if not claims:
        return 1.0 if not evidence else 0.0
    happened = [[e for e in scene if _matches(c, e)] for c in claims]
    precision = sum(bool(h) for h in happened) / len(claims)
    recall = (sum(any(_matches(c, e) for c in claims) for e in evidence) / len(evidence)) if evidence else 1.0
    time = -1
    for options in happened:  # greedy: the earliest true event not before the previous claim's
        later = [int(e.get("frame", 0)) for e in options if int(e.get("frame", 0)) >= time]
        if options and not later:
            return 0.0
        if later:
            time = min(later)
    return precision * recall


def verdict_reward(completion: str, truth: dict) -> float:
    """Step 5 agrees exactly when Step 4's option is right; without a parsable answer it earns 0 (a
    trace with no answer and a doubting Step 5 was the first thing GRPO found to score)."""
    steps = trace_steps(completion)
    if 5 not in steps or not _words(steps[5]):
        return 0.0
    chosen = parse_trace_answer(completion, len(truth["choices"])) if 4 in steps else None
    affirms = _affirms(steps[5])
    if affirms is None or chosen is None:  # no answer, nothing to verify: "no" to nothing earns nothing
        return 0.0
    return float(affirms == (chosen == int(truth["answer"])))


def _affirms(text: str) -> bool | None:
    low = text.lower()
    if _DENY.search(low):
        return False
    if _AFFIRM.search(low):
        return True
    return None


def verify_node_reward(completion: str, truth: dict) -> float:
    """The verify node (cognition_check): its first word, yes or no, is right for the shown option."""
    words = _words(completion)
    if not words or words[0] not in ("yes", "no"):
        return 0.0
    return float((words[0] == "yes") == bool(truth["correct"]))


def rating_reward(completion: str, truth: dict) -> float:
    """rank_answers' rating (rate_candidate): a leading 0-10 score, >= 6 for the right option, <= 4 otherwise."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", completion)
    if not match or float(match.group(1)) > 10:
        return 0.0
    score = float(match.group(1))
    return float(score >= 6) if truth["correct"] else float(score <= 4)


# ---- reward hacking ------------------------------------------------------------------------------------
def names_every_option(completion: str, truth: dict) -> bool:
    """Every option's text in the completion (options of 2+ words), or 2+ options in Step 4."""
    choices = truth.get("choices") or []
    long = [c for c in choices if len(_words(c)) >= 2]
    if len(choices) >= 3 and len(long) == len(choices) and all(_contains_phrase(completion, c) for c in choices):
        return True
    step4 = trace_steps(completion).get(4)
    if step4 is not None:
        return not _single_option(step4, truth) and len(set(re.findall(r"(?<![A-Za-z])([A-E])[.)]", step4))) > 1
    return False


def repeats_question(completion: str, truth: dict, config: RewardConfig = DEFAULT) -> bool:
    question = _words(truth.get("question") or "")
    if len(question) < 4:
        return False
    words = _words(completion)
    match = difflib.SequenceMatcher(None, question, words, autojunk=False).find_longest_match(0, len(question), 0, len(words))
    return match.size >= config.question_echo_share * len(question)


def length_factor(completion: str, config: RewardConfig = DEFAULT) -> float:
    count = len(completion.split())
    budget = config.length_budget_words
    if count <= budget:
        return 1.0
    return max(0.0, 1.0 - (count - budget) / ((config.overlong_factor - 1) * budget))


def hacking_gate(completion: str, truth: dict, config: RewardConfig = DEFAULT) -> float:
    """1 for an honest completion; 0 for the known hacks; in between only for a moderately long one."""
    if names_every_option(completion, truth) or repeats_question(completion, truth, config):
        return 0.0
    return length_factor(completion, config)


# ---- per node --------------------------------------------------------------------------------------------
TRACE_REWARDS = {"format": format_reward, "answer": answer_reward, "targets": target_reward,
                 "events": event_reward, "verdict": verdict_reward}
STEP_REWARDS = ("targets", "events")  # rewards of the trace's intermediate steps (gated by `steps_need_format`)
def _writer_rewards() -> dict:
    from videothought.training.nodes.writer_rewards import WRITER_REWARDS

    return WRITER_REWARDS


NODE_REWARDS = {"vot": TRACE_REWARDS, "verify": {"verdict": verify_node_reward},
                "rank_answers": {"rating": rating_reward}, "writer": _writer_rewards()}
ACCURACY_REWARD = {"vot": "answer", "verify": "verdict", "rank_answers": "rating",
                   "writer": "answer"}  # what "accuracy" means per node
UNGATED = ("writer",)  # judged by running its program: no text-level hacking gate applies
NODE_BUDGETS = {"vot": None, "verify": 30, "rank_answers": 20}  # words; None: the config's trace budget


def node_config(node: str, config: RewardConfig = DEFAULT) -> RewardConfig:
    budget = NODE_BUDGETS.get(node)
    if budget is None:
        return config
    return replace(config, length_budget_words=budget)


def score(node: str, completion: str, truth: dict, config: RewardConfig = DEFAULT,
          names: list[str] | None = None) -> dict[str, float]:
    """Every reward of `node` (or those in `names`) for one completion, each times the hacking gate."""
    if node not in NODE_REWARDS:
        raise KeyError(f"no rewards for node {node!r}; rewarded nodes: {sorted(NODE_REWARDS)}")
    config = node_config(node, config)
    gate = 1.0 if node in UNGATED else hacking_gate(completion, truth, config)
    out = {}
    for name, function in NODE_REWARDS[node].items():
        if names is not None and name not in names:
            continue
        value = function(completion, truth, config) if name == "targets" else function(completion, truth)
        if config.steps_need_format and name in STEP_REWARDS and value:
            value *= format_reward(completion, truth)
        out[name] = gate * value
    return out


# What rejection sampling keeps, per node (default: every reward at its maximum). The writer's program is
# kept when it runs to the right answer (STaR): its step rewards are neutral (0.5) where the truth says
# nothing, so requiring them at 1 would keep only some question kinds.
ACCEPT_REWARDS = {"writer": ("answer", "format")}


def passes_every_step(node: str, completion: str, truth: dict, config: RewardConfig = DEFAULT) -> bool:
    """Rejection sampling's test: every reward of the node at its maximum, not only the answer (the
    writer: a valid program that answers right)."""
    names = ACCEPT_REWARDS.get(node)
    return all(value >= 1.0 - 1e-9 for value in score(node, completion, truth, config, names=names).values())
