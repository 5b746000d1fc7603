"""Node training data from the synthetic world's ground truth, on training seeds only.

For every world question (and several rewordings of it in the "train" phrasing family), the
general agent's own code runs first, exactly as at inference: `identify_targets` (code path),
then `track` (decode, track, ground, verbalise the partial STSG). The LLM nodes' inputs are
therefore built from the TRACKED STSG, tracker noise included; the targets come from the
world's truth (the evidence record: objects and events, the answer index).

    question + options ──► identify_targets ──► track (tracked STSG, cached on disk)
                                                   │ partial STSG (what the LLM node reads)
    world truth (evidence.jsonl, stsg/) ───────────┴──► one example per node:

    node              prompt (agent/prompts.py)                 completion
    identify_targets  identify_targets(question, options)       "pink star, purple circle"
    analyze_actions   analyze_actions(question, partial STSG)   the evidence events, as sentences
    rank_answers      answer_context(question, STSG, analysis)  " <the right option>"
                      rate_candidate(question, STSG, option)    "9 - ..." / "2 - ..."
    verify            cognition_check(question, analysis, opt)  "yes" / "no - ..."
    vot (cold start)  vot_trace(question, options, STSG)        the five VoT steps written out

Examples are JSON-safe dicts ({"node", "prompt": chat messages, "completion", "qid", "type",
"wording", ...}) written as JSONL; `trl`'s prompt-completion format is built from them.

Seeds: evaluation uses world seed 7 and seeds 1000-1100; `check_training_seeds` refuses them.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from videothought.agent import prompts

logger = logging.getLogger(__name__)

EVALUATION_SEEDS = frozenset({7, *range(1000, 1101)})  # never trained on: the project's evaluation worlds
NODE_NAMES = ("identify_targets", "analyze_actions", "rank_answers", "verify")
TRACE_NODE = "vot"  # the cold-start stage's adapter: full VoT traces
EVENT_WORDS = {  # words an analysis may use for each STSG event type (recall of the evidence events)
    "collide": ("collid", "hit", "bump", "crash"), "push": ("push",), "enter": ("enter", "arriv", "come"),
    "exit": ("leav", "exit", "left"), "appear": ("appear",), "disappear": ("disappear", "vanish"),
    "start": ("start", "begin", "set off", "moving"), "stop": ("stop", "halt", "rest"),
    "turn": ("turn", "bounc", "direction", "revers", "rebound"), "occluded": ("hidden", "behind", "cover"),
    "approach": ("approach",),
}


class NodeDataError(ValueError):
    """Bad data settings or world folders; the message names the problem."""


def check_training_seeds(seeds) -> list[int]:
    seeds = [int(s) for s in seeds]
    forbidden = sorted(set(seeds) & EVALUATION_SEEDS)
    if forbidden:
        raise NodeDataError(f"training seeds {forbidden} are evaluation seeds (7 and 1000-1100): choose others")
    if not seeds:
        raise NodeDataError("no training seeds given")
    return seeds


# ---- worlds and tracked STSGs -----------------------------------------------------------------
def ensure_worlds(worlds: list[tuple[Path, int]], videos: int, ray_address: str | None = None) -> list[Path]:
    """ensure_world for each (root, seed); with ray_address (default: $VIDEOTHOUGHT_RAY) the
    missing worlds render as Ray tasks (training/nodes/data_ray.py)."""
    from videothought.training.nodes.data_ray import ensure_worlds_ray, ray_address_from_env

    ray_address = ray_address or ray_address_from_env()
    if ray_address:
        return ensure_worlds_ray(worlds, videos, address=ray_address)
    return [ensure_world(root, seed, videos) for root, seed in worlds]


def ensure_world(root: Path, seed: int, videos: int) -> Path:
    """The world folder of one seed, generated when missing (`vot world generate`'s files)."""
    from videothought.evals.world import generate_world

    if not (root / "qa.csv").is_file() or not (root / "meta.json").is_file():
        logger.info("generating world seed %d (%d videos) in %s", seed, videos, root)
        generate_world(root, videos, seed)
    meta = json.loads((root / "meta.json").read_text())
    if int(meta.get("seed", -1)) != seed:
        raise NodeDataError(f"{root} holds world seed {meta.get('seed')!r}, not {seed}")
    return root


class _NoLanguageModel:
    """The data builder runs only the code parts of the nodes: any LLM call fails (and the node
    falls back to code, as it does when a real LLM's reply is unusable)."""

    name = "none"

    def generate(self, *args, **kwargs):
        raise RuntimeError("no LLM while building node data")

    def score(self, *args, **kwargs):
        raise RuntimeError("no LLM while building node data")

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))


@dataclass
class _Runtime:
    context: object
    stream_writer: object = None


def perception_context(cache_dir: str | Path, encoder=None, proposer=None):
    """A VoTContext for the code nodes: the default encoder and proposer, tracked STSGs cached on disk."""
    from videothought.agent.context import VoTContext, load_default_encoder_or_none

    if proposer is None:
        from videothought.perception.proposals import default_proposer

        proposer = default_proposer()
    return VoTContext(lm=_NoLanguageModel(), encoder=encoder if encoder is not None else load_default_encoder_or_none(),
                      proposer=proposer, cache_dir=str(cache_dir))


def code_nodes(question: str, choices: list[str], video_path: str, context) -> dict:
    """The state the LLM nodes would see: identify_targets (code) then track, as in the graph."""
    from videothought.agent.rules.nodes import identify_targets, track

    runtime = _Runtime(context)
    state = {"question": question, "choices": list(choices), "video_path": str(video_path), "trace": []}
    state.update(identify_targets(state, runtime))
    state.update(track(state, runtime))
    return state


# ---- references from the world's truth --------------------------------------------------------
def _truth_scene(doc: dict):
    from videothought.graph.query import SceneQuery

    return SceneQuery.from_document(doc)


def _label_of(doc: dict, object_id: int) -> str:
    info = (doc.get("tracks") or {}).get(str(object_id)) or {}
    if info.get("label"):
        return str(info["label"])
    for node in doc.get("graph", {}).get("nodes", []):
        if int(node.get("track_id", -1)) == object_id and node.get("label"):
            return str(node["label"])
    return "object"


def reference_targets(question: str, evidence: dict, truth_doc: dict) -> list[str]:
    """The phrases of the question that name the evidence objects (in the question's own wording),
    else the objects' true labels."""
    from videothought.agent.rules.language import candidate_phrases, tokens
    from videothought.evals.world.reword import SHAPE_NOUNS

    labels = [_label_of(truth_doc, int(i)) for i in evidence.get("object_ids") or []]
    words: set[str] = set()
    for label in labels:
        parts = label.split()
        words.update(parts)
        shape = parts[-1]
        for family in SHAPE_NOUNS.values():
            for noun in family.get(shape, ()):
                words.update(tokens(noun))
    found = [p for p in candidate_phrases(question) if set(p.split()) & words]
    return found or list(dict.fromkeys(labels))


def reference_analysis(evidence: dict, truth_doc: dict) -> str:
    """The evidence events as sentences ("At 2.4s the pink star collides with the purple circle."),
    or, for questions without events, what the evidence objects are and do."""
    from videothought.graph.verbalize import describe_event, describe_track

    scene = _truth_scene(truth_doc)
    wanted = {(e["type"], tuple(e["track_ids"]), int(e["start_frame"])) for e in evidence.get("events") or []}
    lines = [describe_event(scene, event) for event in scene.events()
             if (event.type, tuple(event.track_ids), int(event.start_frame)) in wanted]
    if not lines:
        lines = [describe_track(scene, int(i)) for i in evidence.get("object_ids") or [] if int(i) in scene.tracks]
    return " ".join(lines) or "Nothing relevant happens."


def mentions_event(text: str, event: dict, truth_doc: dict) -> bool:
    """Whether an analysis names an evidence event: one of its verbs and a word of a participant's label."""
    low = text.lower()
    verbs = EVENT_WORDS.get(event["type"], (event["type"],))
    if not any(v in low for v in verbs):
        return False
    names = {w for i in event.get("track_ids") or [] for w in _label_of(truth_doc, int(i)).split()}
    return any(re.search(rf"\b{re.escape(w)}", low) for w in names)


def question_truth(item: WordedQuestion) -> dict:
    """What the RL rewards (training/nodes/rewards.py) judge a completion against, from the world's
    truth: the question, its options and answer, the target phrases, the evidence objects' labels,
    the evidence events and every event of the video (type, participants' labels, start frame),
    in time order."""
    scene = _truth_scene(item.truth_doc)

    def event_record(kind: str, track_ids, frame) -> dict:
        return {"type": str(kind), "labels": [_label_of(item.truth_doc, int(i)) for i in track_ids], "frame": int(frame)}

    evidence = sorted((event_record(e["type"], e["track_ids"], e["start_frame"]) for e in item.evidence.get("events") or []),
                      key=lambda e: e["frame"])
    return {"question": item.question, "choices": list(item.choices), "answer": int(item.answer),
            "targets": reference_targets(item.question, item.evidence, item.truth_doc),
            "objects": [_label_of(item.truth_doc, int(i)) for i in item.evidence.get("object_ids") or []],
            "events": evidence,
            "scene_events": [event_record(e.type, e.track_ids, e.start_frame) for e in scene.events()]}


def attach_truth(rows: list[dict], items: list[WordedQuestion]) -> int:
    """Give node examples built before `truth` existed their question's truth, matched by (qid,
    wording); returns how many rows got one. Rows of questions not in `items` are left as they are."""
    by_key = {(i.qid, i.wording): i for i in items}
    cache: dict = {}
    done = 0
    for row in rows:
        if "truth" in row:
            continue
        item = by_key.get((row.get("qid"), row.get("wording")))
        if item is None:
            continue
        key = (item.qid, item.wording)
        if key not in cache:
            cache[key] = question_truth(item)
        row["truth"] = dict(cache[key])
        if "correct" in row:
            row["truth"]["correct"] = bool(row["correct"])
        elif row.get("kind") == "rating":
            row["truth"]["correct"] = row["completion"].strip().startswith("9")
        done += 1
    return done


def verdict_reason(correct: bool, answer: str, analysis: str) -> str:
    first = analysis.split(". ")[0].rstrip(".")
    return "yes" if correct else f"no - the video shows: {first}."


def answer_text(index: int, choices: list[str]) -> str:
    """Step 4's text: "(B) bounces off the top edge". The bracket is one fixed token before the letter:
    written "B. ...", the letter's probability is split five ways and a greedy decoder took a fixed
    phrase instead (v3 cold start: " the" 0.4, every letter together 0.05-0.25, 0 of 6 parsed)."""
    return f"({chr(ord('A') + index)}) {choices[index]}"


_OLD_ANSWER_LINE = re.compile(r"(Step 4 \(answer\): )([A-E])\. ")


def upgrade_answer_lines(rows: list[dict]) -> int:
    """Trace rows written with the old Step 4 form ("B. text") get `answer_text`'s ("(B) text");
    returns how many changed. Node data built before the change needs no re-tracking."""
    changed = 0
    for row in rows:
        if row.get("node") == TRACE_NODE:
            new = _OLD_ANSWER_LINE.sub(lambda m: f"{m.group(1)}({m.group(2)}) ", row["completion"], count=1)
            changed += new != row["completion"]
            row["completion"] = new
    return changed


def trace_text(targets: list[str], grounded: dict, analysis: str, choices: list[str], answer: int, verified: str) -> str:
    """The five VoT steps written out (the cold-start stage's completion, stored whole; the model
    writes what follows prompts.VOT_TRACE_START, see `completion_after_start`)."""
    links = "; ".join(f"{p} -> track {', '.join(map(str, ids))}" if ids else f"{p} -> not found"
                      for p, ids in grounded.items()) or "nothing to ground"
    return (f"{prompts.VOT_TRACE_START} {', '.join(targets) or 'none'}.\n"
            f"Step 2 (tracks): {links}.\n"
            f"Step 3 (actions): {analysis}\n"
            f"Step 4 (answer): {answer_text(answer, choices)}\n"
            f"Step 5 (verify): {verified}")


# ---- the primed trace: where the prompt ends and the completion starts -------------------------------
# The trace node's prompt ends with the first header (prompts.VOT_TRACE_START) inside the assistant turn:
#
#   <|im_start|>assistant\nStep 1 (targets):| pink star.\nStep 2 (tracks): ...\nStep 5 (verify): ...<|im_end|>
#   ^------------- prompt (render_node_prompt) -^^--------- completion (completion_after_start) -----------^
#
# Node data stores the WHOLE trace as the completion (rewards and the parser read whole traces); SFT and
# DPO train on the part after the header; generated text becomes a whole trace with `whole_trace`, which
# also ends it at Step 5's line (the node stops there, whatever the model writes after).
_STEP5 = re.compile(r"Step\s*5\s*(?:\([a-z]+\))?\s*:", re.IGNORECASE)
_ANY_STEP = re.compile(r"Step\s*\d", re.IGNORECASE)


def trace_start(node: str) -> str:
    """The text the node's assistant turn is primed with: the first header for the trace node, else ''."""
    return prompts.VOT_TRACE_START if node == TRACE_NODE else ""


def render_node_prompt(tokenizer, node: str, messages: list[dict]) -> str:
    """The text a node call sends: the chat messages in the model's template with its generation
    prompt, then `trace_start(node)`. SFT, the RL stages and eval-nodes all render with this."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + trace_start(node)


def completion_after_start(node: str, completion: str) -> str:
    """What the model writes after the primed prompt: a stored (whole) trace without its first header.
    A trace completion that does not start with the header is an error (data from another format)."""
    start = trace_start(node)
    if not start:
        return completion
    stripped = completion.lstrip()
    if not stripped.startswith(start):
        raise NodeDataError(f"a {node!r} completion must start with {start!r} (the primed header); got "
                            f"{completion[:40]!r}")
    return stripped[len(start):]


def end_of_trace(text: str) -> str:
    """`text` up to the end of Step 5's line (its first line break, or the next "Step N" header)."""
    header = _STEP5.search(text)
    if header is None:
        return text
    ends = [len(text), text.find("\n", header.end())]
    following = _ANY_STEP.search(text, header.end())
    if following is not None:
        ends.append(following.start())
    return text[: min(e for e in ends if e >= 0)].rstrip()


def whole_trace(node: str, generated: str) -> str:
    """A node's generated text as its rewards and parser read it: for the trace node, the primed header
    + the generation, ended at Step 5's line; other nodes' text unchanged."""
    if node != TRACE_NODE:
        return generated
    return end_of_trace(trace_start(node) + generated)


# ---- the builder -------------------------------------------------------------------------------
@dataclass
class WordedQuestion:
    qid: str
    type: str
    wording: str  # "original", "train-<k>", "heldout-<k>"
    question: str
    choices: list[str]
    answer: int
    evidence: dict
    video_path: str
    truth_doc: dict


def worded_questions(world_dir: Path, *, family: str | None, rewordings: int, include_original: bool,
                     limit: int | None = None, reword_seed: int = 0) -> list[WordedQuestion]:
    """The world's questions in their own wording and/or `rewordings` wordings of `family`."""
    from videothought.evals.world import load_world
    from videothought.evals.world.reword import RewordError, reword

    out: list[WordedQuestion] = []
    count = 0
    for video in load_world(world_dir):
        for question in video.questions:
            if limit is not None and count >= limit:
                return out
            count += 1
            forms = [("original", question)] if include_original else []
            for k in range(rewordings if family else 0):
                try:
                    forms.append((f"{family}-{k}", reword(question, family, reword_seed + k)))
                except RewordError as error:
                    logger.warning("%s: not reworded (%s)", question.qid, error)
            seen = set()
            for wording, q in forms:
                key = (q.question, tuple(q.options))
                if key in seen:  # two seeds drew the same templates
                    continue
                seen.add(key)
                out.append(WordedQuestion(q.qid, q.type, wording, q.question, list(q.options), int(q.answer),
                                          question.evidence(), str(video.path), video.stsg))
    return out


def node_examples(item: WordedQuestion, state: dict, rng: random.Random) -> list[dict]:
    """Every node's (prompt, completion) pairs for one worded question and its code-node state."""
    evidence_text = state.get("partial_stsg") or "Nothing was detected."
    analysis = reference_analysis(item.evidence, item.truth_doc)
    targets = reference_targets(item.question, item.evidence, item.truth_doc)
    right = item.choices[item.answer]
    wrong_index = rng.choice([i for i in range(len(item.choices)) if i != item.answer])
    wrong = item.choices[wrong_index]
    common = {"qid": item.qid, "type": item.type, "wording": item.wording, "answer": item.answer}
    examples = [
        {"node": "identify_targets", "prompt": prompts.identify_targets(item.question, item.choices),
         "completion": " " + ", ".join(targets), "reference": targets, **common},
        {"node": "analyze_actions", "prompt": prompts.analyze_actions(item.question, evidence_text),
         "completion": " " + analysis, "events": item.evidence.get("events") or [], **common},
    ]
    # rank_answers scores continuations after answer_context; the analysis it sees at inference is the
    # LLM's own, so half of the examples carry the reference analysis and half none
    with_analysis = rng.random() < 0.5
    examples.append({"node": "rank_answers", "prompt": prompts.answer_context(item.question, evidence_text,
                                                                              analysis if with_analysis else ""),
                     "completion": " " + right, "choices": item.choices, "kind": "score", **common})
    shown, correct = (right, True) if rng.random() < 0.5 else (wrong, False)
    examples.append({"node": "rank_answers", "prompt": prompts.rate_candidate(item.question, evidence_text, shown),
                     "completion": " 9 - the facts support it." if correct else " 2 - the facts do not show it.",
                     "kind": "rating", **common})
    for shown, correct in ((right, True), (wrong, False)):
        examples.append({"node": "verify", "prompt": prompts.cognition_check(item.question, analysis, shown),
                         "completion": " " + verdict_reason(correct, shown, analysis), "correct": correct,
                         "choices": item.choices, **common})
    grounded = {t["phrase"]: t["track_ids"] for t in state.get("targets", [])}
    examples.append({"node": TRACE_NODE, "prompt": prompts.vot_trace(item.question, item.choices, evidence_text),
                     "completion": " " + trace_text(targets, grounded, analysis, item.choices, item.answer,
                                                   "the facts agree with the answer."),
                     "choices": item.choices, **common})
    return examples


def build_examples(items: list[WordedQuestion], context, *, seed: int = 0,
                   progress: bool = True, ray_address: str | None = None) -> list[dict]:
    """Run the code nodes for every worded question (tracking each video once, cached) and write
    every node's examples. Questions whose video cannot be tracked are skipped (logged).

    ray_address (default: $VIDEOTHOUGHT_RAY): the code nodes run on Ray workers
    (training/nodes/data_ray.py); the examples are the same rows."""
    from tqdm.auto import tqdm

    from videothought.training.nodes.data_ray import code_node_states, ray_address_from_env

    ray_address = ray_address or ray_address_from_env()
    states = code_node_states(items, context.cache_dir, address=ray_address) if ray_address else None
    rng = random.Random(seed)
    out: list[dict] = []
    for position, item in enumerate(tqdm(items, desc="node examples", disable=not progress, unit="question")):
        try:
            state = code_nodes(item.question, item.choices, item.video_path, context) if states is None \
                else states[position]
            if isinstance(state, str):  # a Ray worker's error for this question
                raise RuntimeError(state)
        except Exception as error:  # one bad video must not lose the others
            logger.warning("%s (%s): code nodes failed: %s", item.qid, item.wording, error)
            continue
        examples = node_examples(item, state, rng)
        for example in examples:
            example["partial_stsg"] = state.get("partial_stsg") or ""
        attach_truth(examples, [item])  # what the RL stages' rewards judge against
        out += examples
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    temporary.replace(path)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
