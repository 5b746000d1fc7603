"""Claims: how well a candidate answer agrees with the STSG, for any wording.

The question and the answer are read into mentions and cues (agent/rules/language.py), the
mentions grounded to tracks (agent/rules/grounding.py), and the claim the pair makes is checked
with the STSG query layer (videothought.graph.query). What is checked depends on what the
texts contain, not on a sentence pattern:

    the answer is a number, the question counts      count what the question names
    the answer is an attribute value ("red")         the question's object has it
    the answer names an object                       it exists; it did the question's event
                                                     (first / last when the question orders)
    the answer names an event                        it happened to its subject (and partner):
        ... and the question asks why                   the cause seen at that moment agrees
        ... and something is removed                    the event depends on the removed object
        ... and the question looks ahead                the extrapolated motion leads to it
        ... and the question anchors in time            it is the nearest one after / before
    the answer is a time or an interval ("minute 7")  the question's event happened inside it
    every object an answer names must exist          else the answer is refuted

An object named by what it did ("the star that hits the pink hexagon") is the track that took
part in that event, with that partner, before its attributes are read. A follow-up turn
(`history`, the earlier turns of a chat) resolves "it" to the previous turn's answer object and
anchors "after that" at the frame of the previous turn's answer; every Claims carries the frame
and tracks of the happening that supported it, for the next turn to anchor on.

Scores: 1 = the STSG says so, about 0 = it cannot tell, below 0 = it says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from videothought.agent.followup import latest_anchor_frame, points_back_in_time, refers_to_earlier_object
from videothought.agent.rules.grounding import Grounder
from videothought.agent.rules.language import QUESTION_WORDS, EventMention, Reading, Vocabulary, read_text
from videothought.agent.rules.times import Interval, read_interval
from videothought.graph import reasoning
from videothought.graph.query import Happening, SceneQuery
from videothought.graph.words import SUBJECT_PRONOUNS, TIMES_WORDS, ZERO_WORDS

CAUSE_KINDS = ("collide", "push")
MOTION_WORDS = {"move", "moves", "moved", "moving", "go", "goes", "went", "going", "travel", "travels", "travelled",
                "traveling", "travelling", "head", "heads", "headed", "heading", "drift", "drifts", "walk", "walks",
                "walked", "walking", "roll", "rolls", "rolled", "rolling", "slide", "slides", "slid", "sliding"}
_DIRECTION_PARTS = {"left": ("left",), "right": ("right",), "top": ("up",), "bottom": ("down",)}
# Event words that are nouns only: a name right before one modifies it ("a box collision")
NOUN_EVENTS = {"collision", "collisions", "impact", "impacts", "contact", "contacts", "crash", "crashes"}
# The auxiliaries that open a question's main clause before its subject (a pronoun ahead of every
# name, graph/words.py SUBJECT_PRONOUNS, stands for that subject: "after it stops, what does the ball do?").
AUXILIARIES = {"does", "did", "do", "will", "would", "is", "was", "are", "were", "can", "could", "has", "had"}


# Words naming an attribute, spelled otherwise than its STSG key.
_ATTRIBUTE_NAMES = {"color": "colour", "colours": "colour", "colors": "colour", "coloured": "colour",
                    "colored": "colour", "hue": "colour", "tint": "colour", "shade": "colour",
                    "shaped": "shape", "form": "shape", "outline": "shape", "geometry": "shape"}


@dataclass
class Claims:
    supported: list[str] = field(default_factory=list)
    contradicted: list[str] = field(default_factory=list)
    score: float = 0.0
    checked: str = "nothing"  # what kind of claim was checked
    frame: int | None = None  # the video frame of the happening that supported the claim
    track_ids: list[int] = field(default_factory=list)  # the object the claim is about (for a later "it")

    def to_dict(self) -> dict:
        return {"supported": self.supported, "contradicted": self.contradicted, "score": round(self.score, 4),
                "checked": self.checked, "frame": self.frame, "track_ids": list(self.track_ids)}


def graded(score: float, claim: str, checked: str, frame: int | None = None, track_ids=()) -> Claims:
    return Claims([claim] if score > 0 else [], [claim] if score < 0 else [], float(score), checked,
                  None if frame is None else int(frame), [int(t) for t in track_ids])


class ClaimChecker:
    """Checks answers to one question against one STSG; build once per (question, STSG)."""

    def __init__(self, question: str, doc: dict | None, *, target_ids=(), encoder=None, track_embeddings=None,
                 options=(), history=()):
        self.doc = doc
        self.vocabulary = Vocabulary.from_document(doc)
        self.question = read_text(question, self.vocabulary)
        full = SceneQuery.from_document(doc)
        cut = self.question.cut_seconds
        self.scene = full.until(full.frame_at(cut)) if cut is not None else full
        self.grounder = Grounder(self.scene, self.vocabulary, encoder=encoder, track_embeddings=track_embeddings)
        self.question_groundings = [(m, self.grounder.ground(m)) for m in self.question.objects]
        # The kinds of event the answer options speak of: "what happens right after" compares
        # these, not every approach or pass-by the tracker reports in between.
        self.option_kinds = {e.kind for option in options for e in read_text(option, self.vocabulary).events}
        named = [(m, g) for m, g in self.question_groundings if not m.generic]
        previous = dict(history[-1]) if history else {}
        self.refers_back = refers_to_earlier_object(self.question.words, history)
        # "after that": the moment of the previous turn's answer (the latest moment the chat established),
        # when no event of this question follows the cue
        self.anchor_frame: int | None = None
        if points_back_in_time(self.question.words, [e.start for e in self.question.events]):
            self.anchor_frame = latest_anchor_frame(history)
        named = self._subject_first(named)
        if named and named[0][1].track_ids:
            self.referent = self.bind_clause(*named[0])
        elif self.refers_back and (earlier := self._previous_referent(previous)):
            self.referent = earlier
        else:
            self.referent = [int(t) for t in target_ids]

    def _subject_first(self, named: list[tuple]) -> list[tuple]:
        """"Before it hits the pink diamond, what does the orange triangle do?": a pronoun ahead of
        every name points forward, to the main question's subject (the name after "does", or before
        it in a statement: "..., the orange triangle does what?"), so that name is the question's
        object, not the first one written."""
        words = self.question.words
        if not named:
            return named
        ahead = words[:named[0][0].start]
        # "right after colliding with the star, what does the ball do?": a clause with no subject of
        # its own ahead of the names borrows the main one, as a pronoun would
        subjectless = any(e.start < named[0][0].start and (words[e.start].endswith("ing") or
                                                           (e.start and words[e.start - 1] == "being") or
                                                           "having" in words[max(0, e.start - 2):e.start])
                          for e in self.question.events)
        if not (SUBJECT_PRONOUNS & set(ahead) or subjectless):
            # "The box is hit by the ball. What does the ball do before this?": the name a
            # question word and its auxiliary ask about is the subject, wherever it stands
            asked = next((i for i, (m, _) in enumerate(named) if i and self._asked_about(m)), None)
            return named if not asked else [named[asked]] + named[:asked] + named[asked + 1:]
        main = next((i for i, (m, _) in enumerate(named) if self._after_auxiliary(m)), None) or \
            next((i for i, (m, _) in enumerate(named) if m.end < len(words) and words[m.end] in AUXILIARIES), None)
        return named if not main else [named[main]] + named[:main] + named[main + 1:]

    def _auxiliary_before(self, mention) -> int | None:
        """Where the auxiliary right before the mention stands ("does the ball", "did a box")."""
        words, i = self.question.words, mention.start - 1
        if i >= 0 and words[i] in ("the", "a", "an", "this", "that"):
            i -= 1
        return i if i >= 0 and words[i] in AUXILIARIES else None

    def _asked_about(self, mention) -> bool:
        """"what does the ball ...": a question word, its auxiliary, then the mention."""
        i = self._auxiliary_before(mention)
        return bool(i) and self.question.words[i - 1] in QUESTION_WORDS

    def _after_auxiliary(self, mention) -> bool:
        """The mention stands right after a question's auxiliary: the main clause's subject."""
        return self._auxiliary_before(mention) is not None

    def _previous_referent(self, previous: dict) -> list[int]:
        """The previous turn's object in this scene: its tracks when this turn sees them, else its
        phrase grounded here (the tracks alive at the anchor first: a look-alike elsewhere is not it)."""
        ids = [int(t) for t in previous.get("track_ids") or [] if int(t) in self.scene.tracks]
        if ids:
            return ids
        phrases = list(previous.get("targets") or [])
        for phrase in phrases[:1]:
            found = [t for _, g in self.grounder.ground_text(phrase) for t in g.track_ids]
            if found and self.anchor_frame is not None:
                alive = [t for t in found if self.scene.tracks[t].first_frame - self.scene.near_frames
                         <= self.anchor_frame <= self.scene.tracks[t].last_frame + self.scene.near_frames]
                found = alive or found
            if found:
                return sorted(set(found))
        return []

    def bind_clause(self, mention, grounding) -> list[int]:
        """"the star that hits the pink hexagon": of the tracks that fit the noun, those that took
        part in the clause's event (with the partner the clause names); the grounding otherwise."""
        ids = list(grounding.track_ids)
        if not mention.clause_event:
            return ids
        q, scene = self.question, self.scene
        event = next((e for e in q.events if mention.end <= e.start <= mention.end + 3), None)
        if event is None:
            return ids
        after = [(m, g) for m, g in self.question_groundings if m.start >= event.end]
        partner = list(after[0][1].track_ids) if after and not after[0][0].generic and after[0][1].track_ids else None
        fits = [t for t, facts in scene.tracks.items() if self._meets(mention, facts)] or ids
        did = [t for t in fits if (partner is None or t not in partner)
               and any(self.matches(event, h, partner, t) for h in scene.happenings(t))]
        if did or not partner:
            return sorted(did) or ids
        # the tracker missed the contact: the one that came closest to the partner, seen with it
        gaps = {t: self._closest_approach(t, partner) for t in fits if t not in partner}
        gaps = {t: g for t, g in gaps.items() if g is not None}
        if not gaps:
            return ids
        best = min(gaps.values())
        return sorted(t for t, g in gaps.items() if g <= best + 1e-6)

    def _closest_approach(self, track: int, others: list[int]) -> float | None:
        """The smallest centre distance (pixels) between `track` and any of `others` at a frame
        both were observed; None when they were never seen together."""
        import numpy as np

        best = None
        for other in others:
            pair = self._seen_together(track, other)
            if pair is None:
                continue
            gap = float(np.linalg.norm(pair[0] - pair[1], axis=1).min())
            best = gap if best is None else min(best, gap)
        return best

    def _seen_together(self, track: int, other: int, around: int | None = None):
        """Centres (M, 2) and radii (M,) of two tracks at the M frames both were observed (within
        near_frames of `around`, when given): (centre_a, centre_b, radius_a, radius_b), or None."""
        import numpy as np

        mine, theirs = self.scene.boxes(track), self.scene.boxes(other)  # (N, 5): frame, x1, y1, x2, y2
        if around is not None:
            mine = mine[np.abs(mine[:, 0] - around) <= self.scene.near_frames]
        common, a, b = np.intersect1d(mine[:, 0], theirs[:, 0], return_indices=True)
        if not len(common):
            return None
        mine, theirs = mine[a], theirs[b]
        return ((mine[:, 1:3] + mine[:, 3:5]) / 2, (theirs[:, 1:3] + theirs[:, 3:5]) / 2,
                (mine[:, 3:5] - mine[:, 1:3]).max(axis=1) / 2, (theirs[:, 3:5] - theirs[:, 1:3]).max(axis=1) / 2)

    # ---- entry point -------------------------------------------------------------------------
    def check(self, answer: str) -> Claims:
        if not self.doc:
            return Claims()
        reading = read_text(answer, self.vocabulary)
        q = self.question
        # "a square" answering "what shape is the pink object?" names a value, not a thing to find
        if self._is_attribute_answer(answer, reading):
            return self.check_attribute(reading)
        answer_groundings = [(m, self.grounder.ground(m)) for m in reading.objects]
        missing = [m.text for m, g in answer_groundings if not m.generic and not g.exact and not g.track_ids]
        if missing:
            return Claims([], [f"not in the video: {', '.join(missing)}"], -1.0, "existence")
        if "count" in q.cues and (given := _counted(reading)) is not None and \
                all(e.kind in {qe.kind for qe in q.events} for e in reading.events):
            return self.check_count(given)  # "3", "three collisions", "none", "twice"
        if not reading.events and not reading.objects and q.events and \
                (interval := read_interval(answer, self._duration())) is not None:
            return self.check_time(interval)
        if not reading.events and reading.sides and MOTION_WORDS & set(reading.words):
            return self.check_direction(reading, answer_groundings)
        named = [(m, g) for m, g in answer_groundings if not m.generic]
        if ("first" in q.cues or "last" in q.cues) and q.events and reading.events and len(named) == 1 and \
                named[0][0].end <= reading.events[0].start and {e.kind for e in reading.events} <= {e.kind for e in q.events} \
                and not any(not m.generic and m.end <= q.events[0].start for m in q.objects):
            # "The dog barks first." answering "which animal barks first?": the
            # answer restates the question's predicate about one thing, so it names that thing
            return self.check_object_answer(named)
        # "why does it turn?" - "because of the pink star": an object named as the cause
        named_cause = "cause" in q.cues and q.events and any(not m.generic for m, _ in answer_groundings)
        if reading.events or reading.self_cause or (reading.border and "cause" in q.cues) or named_cause:
            return self.check_event_answer(reading, answer_groundings)
        if answer_groundings:
            return self.check_object_answer(answer_groundings)
        return Claims()

    # ---- times -----------------------------------------------------------------------------
    def _duration(self) -> float | None:
        """The whole video's seconds (a retrieved part of a long video knows the whole's length)."""
        info = (self.doc or {}).get("video") or {}
        frames = info.get("num_frames")
        return float(frames) / self.scene.fps if frames else None

    def check_time(self, interval: Interval) -> Claims:
        """"When did the cat jump on the table?" + "in minute 7": the
        question's event, done by its object (with its partner), happened inside the interval.
        Scored by the share of the event's distinct occurrences inside (look-alikes elsewhere
        weaken the claim, they do not flip it); -1 when none is inside."""
        q, scene = self.question, self.scene
        event = q.events[0]
        subject = [t for t in self.referent if t in scene.tracks]
        after = [g for m, g in self.question_groundings if m.start >= event.end and not m.generic and g.track_ids]
        partner = [t for t in after[0].track_ids if t not in subject] if after else None
        found = self.occurrences(event, subject, partner or None)
        frames = self._distinct_frames([h.frame for h in found])
        if not frames:
            return Claims(checked="time")
        inside = [f for f in frames if interval.contains(scene.seconds(f))]
        share = len(inside) / len(frames)
        frame = inside[0] if inside else frames[0]
        when = f"{event.kind} at {_clock(scene.seconds(frame))}"
        if share:
            return graded(share, when, "time", frame, subject)
        return graded(-1.0, f"{when}, not in {_clock(interval.start)}-{_clock(interval.end)}", "time", frame, subject)

    # ---- direction of travel --------------------------------------------------------------
    def check_direction(self, reading: Reading, groundings) -> Claims:
        """"moves to the left": the subject's overall direction of travel (image coordinates)."""
        from videothought.graph.stsg import direction_name

        named = [g for m, g in groundings if not m.generic and g.track_ids]
        ids = [t for t in (named[0].track_ids if named else self.referent) if t in self.scene.tracks]
        if not ids:
            return Claims(checked="direction")
        track = max(ids, key=lambda t: self.scene.tracks[t].num_observations)
        boxes = self.scene.boxes(track)
        centres = (boxes[:, 1:3] + boxes[:, 3:5]) / 2  # (N, 2)
        size = float(max(1.0, ((boxes[:, 3] - boxes[:, 1]).mean() + (boxes[:, 4] - boxes[:, 2]).mean()) / 2))
        seen = direction_name(centres[-1] - centres[0], still_below=max(2.0, 0.25 * size))
        claimed = [part for side in reading.sides for part in _DIRECTION_PARTS[side]]
        ok = all(part in seen.split("-") for part in claimed)
        return graded(1.0 if ok else -1.0, f"moves {seen}", "direction")

    # ---- counts --------------------------------------------------------------------------
    def expected_count(self) -> int | None:
        q, scene = self.question, self.scene
        if q.events:
            kind = q.events[0].kind
            if "partners" in q.cues and self.referent:
                partners = {h.partner for t in self.referent for h in scene.happenings(t)
                            if h.kind == kind and h.partner is not None and h.partner not in self.referent}
                return len({scene.tracks[p].name for p in partners if p in scene.tracks})
            # "how often does the ball bounce", and "how many turns does the ball make": the
            # ball is the subject, named before the event or right after the auxiliary
            subject_first = q.objects and (q.objects[0].start < q.events[0].start or self._after_auxiliary(q.objects[0])
                                           or _word_before(q.words, q.objects[0].start) == "by")  # "... made by the ball"
            if self.referent and subject_first and not q.objects[0].generic:
                return len(self._distinct_frames([h.frame for t in self.referent for h in scene.happenings(t) if h.kind == kind]))
            if q.objects and q.objects[0].generic and subject_first and not {"times", "often"} & set(q.words):
                # "how many objects enter": tracks, by name ("how many times do two objects meet": events)
                return len({scene.tracks[e.track_ids[0]].name for e in scene.events(kind) if e.track_ids[0] in scene.tracks})
            return len(scene.distinct_events(kind))
        named = [g for m, g in self.question_groundings if not m.generic]
        if named:
            ids = [t for t, facts in scene.tracks.items()
                   if all(self._meets(m, facts) for m, _ in self.question_groundings if not m.generic)]
            return scene.count_together(ids)
        if self.question_groundings:
            return scene.count_together(list(scene.tracks))
        return None

    def _meets(self, mention, facts) -> bool:
        from videothought.agent.rules.grounding import lexical_score

        return lexical_score(mention, facts) >= 1.0 - 1e-9

    def _distinct_frames(self, frames: list[int]) -> list[int]:
        kept: list[int] = []
        for frame in sorted(frames):
            if not kept or frame - kept[-1] > self.scene.duplicate_frames:
                kept.append(frame)
        return kept

    def check_count(self, given: int) -> Claims:
        expected = self.expected_count()
        if expected is None:
            return Claims(checked="count")
        score = 1.0 if given == expected else max(-1.5, -0.5 * abs(given - expected))
        return graded(score, f"count {given} (the STSG: {expected})", "count")

    # ---- attributes ----------------------------------------------------------------------
    def _is_attribute_answer(self, answer: str, reading: Reading) -> bool:
        """A bare attribute value ("red", "a circle" is an object): no article, no event."""
        words = reading.words
        attributes = {a for m in reading.objects for a in m.constraints}
        # the question names the attribute ("... its colour?") and the answer gives a value of it
        asked = {_ATTRIBUTE_NAMES.get(w, w) for w in self.question.words} & attributes
        if asked and not reading.events and "label" not in attributes and self.referent:
            return True
        if reading.events or not reading.objects or words[:1] in (["the"], ["a"], ["an"]):
            return False
        return bool(attributes) and "label" not in attributes and len(words) <= 3 and bool(self.referent)

    def check_attribute(self, reading: Reading) -> Claims:
        scene = self.scene
        weights = {t: scene.tracks[t].num_observations for t in self.referent if t in scene.tracks}
        if not weights:
            return Claims(checked="attribute")
        shares = []
        for mention in reading.objects:
            for attribute, value in mention.constraints.items():
                agree = sum(w for t, w in weights.items() if str(scene.tracks[t].attributes.get(attribute, "")).lower() == value)
                shares.append((attribute, value, agree / max(1, sum(weights.values()))))
        share = min(s for _, _, s in shares)
        text = ", ".join(f"{a} {v} ({s:.0%})" for a, v, s in shares)
        return graded(2 * share - 1, f"the referent has {text}", "attribute")

    # ---- answers that name an object -----------------------------------------------------
    def check_object_answer(self, groundings: list[tuple]) -> Claims:
        mention, grounding = groundings[0]
        ids = grounding.track_ids
        q, scene = self.question, self.scene
        if not q.events:
            return graded(0.3 if ids else -0.5, f"{mention.text} is in the video", "existence")
        event = q.events[0]
        kind = event.kind
        if self.anchor_frame is not None and self.referent and not set(ids) & set(self.referent):
            return self.check_partner_from(mention, ids, event)
        if "first" in q.cues or "last" in q.cues:
            # "who greets the host first?": among those that did it with the named partner
            named_after = [g for m, g in self.question_groundings if m.start >= event.end and not m.generic and g.track_ids]
            partner = set(named_after[0].track_ids) if named_after else set()
            firsts: dict[int, int] = {}
            for t in scene.tracks:
                frames = [h.frame for h in scene.happenings(t) if self._same_kind(kind, h.kind)
                          and (not partner or h.partner in partner) and t not in partner]
                if frames:
                    firsts[t] = min(frames)
            mine = [f for t, f in firsts.items() if t in ids]
            if not mine:
                return graded(-1.0, f"{mention.text} never does it ({kind})", "order")
            seen = list(firsts.values())
            if "last" in q.cues and "first" not in q.cues:
                frame = max(mine)
                behind = max(seen) - frame
            else:
                frame = min(mine)
                behind = frame - min(seen)
            # within a moment of the earliest (latest) is uncertain, not wrong; the earliest itself is best
            ok = behind <= scene.near_frames
            score = 1.0 - 0.3 * behind / max(1, scene.near_frames) if ok else -0.5
            mine_ids = [t for t in ids if firsts.get(t) == frame]
            return graded(score, f"{mention.text} {kind} at frame {frame}", "order", frame, mine_ids)
        if self.referent and not set(ids) & set(self.referent):
            together = [h for t in self.referent for h in scene.happenings(t) if h.kind == kind and h.partner in ids]
            frame = min((h.frame for h in together), default=None)
            return graded(1.0 if together else -1.0, f"{kind} between the question's object and {mention.text}",
                          "partner", frame, ids)
        did = [t for t in ids if scene.first_frame_of(t, kind) is not None]
        frame = min((scene.first_frame_of(t, kind) for t in did), default=None)
        return graded(0.8 if did else -0.8, f"{mention.text} {kind}", "event", frame, ids)

    @staticmethod
    def _same_kind(asked: str, seen: str) -> bool:
        return asked == seen or (asked == "collide" and seen == "push")  # a push is a contact too

    def _forward(self) -> bool:
        """Does the question look after its anchor (else before)?"""
        return "after" in self.question.cues or "before" not in self.question.cues

    def check_partner_from(self, mention, ids: list[int], event: EventMention) -> Claims:
        """"Which object does it hit after that?": the partner of the referent's nearest such
        happening after (before) the previous turn's moment."""
        scene, anchor = self.scene, self.anchor_frame
        forward = self._forward()
        found = sorted((h for t in self.referent for h in scene.happenings(t) if self._same_kind(event.kind, h.kind)
                        and h.partner is not None and h.partner not in self.referent
                        and (h.frame > anchor if forward else h.frame < anchor)),
                       key=lambda h: h.frame if forward else -h.frame)
        word = "after" if forward else "before"
        if not found:
            return graded(-0.3, f"no {event.kind} {word} frame {anchor}", "partner")
        nearest = [h for h in found if abs(h.frame - found[0].frame) <= scene.near_frames]
        if any(h.partner in ids for h in nearest):
            return graded(1.0, f"{event.kind} with {mention.text} right {word} frame {anchor}", "partner",
                          found[0].frame, ids)
        later = next((h for h in found if h.partner in ids), None)
        if later is not None:
            return graded(0.3, f"{event.kind} with {mention.text} {word} frame {anchor}, not the nearest", "partner",
                          later.frame, ids)
        return graded(-1.0, f"no {event.kind} with {mention.text} {word} frame {anchor}", "partner")

    # ---- answers that name an event ------------------------------------------------------
    def check_event_answer(self, reading: Reading, groundings: list[tuple]) -> Claims:
        q = self.question
        event = reading.events[0] if reading.events else None
        subject, partner = self._roles(reading, event, groundings)
        if "counterfactual" in q.cues:
            return self.check_counterfactual(reading, event, subject, partner)
        if "cause" in q.cues:
            return self.check_cause(reading, event, groundings)
        if q.cut_seconds is not None or ("future" in q.cues and not ("after" in q.cues and q.events)):
            return self.check_prediction(reading, event, subject, partner)
        if event is None:
            return Claims()
        if self.anchor_frame is not None:
            return self.check_sequence_from(event, subject, partner, [self.anchor_frame], "the previous answer",
                                            self._forward())
        anchors = [e for e in q.events if e.kind != event.kind or q.events.index(e) == 0]
        if q.events and ("after" in q.cues or "before" in q.cues):
            return self.check_sequence(event, subject, partner, anchors[0])
        happened = self.occurrences(event, subject, partner, reading)
        near_time = [h for h in happened if not reading.times_seconds
                     or any(abs(self.scene.seconds(h.frame) - s) <= 0.6 for s in reading.times_seconds)]
        score = 1.0 if near_time else 0.3 if happened else -0.7
        verdict = "happened" if score > 0 else "did not happen"
        seen = near_time or happened
        return graded(score, f"{event.kind} of {self._names(subject)} {verdict}", "event",
                      seen[0].frame if seen else None, subject)

    def _roles(self, reading: Reading, event: EventMention | None, groundings) -> tuple[list[int], list[int] | None]:
        """The answer's subject (its object before the verb, else the question's) and partner."""
        # "this shape", "that object": the question's own object, said again
        groundings = [(m, g) for m, g in groundings
                      if not (m.generic and _word_before(reading.words, m.start) in ("this", "that"))]
        before = [g for m, g in groundings if event is None or m.end <= event.start]
        after_pairs = [(m, g) for m, g in groundings if event is not None and m.start >= event.end]
        after = [g for _, g in after_pairs]
        if not before and after and not event.passive and event.kind != "push" and \
                _word_before(reading.words, after_pairs[0][0].start) in ("by", "of"):
            # "a change of direction by the ball", "the collision of the ball with the box": the
            # event named first, its doer after "by" / "of"
            before, after = after[:1], after[1:]
        modifier = [g for m, g in groundings if event is not None and m.end == event.start]
        if len(before) == 1 and not after and modifier == before and reading.words[event.start] in NOUN_EVENTS \
                and not set(before[0].track_ids) & set(self.referent):
            # "a green triangle collision": a name used as the noun's modifier is the other party
            # of the question's own object's collision, not its doer
            before, after = [], before
        subject = before[0].track_ids if before else list(self.referent)
        partner = after[0].track_ids if after else None
        if partner is None and before and len(before) > 1:
            partner = before[1].track_ids
        return subject, partner

    def matches(self, event: EventMention, happening: Happening, partner: list[int] | None, subject_id: int) -> bool:
        """Does this happening of `subject_id` make the answer's event true?"""
        kind = event.kind
        if kind != happening.kind:
            if not (kind == "collide" and happening.kind == "push"):  # a push is a contact too
                return False
        if partner is not None and happening.partner not in partner:
            return False
        if kind == "push" and partner is not None:
            wanted_role = "target" if event.passive else "actor"
            if happening.role != wanted_role:
                return False
        if event.side is not None:
            return self.scene.border_contact(subject_id, happening.frame) == event.side
        return True

    def occurrences(self, event: EventMention, subject: list[int], partner, reading: Reading | None = None) -> list[Happening]:
        ids = subject or list(self.scene.tracks)
        found = [h for t in ids for h in self.scene.happenings(t) if self.matches(event, h, partner, t)]
        return sorted(found, key=lambda h: h.frame)

    def check_sequence(self, event: EventMention, subject: list[int], partner, anchor: EventMention) -> Claims:
        scene, q = self.scene, self.question
        ids = subject or list(scene.tracks)
        anchor_partner = None
        patient = [g for m, g in self.question_groundings if anchor.passive and not m.generic and m.end <= anchor.start
                   and anchor.start - m.end <= 2]  # "the box is hit by the ball": the box is the other party
        anchor_objects = patient or [g for m, g in self.question_groundings if m.start >= anchor.end and not m.generic] or \
            [g for m, g in self.question_groundings  # "right before its cyan triangle collision"
             if m.end == anchor.start and q.words[anchor.start] in NOUN_EVENTS and not m.generic]
        if anchor_objects and set(anchor_objects[0].track_ids) - set(ids):
            anchor_partner = anchor_objects[0].track_ids
        anchor_frames = sorted(h.frame for t in ids for h in scene.happenings(t) if self.matches(anchor, h, anchor_partner, t))
        if not anchor_frames:
            mine = self.occurrences(event, ids, partner)
            return graded(0.3 if mine else -0.5, f"{event.kind} happens (no '{anchor.kind}' to anchor on)", "sequence")
        after = "after" in q.cues and not ("before" in q.cues and q.words.index("before") < q.words.index(
            next(w for w in q.words if w in ("after", "then", "next", "later", "following", "once", "afterwards", "subsequently"))))
        return self.check_sequence_from(event, ids, partner, anchor_frames, f"the {anchor.kind}", after,
                                        lambda h, t: self.matches(anchor, h, anchor_partner, t))

    def check_sequence_from(self, event: EventMention, subject: list[int], partner, anchor_frames: list[int],
                            anchor_name: str, after: bool, is_anchor=None) -> Claims:
        """The answer's event is the subject's nearest happening after (before) the first anchor frame."""
        scene, q = self.scene, self.question
        ids = subject or list(scene.tracks)
        mine = self.occurrences(event, ids, partner)
        frame = anchor_frames[0]
        history = sorted((h for t in ids for h in scene.happenings(t) if not (is_anchor and is_anchor(h, t))
                          and (not self.option_kinds or h.kind in self.option_kinds
                               or (h.kind == "push" and "collide" in self.option_kinds))),
                         key=lambda h: h.frame)
        # a moment from an earlier turn: what happens within the same moment (a rebound off the
        # contact the turn named) is part of it, not the next thing
        gap = scene.duplicate_frames if is_anchor is None else 0
        side = [h for h in history if (h.frame > frame + gap if after else h.frame < frame - gap)]
        word = "after" if after else "before"
        if not side:
            return graded(-0.5, f"nothing happens {word} {anchor_name}", "sequence")
        nearest = side[0].frame if after else side[-1].frame
        near = [h for h in side if abs(h.frame - nearest) <= scene.near_frames]
        hit = next((h for h in near if h in mine), None)
        if hit is not None:
            return graded(1.0, f"{event.kind} right {word} {anchor_name} (frame {nearest})", "sequence", hit.frame, ids)
        later = [h for h in side if h in mine]
        if later:
            return graded(0.8 if "immediate" not in q.cues else 0.2, f"{event.kind} {word} {anchor_name}, not right {word}",
                          "sequence", later[0].frame, ids)
        return graded(-1.0, f"no {event.kind} {word} {anchor_name} at frame {frame}", "sequence")

    def _cause_at(self, subject: list[int], frame: int, kind: str | None = None) -> tuple[str, object]:
        """What acted on the subject at `frame`: ("contact", kind, partner) / ("border", side) / ("self",).
        A frame edge can turn or halt a thing that runs into it; it cannot set a resting one moving,
        so for a start (`kind`) only contacts count."""
        # a contact acts when it begins: a push that has been going on for a while, or that ends
        # here, is no cause of a change at this frame
        contacts = [h for t in subject for h in self.scene.interactions_near(t, frame) if h.kind in CAUSE_KINDS
                    and abs(h.event.start_frame - frame) <= self.scene.near_frames]
        # touching a frame edge at the turn's own frame outweighs a contact a few frames off: the
        # near window is wide enough to catch a contact just before or after a rebound
        edge = None if kind == "start" else \
            next((side for t in subject if (side := self.scene.border_contact(t, frame, window_frames=0))), None)
        if contacts and not (edge and all(h.frame != frame for h in contacts)):
            h = min(contacts, key=lambda h: abs(h.frame - frame))
            return ("contact", h.partner, h.kind)
        if kind == "start":
            return ("self", None)
        if edge:
            return ("border", edge)
        for t in subject:
            side = self.scene.border_contact(t, frame)
            if side:
                return ("border", side)
        return ("self", None)

    def check_cause(self, reading: Reading, event: EventMention | None, groundings) -> Claims:
        q, scene = self.question, self.scene
        ids = list(self.referent)
        if not q.events or not ids:
            return Claims(checked="cause")
        effect = q.events[0]
        frames = self._distinct_frames([h.frame for t in ids for h in scene.happenings(t) if h.kind == effect.kind])
        if not frames and effect.kind in ("stop", "start", "turn"):
            # "why does it stop?" takes the stop for granted: when the detector missed it, the
            # moment the track's motion changes most that way stands in for it
            likeliest = scene.likeliest_change(ids[0], effect.kind)
            frames = [likeliest] if likeliest is not None else []
        if not frames:
            return Claims(checked="cause")
        wanted = min(q.ordinal or 1, len(frames)) - 1
        causes = [self._cause_at(ids, f, effect.kind) for f in frames]
        others = sorted({t for m, g in groundings if not m.generic for t in g.track_ids} - set(ids))
        if reading.self_cause and not reading.events:
            claimed: tuple = ("self", None)
        elif reading.border or (event is not None and event.side):
            claimed = ("border", (event.side if event is not None and event.side else (reading.sides or [None])[0]))
        elif others:
            claimed = ("contact", tuple(others))
        else:
            return Claims(checked="cause")
        claimed_kind = next((e.kind for e in reading.events if e.kind in CAUSE_KINDS), None)

        def agreement(seen) -> float:
            if claimed[0] != seen[0]:
                return 0.0
            if seen[0] == "contact":
                if seen[1] not in claimed[1]:
                    return 0.0
                # the right partner; the kind of contact (a hit or a push) the tracker may blur
                return 1.0 if claimed_kind in (None, seen[2]) else 0.6
            if seen[0] == "border":
                return 1.0 if claimed[1] in (None, seen[1]) else 0.0
            return 1.0

        here = agreement(causes[wanted])
        elsewhere = max((agreement(c) for i, c in enumerate(causes) if i != wanted), default=0.0)
        text = f"cause of the {effect.kind} at frame {frames[wanted]}: {causes[wanted][0]} {causes[wanted][1] or ''}".strip()
        if here:
            return graded(here, text, "cause")
        if elsewhere:
            return graded(0.2 * elsewhere, f"a cause of another {effect.kind}", "cause")
        # an unseen contact reads as "on its own": refute that less firmly
        return graded(-0.3 if causes[wanted][0] == "self" else -1.0, text, "cause")

    def check_counterfactual(self, reading: Reading, event: EventMention | None, subject, partner) -> Claims:
        removed = [g for m, g in self.question_groundings if not m.generic]
        if event is None or not removed or not removed[0].track_ids:
            return Claims(checked="counterfactual")
        removed_ids = set(removed[0].track_ids)
        happened = self.occurrences(event, subject, partner)
        located: list[Happening] = []  # found from the motion at the option's time, not by the detector
        if reading.times_seconds:
            def off(h) -> float:
                return min(abs(self.scene.seconds(h.frame) - s) for s in reading.times_seconds)
            happened = [h for h in happened if off(h) <= 0.6]
            # the one the option dates, not a neighbour of the same kind
            happened = [h for h in happened if off(h) <= min(map(off, happened)) + 1e-6]
            if not happened:
                happened = located = self._stated_change(event, subject, reading.times_seconds[0])
        if not happened:
            return graded(-0.3, f"{event.kind} of {self._names(subject)} is not seen", "counterfactual")
        subject_ids = [t for t in (subject or []) if t in self.scene.tracks] or [t for t in self.scene.tracks]
        dependent, touching = [], []
        for h in happened:
            acted_on = h.partner in removed_ids
            cause = self._cause_at(subject_ids, h.frame, h.kind)
            if acted_on or (cause[0] == "contact" and cause[1] in removed_ids):
                dependent.append(h)
            elif self._touching(subject_ids, removed_ids, h.frame):
                touching.append(h)
        if len(dependent) == len(happened):
            if event.side is not None:
                # "rebounds from the lower wall" names its own cause, the edge: the removed object was
                # there too, but the rebound would likely still happen without it
                return graded(0.6, f"the {event.kind} off the {event.side} edge, with the removed object there",
                              "counterfactual")
            return graded(1.0, f"the {event.kind} depends on the removed object", "counterfactual")
        if len(dependent) + len(touching) == len(happened):
            # the tracker saw no contact, but the removed object was touching the subject then
            return graded(0.5, f"the removed object touches {self._names(subject)} at the {event.kind}", "counterfactual")
        # a change located from the motion alone is less sure than a detected one: so is its refutation
        return graded(-0.5 if located else -1.0, f"the {event.kind} also happens without the removed object",
                      "counterfactual")

    def _stated_change(self, event: EventMention, subject, seconds: float) -> list[Happening]:
        """A stop, start or turn an option dates (it turns "at 2.8 s") that the event
        detector missed: the moment near that time where the subject's motion changes most that way.
        The options of "which would not happen" are things that did happen; this finds where."""
        if event.kind not in ("stop", "start", "turn") or not subject:
            return []
        frame = self.scene.frame_at(seconds)
        for track in subject:
            if track in self.scene.tracks:
                moment = self.scene.likeliest_change(track, event.kind, around=frame)
                if moment is not None:
                    return [Happening(moment, event.kind)]
        return []

    def _touching(self, subject: list[int], others, frame: int) -> bool:
        """Were the boxes of `subject` and of any of `others` within touching distance (a gap under
        a third of their radii) around `frame`? A contact the tracker's events may have missed."""
        import numpy as np

        for track in subject:
            for other in others:
                if other == track or other not in self.scene.tracks:
                    continue
                pair = self._seen_together(track, other, around=frame)
                if pair is None:
                    continue
                centre_a, centre_b, radius_a, radius_b = pair
                gap = np.linalg.norm(centre_a - centre_b, axis=1) - radius_a - radius_b
                if float((gap - (radius_a + radius_b) / 3).min()) <= 0:
                    return True
        return False

    def check_prediction(self, reading: Reading, event: EventMention | None, subject, partner) -> Claims:
        scene = self.scene
        ids = [t for t in (self.referent or subject) if t in scene.tracks]
        if event is None or not ids:
            return Claims(checked="prediction")
        track = max(ids, key=lambda t: scene.tracks[t].last_frame)
        predicted = scene.extrapolate(track)
        kind = event.kind
        if predicted["kind"] == "still":
            score = 1.0 if kind == "start" else -0.5
        elif predicted["kind"] == "contact":
            if kind in ("collide", "push", "occluded", "approach"):
                # Meeting is what extrapolation sees. How they meet it tells only from the other's
                # motion: a thing that runs into a resting one sets it moving (the event detector's
                # push), into a moving one it collides; passing by it cannot tell.
                expected = "push" if predicted.get("resting") else "collide"
                meets = 1.0 if kind == expected else 0.8
                score = meets if partner is None or predicted["track"] in partner else -0.5
            else:
                score = -0.5
        elif predicted["kind"] == "border":
            side = predicted["side"]
            turn_prior, exit_prior = self._border_behaviour(track)
            if kind == "turn":
                # naming the edge it will reach says more than "changes direction": prefer it
                score = (1.0 if event.side == side else 0.9 if event.side is None else -0.5) * turn_prior
            elif kind in ("exit", "disappear"):
                score = exit_prior if kind == "exit" else 0.8 * exit_prior
            else:
                score = -0.5
        else:
            score = 0.3 if kind == "stop" else -0.2
        return graded(score, f"extrapolated: {predicted}", "prediction")

    def _border_behaviour(self, track: int) -> tuple[float, float]:
        """What this track and the others did at the frame edge so far (graph/reasoning.py)."""
        return reasoning.edge_behaviour(self.scene, track)

    def _names(self, ids) -> str:
        return ", ".join(self.scene.tracks[t].name for t in (ids or []) if t in self.scene.tracks) or "something"




def _counted(reading: Reading) -> int | None:
    """The number an answer to "how many" gives: a numeral or number word, "none"/"no ...", "twice"."""
    if reading.count is not None:
        return reading.count
    words = set(reading.words)
    if words & ZERO_WORDS:
        return 0
    return next((n for w, n in TIMES_WORDS.items() if w in words), None)


def _word_before(words: list[str], start: int) -> str:
    """The word ahead of a mention, past its determiners ("by [the] ball" -> "by")."""
    i = start - 1
    while i >= 0 and words[i] in ("the", "a", "an", "its", "their"):
        i -= 1
    return words[i] if i >= 0 else ""


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "end"
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def check_claims(answer: str, question: str, doc: dict | None, target_ids=(), **grounding) -> dict:
    """One answer against the STSG: {"supported", "contradicted", "score", "checked"}."""
    return ClaimChecker(question, doc, target_ids=target_ids, **grounding).check(answer).to_dict()
