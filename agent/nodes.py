"""The Video-of-Thought nodes. Each is a plain function `(state, runtime) -> dict`.

`runtime.context` is a `VoTContext` (models, settings); `state` is the JSON-safe VoTState.
Every node returns the keys it writes plus one TraceRecord in `trace`.

The embedded LLM has 135M parameters: it cannot reason over a scene graph, so the grounding
is done here in code and the model gets short, already-grounded text:

    identify_targets   phrases from question + choices (vocabulary in code, the LLM adds its own)
    track              frames -> STSG (or an indexed long video's segments); phrases -> track ids;
                       the partial STSG of the targets, verbalised in a token budget
    analyze_actions    the LLM describes the targets' actions from the verbalised events
    propose_candidates open-ended questions: candidates from the STSG (code) and the LLM
    rank_answers       ONE batched `score` call over all candidates + the evidence-consistency
                       score from the STSG + the LLM's 1-10 rating of the leader
    verify             the chosen answer's claims (objects, events, their order) checked
                       against the STSG in code, then a yes/no cognition check by the LLM

Malformed LLM output never raises: a bounded retry, then a fallback in code, and the failure
is written to the trace record's `errors`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable
from contextlib import contextmanager

from videothought.agent import prompts
from videothought.agent.state import TraceRecord

logger = logging.getLogger(__name__)

COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black", "brown")
SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
_COLOUR_ALIASES = {"gray": "grey", "violet": "purple"}
_SHAPE_ALIASES = {"circles": "circle", "squares": "square", "triangles": "triangle", "stars": "star",
                  "hexagons": "hexagon", "diamonds": "diamond", "ball": "circle", "balls": "circle",
                  "disc": "circle", "disk": "circle", "box": "square", "boxes": "square"}

# Words that name an STSG event type (graph/schema.py EVENT_TYPES). Order matters: first match wins
# per word, and "disappear" must be tried before "appear".
EVENT_WORDS: dict[str, tuple[str, ...]] = {
    "collide": ("collide", "collides", "collided", "colliding", "collision", "hit", "hits", "bump", "bumps",
                "bumped", "crash", "crashes", "crashed"),
    "push": ("push", "pushes", "pushed", "pushing", "shove", "shoves", "shoved"),
    "enter": ("enter", "enters", "entered", "entering", "arrive", "arrives", "arrived"),
    "exit": ("exit", "exits", "exited", "exiting", "leave", "leaves", "leaving"),
    "disappear": ("disappear", "disappears", "disappeared", "vanish", "vanishes", "vanished"),
    "appear": ("appear", "appears", "appeared", "emerge", "emerges", "emerged"),
    "approach": ("approach", "approaches", "approached", "approaching"),
    "start": ("start", "starts", "started", "begins", "began"),
    "stop": ("stop", "stops", "stopped", "stopping", "halt", "halts", "halted", "rest"),
    "turn": ("turn", "turns", "turned", "turning", "bounce", "bounces", "bounced", "reverses", "reversed"),
    "occluded": ("occluded", "hidden", "hides", "hid", "behind", "covered"),
}
_WORD_TO_EVENT = {word: event for event, words in EVENT_WORDS.items() for word in words}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_STOP_WORDS = frozenset(
    "the a an of to in on at is are was were it its this that what which who whom how why when where does did do "
    "object objects thing things video and or with by for from after before then first last".split()
)


# ---- small text helpers ----------------------------------------------------------------
def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _canonical(word: str) -> str:
    return _COLOUR_ALIASES.get(word, _SHAPE_ALIASES.get(word, word))


def object_phrases(text: str) -> list[str]:
    """World-vocabulary object mentions in `text`: "red circle", "circle", "red object", in order."""
    tokens = [_canonical(w) for w in words(text)]
    found: list[str] = []
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in COLOURS and nxt in SHAPES:
            found.append(f"{token} {nxt}")
            skip = True
        elif token in COLOURS and nxt in ("one", "object", "shape", "thing", "ones", "objects", "shapes"):
            found.append(token)
            skip = True
        elif token in SHAPES:
            found.append(token)
    return list(dict.fromkeys(found))


def event_types(text: str) -> list[str]:
    """STSG event types named in `text`, in order of mention."""
    lowered = text.lower()
    found = [_WORD_TO_EVENT[w] for w in words(lowered) if w in _WORD_TO_EVENT]
    if re.search(r"\bmov(es|ed|ing)? (towards?|closer)\b|\bcomes? closer\b", lowered):
        found.append("approach")
    if re.search(r"\bchang(es|ed|ing) direction\b", lowered):
        found.append("turn")
    if re.search(r"\b(left|leaves) the (scene|frame|screen|video)\b|\bgoes out\b", lowered):
        found.append("exit")
    return list(dict.fromkeys(found))


def number_in(text: str) -> int | None:
    for token in words(text):
        if token.isdigit():
            return int(token)
        if token in NUMBER_WORDS:
            return NUMBER_WORDS.index(token)
    return None


# ---- the STSG document, read directly (it is JSON in state) ------------------------------
def doc_tracks(doc: dict | None) -> dict[int, dict]:
    """track_id -> {"label", "attributes", "first_frame", "last_frame", "num_observations"}."""
    if not doc:
        return {}
    tracks = {int(k): {"label": v.get("label", "object"), "attributes": dict(v.get("attributes", {}))}
              for k, v in doc.get("tracks", {}).items()}
    for node in doc.get("graph", {}).get("nodes", []):
        if node.get("kind", "observation") != "observation" or "track_id" not in node:
            continue
        track = tracks.setdefault(int(node["track_id"]), {"label": node.get("label", "object"), "attributes": {}})
        frame = int(node.get("frame_index", 0))
        box = node.get("box") or [0, 0, 0, 0]
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        if frame < track.get("first_frame", frame + 1):
            track["first_frame"], track["first_centre"] = frame, centre
        if frame > track.get("last_frame", frame - 1):
            track["last_frame"], track["last_centre"] = frame, centre
        track["num_observations"] = track.get("num_observations", 0) + 1
    return tracks


def doc_events(doc: dict | None) -> list[dict]:
    return sorted((doc or {}).get("events", []), key=lambda e: (e["start_frame"], e["end_frame"]))


def doc_fps(doc: dict | None) -> float:
    return float(((doc or {}).get("video") or {}).get("fps") or 25.0)


def track_name(track: dict) -> str:
    attributes = track.get("attributes", {})
    colour, shape = attributes.get("colour") or attributes.get("color"), attributes.get("shape")
    if colour and shape:
        return f"{colour} {shape}"
    return str(track.get("label") or "object")


def phrase_match(phrase: str, track: dict) -> float:
    """How well a target phrase names a track: 1.0 all words match, 0 a contradiction or nothing."""
    phrase_words = [_canonical(w) for w in words(phrase) if w not in _STOP_WORDS]
    if not phrase_words:
        return 0.0
    attributes = {k: str(v).lower() for k, v in track.get("attributes", {}).items()}
    label_words = {_canonical(w) for w in words(str(track.get("label", "")))}
    name_words = label_words | {_canonical(w) for v in attributes.values() for w in words(v)}
    colour = attributes.get("colour") or attributes.get("color")
    shape = attributes.get("shape")
    hits = 0
    for word in phrase_words:
        if word in COLOURS and colour and word != colour:
            return 0.0  # a red phrase never names a blue track
        if word in SHAPES and shape and word != shape:
            return 0.0
        if word in name_words:
            hits += 1
    return hits / len(phrase_words)


def ground_phrase(phrase: str, tracks: dict[int, dict], encoder=None) -> tuple[list[int], float]:
    """Track ids a phrase names (best-matching ones) and the match score."""
    scores = {tid: phrase_match(phrase, track) for tid, track in tracks.items()}
    best = max(scores.values(), default=0.0)
    if best <= 0.0 and encoder is not None and tracks:
        best, scores = _encoder_match(phrase, tracks, encoder)
    if best <= 0.0:
        return [], 0.0
    return sorted(tid for tid, s in scores.items() if s >= best - 1e-9), float(best)


def _encoder_match(phrase: str, tracks: dict[int, dict], encoder) -> tuple[float, dict[int, float]]:
    """Text-text similarity of the phrase to each track's label in the encoder's joint space."""
    try:
        import numpy as np

        ids = list(tracks)
        embeddings = np.asarray(encoder.encode_text([phrase] + [track_name(tracks[t]) for t in ids]), dtype=float)
        embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True) + 1e-8  # (1 + N, D)
        similarity = embeddings[1:] @ embeddings[0]  # (N,)
    except Exception as error:  # the encoder is optional: a failure only loses the soft match
        logger.warning("encoder text matching failed: %s", error)
        return 0.0, {}
    scores = {tid: float(s) for tid, s in zip(ids, similarity) if s > 0.5}  # 0.5: unrelated labels sit below
    return max(scores.values(), default=0.0), scores


def verbalize(doc: dict | None, track_ids: Iterable[int] | None = None, max_tokens: int = 220) -> str:
    """The partial STSG as short sentences that name objects: the targets, then their events in
    time order, cut to about `max_tokens` tokens (1.3 per word).

    Not videothought.graph.stsg.STSG.verbalize: that one refers to objects by track number
    ("event collide: tracks 3 and 5"), which a 135M model cannot map back to "the red circle";
    candidate answers are scored as continuations, so the facts must use the answers' words.
    """
    if not doc:
        return "Nothing was detected."
    return compact_verbalize(doc, sorted(set(track_ids or [])), max_tokens)


def compact_verbalize(doc: dict, track_ids: list[int] | None = None, max_tokens: int = 220) -> str:
    tracks, fps = doc_tracks(doc), doc_fps(doc)
    focus = [t for t in (track_ids or []) if t in tracks] or sorted(tracks)
    lines = []
    for tid in focus:
        track = tracks[tid]
        if "first_frame" in track:
            lines.append(f"The {track_name(track)} is seen from {track['first_frame'] / fps:.1f}s to "
                         f"{track['last_frame'] / fps:.1f}s{motion_phrase(track)}.")
        else:
            lines.append(f"The {track_name(track)} is in the video.")
    focus_set = set(focus)
    for event in doc_events(doc):
        if track_ids and not focus_set & set(event["track_ids"]):
            continue
        lines.append(describe_event(event, tracks, fps))
    if not lines:
        return "Nothing was detected."
    out, used = [], 0
    for line in lines:
        cost = int(len(line.split()) * 1.3) + 1
        if used + cost > max_tokens:
            break
        out.append(line)
        used += cost
    return "\n".join(out)


def motion_phrase(track: dict, still_pixels: float = 8.0) -> str:
    """", moving right" from the track's first and last box centres (image y grows downwards)."""
    if "first_centre" not in track:
        return ""
    dx = track["last_centre"][0] - track["first_centre"][0]
    dy = track["last_centre"][1] - track["first_centre"][1]
    if max(abs(dx), abs(dy)) < still_pixels:
        return ", staying still"
    if abs(dx) >= abs(dy):
        return ", moving right" if dx > 0 else ", moving left"
    return ", moving down" if dy > 0 else ", moving up"


_EVENT_PHRASES = {"enter": "enters", "exit": "leaves", "appear": "appears", "disappear": "disappears",
                  "approach": "approaches", "collide": "collides with", "push": "pushes", "start": "starts moving",
                  "stop": "stops", "turn": "turns", "occluded": "is hidden"}


def describe_event(event: dict, tracks: dict[int, dict], fps: float) -> str:
    names = [track_name(tracks.get(t, {})) for t in event["track_ids"]]
    verb = _EVENT_PHRASES.get(event["type"], event["type"])
    subject = f"the {names[0]}" if names else "something"
    other = f" the {names[1]}" if len(names) > 1 and verb.endswith(("with", "approaches", "pushes")) else ""
    if len(names) > 1 and not other:
        other = f" by the {names[1]}" if event["type"] == "occluded" else f" and the {names[1]}"
    return f"At {event['start_frame'] / fps:.1f}s {subject} {verb}{other}."


# ---- evidence: how well a candidate answer agrees with the STSG --------------------------
def _reference_event(question: str, tracks: dict[int, dict], events: list[dict]) -> dict | None:
    """The event a before/after question is anchored on: its type and objects named in the question."""
    kinds = event_types(question)
    if not kinds:
        return None
    mentioned = set()
    for phrase in object_phrases(question):
        mentioned |= set(ground_phrase(phrase, tracks)[0])
    for event in events:
        if event["type"] in kinds and (not mentioned or mentioned & set(event["track_ids"])):
            return event
    return None


def check_claims(answer: str, question: str, doc: dict | None, target_ids: Iterable[int] = ()) -> dict:
    """The answer's checkable claims against the STSG.

    Returns {"supported": [...], "contradicted": [...], "score": float in [-1.5, 1]}: claims are short strings.
    Claims: the objects it names exist; each event it names happened with those objects (or the
    question's targets); a count matches; before/after/first/last questions keep the order.
    """
    if not doc:  # no perception (the track node ablated or replaced): nothing to check against
        return {"supported": [], "contradicted": [], "score": 0.0}
    tracks, events = doc_tracks(doc), doc_events(doc)
    supported, contradicted = [], []
    question_lower = question.lower()

    answer_ids: set[int] = set()
    for phrase in object_phrases(answer):
        ids, _ = ground_phrase(phrase, tracks)
        if ids:
            supported.append(f"exists: {phrase}")
            answer_ids |= set(ids)
        else:
            contradicted.append(f"missing: {phrase}")

    if re.search(r"\bhow many\b", question_lower):
        count = number_in(answer)
        expected = expected_count(question, tracks, events)
        if count is None:
            contradicted.append("not a count")
        elif expected is not None:
            (supported if expected == count else contradicted).append(f"count {count} (STSG: {expected})")

    question_ids: set[int] = set(target_ids)
    for phrase in object_phrases(question):
        question_ids |= set(ground_phrase(phrase, tracks)[0])
    anchor = _reference_event(question, tracks, events)
    for kind in event_types(answer):
        involved = answer_ids or question_ids
        matches = [e for e in events if e["type"] == kind and (not involved or involved & set(e["track_ids"]))]
        if anchor is not None and re.search(r"\bafter\b|\bthen\b|\bnext\b", question_lower):
            matches = [e for e in matches if e["start_frame"] >= anchor["start_frame"] and e is not anchor]
        elif anchor is not None and re.search(r"\bbefore\b", question_lower):
            matches = [e for e in matches if e["end_frame"] <= anchor["end_frame"] and e is not anchor]
        if matches:
            supported.append(f"event: {kind}")
        else:
            contradicted.append(f"no event: {kind}")
    if re.search(r"\bfirst\b|\blast\b", question_lower) and answer_ids:
        order = _ordered_tracks(question, tracks, events)
        if order:
            wanted = order[0] if re.search(r"\bfirst\b", question_lower) else order[-1]
            (supported if wanted in answer_ids else contradicted).append(f"order: {'first' if wanted in answer_ids else 'not first/last'}")
    # The mean over claims, a contradiction costing more than a match earns: an answer is not
    # better for stating more true but irrelevant facts.
    score = (len(supported) - 1.5 * len(contradicted)) / max(1, len(supported) + len(contradicted))
    return {"supported": supported, "contradicted": contradicted, "score": float(score)}


def expected_count(question: str, tracks: dict[int, dict], events: list[dict]) -> int | None:
    """"How many X..." from the STSG: events of a named type, else tracks matching the phrase."""
    kinds = event_types(question)
    phrases = object_phrases(question)
    if kinds:
        ids = set()
        for phrase in phrases:
            ids |= set(ground_phrase(phrase, tracks)[0])
        return sum(1 for e in events if e["type"] == kinds[0] and (not ids or ids & set(e["track_ids"])))
    if phrases:
        return len(ground_phrase(phrases[0], tracks)[0])
    if re.search(r"\bhow many (objects|shapes|things)\b", question.lower()):
        return len(tracks)
    return None


def _ordered_tracks(question: str, tracks: dict[int, dict], events: list[dict]) -> list[int]:
    kinds = event_types(question)
    if kinds:
        firsts: dict[int, int] = {}
        for event in events:
            if event["type"] == kinds[0]:
                for tid in event["track_ids"][:1]:
                    firsts.setdefault(tid, event["start_frame"])
        return sorted(firsts, key=firsts.get)
    return sorted((t for t in tracks if "first_frame" in tracks[t]), key=lambda t: tracks[t]["first_frame"])


# ---- LLM calls, bounded and recorded ---------------------------------------------------
def _prompt_text(messages: list[dict] | str, limit: int = 800) -> str:
    if isinstance(messages, str):
        return messages[-limit:]
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)[-limit:]


def llm_generate(lm, messages: list[dict], record: TraceRecord, max_new_tokens: int) -> str | None:
    """One generation, recorded in `record`; None when the backend fails (the error is recorded).

    The node's LoRA adapter (post-trained per node, named like the node) is active when the
    backend has one."""
    from videothought.agent.llm import adapter_scope

    record.prompts.append(_prompt_text(messages))
    record.llm_calls += 1
    try:
        with adapter_scope(lm, record.node):
            generation = lm.generate(messages, max_new_tokens=max_new_tokens, temperature=0.0)
    except Exception as error:  # a backend failure is a recorded step failure, never a crash
        record.errors.append(f"generate failed: {type(error).__name__}: {error}")
        return None
    record.prompt_tokens += int(getattr(generation, "prompt_tokens", 0) or 0)
    record.completion_tokens += int(getattr(generation, "completion_tokens", 0) or 0)
    text = getattr(generation, "text", generation)
    return text if isinstance(text, str) else None


def llm_score(lm, prompt: list[dict], continuations: list[str], record: TraceRecord) -> list[float] | None:
    from videothought.agent.llm import adapter_scope

    record.prompts.append(_prompt_text(prompt))
    record.llm_calls += 1
    try:
        with adapter_scope(lm, record.node):
            scores = [float(s) for s in lm.score(prompt, continuations)]
    except Exception as error:
        record.errors.append(f"score failed: {type(error).__name__}: {error}")
        return None
    if len(scores) != len(continuations) or not all(math.isfinite(s) for s in scores):
        record.errors.append(f"score returned {len(scores)} values for {len(continuations)} candidates "
                             "or a non-finite one; ignoring the LLM scores")
        return None
    record.prompt_tokens += _count_tokens(lm, _prompt_text(prompt, 10**6)) + sum(_count_tokens(lm, c) for c in continuations)
    return scores


def _count_tokens(lm, text: str) -> int:
    try:
        return max(1, int(lm.count_tokens(text)))
    except Exception:
        return max(1, len(text.split()))


def _generate_parsed(lm, build_messages, parse, record: TraceRecord, max_new_tokens: int, retries: int, what: str):
    """Generate, parse; on an unparsable reply retry (strict prompt) up to `retries` times. None if all fail."""
    for attempt in range(retries + 1):
        text = llm_generate(lm, build_messages(attempt > 0), record, max_new_tokens)
        if text is None:
            return None
        parsed = parse(text)
        if parsed is not None:
            return parsed
        record.errors.append(f"unparsable {what} (try {attempt + 1}): {text[:120]!r}")
    return None


def _readable(text: str) -> bool:
    """Plausible prose: enough letters and words, not a repeated token or markup soup."""
    letters = sum(c.isalpha() for c in text)
    tokens = words(text)
    return letters >= 12 and len(tokens) >= 3 and letters / max(1, len(text)) > 0.5 and len(set(tokens)) >= 3


@contextmanager
def _step(node: str, state: dict):
    record = TraceRecord(node=node, attempt=int(state.get("retries", 0) or 0))
    start = time.perf_counter()
    yield record
    record.latency_seconds = round(time.perf_counter() - start, 4)


def candidates_of(state: dict) -> list[str]:
    return list(state.get("candidates") or state.get("choices") or [])


def _evidence_text(state: dict) -> str:
    text = state.get("partial_stsg") or ""
    return text or "Nothing was detected."


# ---- the nodes ---------------------------------------------------------------------------
def identify_targets(state: dict, runtime) -> dict:
    """Target phrases of the question: world-vocabulary mentions found in code, then the LLM's."""
    context = runtime.context
    question, choices = state["question"], list(state.get("choices") or [])
    with _step("identify_targets", state) as record:
        record.inputs = {"question": question, "choices": choices}
        code_phrases = object_phrases(question) or [p for c in choices for p in object_phrases(c)]
        allowed = set(words(question + " " + " ".join(choices)))

        def parse(text: str) -> list[str] | None:
            phrases = []
            for part in re.split(r"[,\n;]", text):
                part = " ".join(w for w in words(part) if w not in _STOP_WORDS)
                # only phrases made of words the question or choices use: no hallucinated objects
                if part and len(part.split()) <= 4 and set(part.split()) <= allowed:
                    phrases.append(part)
            return list(dict.fromkeys(phrases)) or None

        llm_phrases = _generate_parsed(
            context.lm,
            lambda strict: prompts.identify_targets(question, choices, strict),
            parse, record, max_new_tokens=16, retries=context.settings.parse_retries, what="target list",
        ) or []
        if not llm_phrases:
            record.errors.append("no target phrases from the LLM; using the phrases found in code")
        phrases = list(dict.fromkeys(code_phrases + [p for p in llm_phrases if p not in code_phrases]))
        if not object_phrases(question) and state.get("history"):
            # a follow-up ("what did it do next?"): the previous turn's targets carry over
            for phrase in state["history"][-1].get("targets", []):
                if phrase not in phrases:
                    phrases.insert(0, phrase)
        targets = [{"phrase": p, "track_ids": [], "score": 0.0, "source": "code" if p in code_phrases else "llm"}
                   for p in phrases[:6]]
        record.outputs = {"targets": [t["phrase"] for t in targets]}
    return {"targets": targets, "trace": [record.to_dict()]}


def track(state: dict, runtime) -> dict:
    """Perception: the STSG of the frames (or retrieved segments), the targets grounded to tracks,
    and the verbalised partial STSG."""
    context = runtime.context
    with _step("track", state) as record:
        record.inputs = {"video_path": state.get("video_path"), "targets": [t["phrase"] for t in state.get("targets", [])]}
        update: dict = {}
        if context.index is not None:
            doc, segment_ids = context.index.retrieve(
                state["question"], [t["phrase"] for t in state.get("targets", [])],
                k=context.settings.segments_per_question,
            )
            update["segments"] = segment_ids
            frame_indices = sorted({int(n["frame_index"]) for n in doc.get("graph", {}).get("nodes", [])})
            fps = doc_fps(doc)
        else:
            doc, frame_indices, fps = build_stsg(state["video_path"], context)
        tracks = doc_tracks(doc)
        targets = []
        for target in state.get("targets", []):
            ids, score = ground_phrase(target["phrase"], tracks, context.encoder)
            targets.append({**target, "track_ids": ids, "score": round(score, 4)})
        target_ids = sorted({t for target in targets for t in target["track_ids"]})
        partial = verbalize(doc, target_ids, context.settings.context_tokens)
        record.outputs = {"num_tracks": len(tracks), "num_events": len(doc.get("events", [])),
                          "grounded": {t["phrase"]: t["track_ids"] for t in targets}, "partial_stsg": partial,
                          **({"segments": update["segments"]} if "segments" in update else {})}
        if targets and not target_ids:
            record.errors.append("no target phrase matched a track; the partial STSG holds every track")
    update.update({"stsg": doc, "frame_indices": list(map(int, frame_indices)), "fps": float(fps),
                   "targets": targets, "partial_stsg": partial, "trace": [record.to_dict()]})
    return update


def build_stsg(video_path: str, context) -> tuple[dict, list[int], float]:
    """Decode uniformly spread frames and run the tracker on them: (STSG document, frame indices, fps)."""
    from videothought.perception.video import VideoReader

    settings = context.settings
    with VideoReader(video_path, max_side=settings.max_side) as video:
        meta = video.metadata
        num_frames = int(min(settings.num_frames, max(2, meta.duration_seconds * settings.max_frames_per_second)))
        batch = video.get_frames(video.uniform_indices(num_frames))
    indices = [int(i) for i in batch.frame_indices]
    if context.stsg_builder is not None:
        doc = context.stsg_builder(batch.frames, indices, meta.fps, proposer=context.proposer,
                                   tracker=context.tracker, video_path=str(video_path))
    else:
        from videothought.graph.pipeline import track_frames

        stsg = track_frames(batch.frames, indices, meta.fps, proposer=context.proposer, tracker=context.tracker,
                            video=meta)
        doc = stsg.to_dict() if hasattr(stsg, "to_dict") else stsg
    doc.setdefault("video", {}).setdefault("fps", meta.fps)
    return doc, indices, meta.fps


def analyze_actions(state: dict, runtime) -> dict:
    """The LLM describes the targets' actions and what they imply, from the verbalised events."""
    context = runtime.context
    evidence = _evidence_text(state)
    question = state["question"]
    if state.get("excluded_answers"):
        rejected = [candidates_of(state)[i] for i in state["excluded_answers"] if i < len(candidates_of(state))]
        question += " (Not: " + "; ".join(rejected) + ")"
    with _step("analyze_actions", state) as record:
        record.inputs = {"partial_stsg": evidence, "frame_text": state.get("frame_text") or []}
        analysis = _generate_parsed(
            context.lm,
            lambda strict: prompts.analyze_actions(question, evidence, state.get("frame_text")),
            lambda text: " ".join(text.strip().split()) if _readable(text) else None,
            record, context.settings.max_new_tokens, context.settings.parse_retries, "action analysis",
        )
        if analysis is None:
            # fall back to the grounded facts themselves: the first two lines of evidence
            analysis = " ".join(evidence.splitlines()[:2])
            record.errors.append("no readable analysis from the LLM; using the verbalised events")
        record.outputs = {"action_analysis": analysis}
    return {"action_analysis": analysis, "trace": [record.to_dict()]}


def propose_candidates(state: dict, runtime) -> dict:
    """Open-ended questions: candidate answers from the STSG (code) and from the LLM, deduplicated."""
    context = runtime.context
    doc = state.get("stsg")
    tracks, events, fps = doc_tracks(doc), doc_events(doc), doc_fps(doc)
    target_ids = {t for target in state.get("targets", []) for t in target["track_ids"]}
    question = state["question"]
    with _step("propose_candidates", state) as record:
        record.inputs = {"question": question}
        proposals: list[str] = []
        counting = bool(re.search(r"\bhow many\b", question.lower()))
        if counting:
            expected = expected_count(question, tracks, events)
            if expected is not None:
                proposals.append(NUMBER_WORDS[expected] if expected < len(NUMBER_WORDS) else str(expected))
        else:
            for event in events:
                if not target_ids or target_ids & set(event["track_ids"]):
                    proposals.append(describe_event(event, tracks, fps).split("s ", 1)[-1].rstrip("."))
            proposals += [f"the {track_name(tracks[t])}" for t in sorted(target_ids or tracks)]
        count = context.settings.num_proposals

        def parse(text: str) -> list[str] | None:
            lines = [re.sub(r"^\s*(\d+[.)]|[-*•]|[A-E][.)])\s*", "", line).strip() for line in text.splitlines()]
            lines = [line for line in lines if _readable(line) or len(words(line)) in (1, 2)]
            if counting:  # a count question wants counts
                lines = [line for line in lines if number_in(line) is not None]
            return lines or None

        llm_lines = _generate_parsed(
            context.lm, lambda strict: prompts.propose_candidates(question, _evidence_text(state), state.get("action_analysis", ""), count),
            parse, record, context.settings.max_new_tokens, context.settings.parse_retries, "candidate list",
        ) or []
        if not llm_lines:
            record.errors.append("no candidates from the LLM; using the STSG's")
        candidates = list(dict.fromkeys(p.strip() for p in proposals + llm_lines if p.strip()))[: max(count, 2) * 2]
        if not candidates:
            candidates = ["nothing happens", "I cannot tell"]
        record.outputs = {"candidates": candidates}
    return {"candidates": candidates, "trace": [record.to_dict()]}


def _softmax_log(values: list[float]) -> list[float]:
    top = max(values)
    total = math.log(sum(math.exp(v - top) for v in values)) + top
    return [v - total for v in values]


def rank_answers(state: dict, runtime) -> dict:
    """Rank every candidate: ONE batched log-likelihood call given the analysis, plus the STSG
    evidence-consistency score, plus the LLM's 1-10 rationality rating of the leader."""
    context = runtime.context
    settings = context.settings
    candidates = candidates_of(state)
    excluded = set(state.get("excluded_answers") or [])
    question, evidence = state["question"], _evidence_text(state)
    analysis = state.get("action_analysis", "")
    target_ids = [t for target in state.get("targets", []) for t in target["track_ids"]]
    with _step("rank_answers", state) as record:
        record.inputs = {"candidates": candidates, "excluded": sorted(excluded)}
        if not candidates:
            record.errors.append("no candidates to rank")
            record.outputs = {"answer": "", "answer_index": -1}
            return {"answer": "", "answer_index": -1, "candidate_scores": [], "trace": [record.to_dict()]}
        prompt = prompts.answer_context(question, evidence, analysis, state.get("history"))
        logliks = llm_score(context.lm, prompt, [" " + c for c in candidates], record)
        if logliks is None:
            per_token = [0.0] * len(candidates)
        else:
            per_token = [s / _count_tokens(context.lm, " " + c) for s, c in zip(logliks, candidates)]
        log_probs = _softmax_log(per_token)
        rows = []
        for index, (candidate, log_prob) in enumerate(zip(candidates, log_probs)):
            claims = check_claims(candidate, question, state.get("stsg"), target_ids)
            score = settings.evidence_weight * claims["score"] + settings.loglik_weight * log_prob
            rows.append({"index": index, "text": candidate, "loglik": None if logliks is None else round(logliks[index], 4),
                         "evidence": claims["score"], "rating": None, "rationale": "", "score": score})
        allowed = [row for row in rows if row["index"] not in excluded] or rows
        leader = max(allowed, key=lambda row: row["score"])
        if settings.rate_candidates:
            def parse_rating(text: str):
                from videothought.agent.parsing import ParseError, extract_rating

                try:
                    rating = extract_rating(text)
                except ParseError:
                    return None
                rationale = re.sub(r"^\W*\d+(\.\d+)?(\s*/\s*10)?\W*", "", text.strip())[:160]
                return int(round(rating)), rationale

            rated = _generate_parsed(
                context.lm, lambda strict: prompts.rate_candidate(question, evidence, leader["text"]),
                parse_rating, record, max_new_tokens=16, retries=0, what="rating",
            )
            if rated is None:
                record.errors.append("no rating parsed; ranking without it")
            else:
                leader["rating"], leader["rationale"] = rated
                leader["score"] += settings.rating_weight * (rated[0] - 5.5) / 4.5  # 1..10 -> -1..1
                leader = max(allowed, key=lambda row: row["score"])
        for row in rows:
            row["score"] = round(row["score"], 4)
        answer_index = leader["index"]
        ranked = sorted(rows, key=lambda row: -row["score"])
        record.outputs = {"answer": leader["text"], "answer_index": answer_index,
                          "ranking": [(row["index"], row["score"]) for row in ranked]}
    return {"candidate_scores": rows, "answer": leader["text"], "answer_index": answer_index,
            "trace": [record.to_dict()]}


def verify(state: dict, runtime, *, max_retries: int = 2) -> dict:
    """Perception check in code (the answer's objects exist, its events happened, in order), then
    the LLM's yes/no cognition check against the action analysis. On failure, while fewer than
    `max_retries` retries were made and a candidate is left, the answer is excluded and
    `verification["route"]` names where the graph goes back to: rank_answers when a claim is
    contradicted by the STSG, analyze_actions when only the cognition check failed."""
    context = runtime.context
    answer, index = state.get("answer", ""), int(state.get("answer_index", -1))
    retries = int(state.get("retries", 0) or 0)
    excluded = list(state.get("excluded_answers") or [])
    target_ids = [t for target in state.get("targets", []) for t in target["track_ids"]]
    with _step("verify", state) as record:
        record.inputs = {"answer": answer, "answer_index": index}
        perception = check_claims(answer, state["question"], state.get("stsg"), target_ids)
        perception["passed"] = not perception["contradicted"]
        cognition: dict = {"checked": False}
        if context.settings.cognition_check and state.get("action_analysis") and answer:
            def parse_yes_no(text: str):
                match = re.search(r"\b(yes|no)\b", text.lower())
                return match.group(1) if match else None

            verdict = _generate_parsed(
                context.lm, lambda strict: prompts.cognition_check(state["question"], state["action_analysis"], answer),
                parse_yes_no, record, max_new_tokens=4, retries=0, what="yes/no verdict",
            )
            cognition = {"checked": verdict is not None, "verdict": verdict}
            if verdict is None:
                record.errors.append("cognition verdict unparsable; relying on the perception check")
        # The 135M model's "no" is weak evidence: it only fails an answer the STSG cannot check.
        cognition_failed = cognition.get("verdict") == "no" and not perception["supported"]
        passed = bool(answer) and perception["passed"] and not cognition_failed
        num_candidates = len(candidates_of(state))
        remaining = num_candidates - len(set(excluded) | {index})
        route = None
        if not passed and retries < max_retries and remaining > 0:
            excluded = sorted(set(excluded) | {index})
            route = "rank_answers" if not perception["passed"] else "analyze_actions"
            retries += 1
        verification = {"passed": passed, "perception": perception, "cognition": cognition, "route": route}
        record.outputs = {"passed": passed, "route": route, "contradicted": perception["contradicted"]}
    return {"verification": verification, "retries": retries, "excluded_answers": excluded,
            "attempt": retries, "trace": [record.to_dict()]}


NODES = {
    "identify_targets": identify_targets,
    "track": track,
    "analyze_actions": analyze_actions,
    "propose_candidates": propose_candidates,
    "rank_answers": rank_answers,
    "verify": verify,
}
