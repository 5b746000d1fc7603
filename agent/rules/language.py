"""Plain English about scenes, read in code: what a question or an answer mentions.

General language only. The words for things come from the scene's own vocabulary (the
labels and attribute values its perception can output, with their English aliases, see
`Vocabulary`); the words for happenings map onto the STSG schema's event types
(videothought.graph.schema.EVENT_TYPES) through an English verb lexicon; time, order,
counting, causes and counterfactuals are read from common English cue words. Nothing here
knows a benchmark's sentences: a question is a bag of mentions and cues, in any wording.

    reading = read_text("Why does the big ball bounce off the top wall for the second time?", vocabulary)
    reading.objects       [Mention("big ball", ...)]
    reading.events        [EventMention(kind="turn", side="top", ...)]
    reading.cues          {"cause", "ordinal"}; reading.ordinal == 2
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from videothought.graph.schema import EVENT_PHRASES
from videothought.graph.words import DETERMINERS, FUNCTION_WORDS, NUMBER_WORDS, ORDINALS, PLAIN_SUBJECTS
from videothought.perception.vocabulary import POLYGON_BY_SIDES

# ---- events: English verbs and phrases for each STSG event type ----------------------------
# The phrases live with the schema (videothought.graph.schema.EVENT_PHRASES, base forms);
# `_forms` adds -s/-es/-ed/-ing and the irregular forms listed below.
_EVENT_PHRASES = EVENT_PHRASES
_IRREGULAR = {"hit": ("hit", "hits", "hitting"), "run": ("run", "ran", "runs", "running"),
              "come": ("come", "came", "comes", "coming"), "go": ("go", "goes", "went", "gone", "going"),
              "get": ("get", "got", "gets", "getting", "gotten"), "leave": ("leave", "left", "leaves", "leaving"),
              "begin": ("begin", "began", "begun", "begins", "beginning"), "drive": ("drive", "drove", "drives", "driven", "driving"),
              "strike": ("strike", "struck", "strikes", "striking"), "be": ("be", "is", "was", "are", "were", "gets", "being"),
              "stand": ("stand", "stood", "stands", "standing"), "show": ("show", "showed", "shown", "shows", "showing"),
              "freeze": ("freeze", "froze", "freezes", "frozen", "freezing"), "draw": ("draw", "drew", "draws", "drawn", "drawing"),
              "hide": ("hide", "hid", "hides", "hidden", "hiding"), "walk": ("walk", "walks", "walked", "walking"), "set": ("set", "sets", "setting"),
              "stop": ("stop", "stops", "stopped", "stopping"), "slip": ("slip", "slips", "slipped", "slipping"),
              "knock": ("knock", "knocks", "knocked", "knocking"), "bang": ("bang", "bangs", "banged", "banging"),
              "slam": ("slam", "slams", "slammed", "slamming"), "smash": ("smash", "smashes", "smashed", "smashing"),
              "pop": ("pop", "pops", "popped", "popping"), "make": ("make", "makes", "made", "making"),
              "move": ("move", "moves", "moved", "moving"), "head": ("head", "heads", "headed", "heading"),
              "carry": ("carry", "carries", "carried", "carrying"),
              "meet": ("meet", "meets", "met", "meeting"), "give": ("give", "gives", "gave", "given", "giving"),
              "travel": ("travel", "travels", "traveled", "travelled", "traveling", "travelling")}
# A phrase word that is already an inflected or fixed form.
_FIXED = {"into", "out", "off", "in", "to", "a", "around", "back", "behind", "under", "along", "away", "up",
          "toward", "towards", "closer", "near", "screen", "still", "rest", "stop", "halt", "contact", "motion",
          "direction", "view", "hidden", "covered", "occluded", "collision", "moving", "rolling", "sliding", "course",
          "gone", "missing", "collisions", "impacts", "contacts", "crashes"}

SIDES = {"left": "left", "right": "right", "top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom",
         "ceiling": "top", "floor": "bottom", "ground": "bottom"}
BORDER_WORDS = {"edge", "edges", "wall", "walls", "border", "borders", "side", "boundary", "frame", "screen"}
SELF_CAUSE = ("on its own", "by itself", "itself", "nothing", "no reason", "no cause", "spontaneously",
              "its own", "no other object", "nobody", "no one")
# Words that only say which attribute a value is ("red-coloured", "star-shaped"): skipped inside a mention.
_ATTRIBUTE_SUFFIXES = {"coloured", "colored", "shaped", "tinted", "hued", "toned", "colour", "color"}
# (issue 25: "shape", "item", "big" and "little" were held-out phrases in these tables; they are gone, and
# tests/test_agent_rule.py keeps every held-out phrase out of every word table)
GENERIC_NOUNS = {"object", "objects", "thing", "things", "one", "ones",
                 "figure", "figures", "body", "bodies", "entity", "piece"}
SIZE_WORDS = {"large": "large", "larger": "large",
              "largest": "large", "huge": "large", "small": "small", "smaller": "small", "smallest": "small",
              "tiny": "small", "medium": "medium", "middle": "medium", "mid": "medium"}

_CUES: dict[str, tuple[str, ...]] = {
    "after": ("after", "afterwards", "afterward", "then", "next", "later", "following", "subsequently",
              "once", "since then", "right after", "just after", "immediately after", "directly after", "follows",
              "followed", "follow", "comes after", "came after", "as soon as", "subsequent to"),
    "before": ("before", "prior to", "earlier", "previously", "preceding", "beforehand", "just before",
               "right before", "immediately before", "precedes", "preceded", "precede", "comes before", "came before",
               "leading up to", "led up to", "ahead of"),
    "immediate": ("right after", "just after", "immediately", "directly after", "right before", "just before",
                  "next", "straight after", "the moment", "directly follows", "directly precedes", "directly followed",
                  "directly preceded", "as soon as"),
    "first": ("first", "earliest", "initially", "the first", "soonest", "before any other", "before the others",
              "before all", "quickest to", "fastest to", "1st", "before any", "before every", "ahead of any", "ahead of every",
              "ahead of all", "ahead of the others", "earlier than any", "earlier than all", "earlier than every",
              "sooner than any", "sooner than all", "firstly"),
    "last": ("last", "latest", "finally", "final", "the last", "after all the others", "after the others",
             "after every", "after all other", "after any other", "later than any", "later than all", "later than every",
             "behind all the others", "lastly"),
    "count": ("how many", "how much", "number of", "count", "how often", "how many times", "total", "tally", "how frequently"),
    "cause": ("why", "because", "reason", "cause", "caused", "causes", "due to", "what made", "what makes",
              "as a result", "leads to", "led to", "result of", "how come", "explain", "explains", "explained", "what led", "it that made", "it that makes",
              "it that caused", "it that causes", "it that led", "explanation", "triggered",
              "what triggers", "responsible", "what prompted", "prompts", "what got", "what gets", "what sent", "what forced",
              "what is behind", "what's behind", "what was behind", "source of", "what brought", "brought about",
              "what set", "account for", "accounts for", "what put", "what leads", "what led", "what causes", "what sets", "by what"),
    "counterfactual": ("removed", "remove", "absent", "without", "taken away", "take away", "were not there",
                       "was not there", "weren't there", "wasn't there", "never existed", "had not been",
                       "hadn't been", "deleted", "did not exist", "didn't exist", "were gone", "was gone", "had been gone",
                       "taken out", "take out", "were no", "was no", "had never been", "never been there", "were not in",
                       "was not in", "weren't in", "wasn't in", "not present", "had been no", "without the",
                       "not been there", "left out", "were missing", "was missing", "had there been no", "had there not been",
                       "were there no", "there been no", "absence of", "in the absence", "depends on", "depend on",
                       "dependent on", "relies on", "rely on", "requires the", "require the", "presence of",
                       "would not exist", "needs the", "need the", "is not in", "isn't in", "is not there",
                       "isn't there", "is not present", "not in the scene", "only happen because", "only because",
                       "could only happen", "only possible because", "got rid of", "get rid of", "removing",
                       "deleting", "erasing", "erased", "eliminating", "taking away", "taking out", "getting rid of",
                       "leaving out", "with no", "without any", "lacking", "lacked", "minus the", "no longer there", "along with", "been missing",
                       "been absent", "never been in", "eliminated", "eliminate", "delete", "erase", "there's no", "there is no", "there are no", "had no",
                       "removal of", "removal", "does not exist", "doesn't exist", "not exist", "there is not",
                       "there isn't"),
    "negated": ("would not", "wouldn't", "not happen", "no longer", "fail to", "never happen", "would no longer",
                "could not", "couldn't", "prevented", "eliminated", "would be lost", "would never", "wouldn't have", "would not have", "no longer",
                "would not be", "wouldn't be", "not be observed", "not be seen", "not occur", "not take place",
                "doesn't happen", "didn't happen", "don't happen", "won't happen", "be missing", "be absent", "event lost",
                "events lost", "is lost", "are lost"),
    "future": ("will", "going to", "about to", "predict", "expect", "would happen next", "is likely to", "likely",
               "guess", "anticipate", "forecast", "next move", "what comes next", "probably", "happens next",
               "comes next", "next action", "expected", "foresee", "next event", "next thing"),
    "partners": ("different objects", "different object", "distinct object", "different things", "distinct objects", "other objects", "how many objects",
                 "distinct things", "separate objects", "separate things", "unique objects", "different shapes",
                 "distinct shapes", "how many things", "different ones", "distinct ones", "different items"),
}
_TIME = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)\b")
_TAKEN_OUT = re.compile(r"\b(?:take|takes|took|taken|taking)\b(?:\s+\S+){0,4}?\s+(?:out|away)\b")
# "at time 1.8", "t = 1.8": a time without its unit
_TIME_NAMED = re.compile(r"\b(?:time|t)\s*=?\s*(\d+(?:\.\d+)?)\b")
_CUT = re.compile(r"(?:first|opening|initial|up to|until|till|through|only|given|cut at|cut off at|stopped at|stops at|"
                  r"stopped after|stops after|paused after|cut after|cut off after|ends after|ended after|halted after|"
                  r"frozen after|"
                  # "stopping the video at 4.5 s": the verb, the medium, then the time
                  r"(?:stop|stops|stopped|stopping|pause|pauses|paused|pausing|cut|cutting|end|ends|ended|ending|"
                  r"freeze|freezing|froze|frozen|halt|halted|halting)\s+(?:the\s+)?(?:video|clip|footage|recording|film|"
                  r"movie|playback)\s+at|"
                  r"paused at|pausing at|pause at|ends at|ending at|halted at|frozen at)\s+(?:the\s+)?(?:first\s+)?"
                  r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)\b"
                  # "at 4.4 s the video stops": the time first, then the medium that ends there
                  r"|\bat\s+(?:the\s+)?(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)(?:\s+mark)?\s+(?:the\s+)?"
                  r"(?:video|clip|footage|recording|film|movie)\s+(?:stops|ends|pauses|freezes|is cut|cuts|is paused|is stopped|halts)"
                  # "from 0.8 seconds of footage": what was shown, not a final stretch ("the last 2 seconds of the video")
                  r"|(?<!last )(?<!final )\b(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)\s+of\s+(?:video|footage|clip|recording)\b")
# The medium itself ("the video stops", "the clip ends"): its verbs are not happenings in the scene.
_MEDIUM_WORDS = {"video", "clip", "footage", "recording", "film", "movie", "playback", "stream"}


_POSSESSIVE = re.compile(r"'s$")
# note-taking shorthand: "w/o the ball", "no. of collisions", "# of objects", "objs"
_SHORTHAND_WORDS = {"w/o": "without", "w/": "with ", "no. of": "number of", "# of": "number of", "#": "number of ",
                    "obj": "object", "objs": "objects", "diff": "different"}
_SHORTHAND = re.compile(r"\bw/o\b|\bw/|\bno\. of\b|# of\b|#(?=\s*[a-z])|\bobjs?\b|\bdiff\b", re.IGNORECASE)
_BLANK_TAKES_NOUN = {"of", "with", "by", "to", "the", "a", "an", "into", "off", "from", "is", "was", "at", "on"}
QUESTION_WORDS = {"why", "what", "how", "where", "who", "when", "which"}
_CONTRACTED = {"it's", "that's", "what's", "there's", "he's", "she's", "who's", "let's", "here's", "where's"}


def tokens(text: str) -> list[str]:
    """Lowercase words and numbers ("2.5" stays one token); apostrophes kept inside words, except
    a question word's "'d" and "'ll" ("why'd" -> "why did"); note shorthand spelled out ("w/o",
    "No. of", "diff"); a fill-in blank asks "what" ("the ball ___" -> "the ball does what"); a polygon named by its
    sides becomes its name ("six-sided" -> "hexagon")."""
    text = _SHORTHAND.sub(lambda m: _SHORTHAND_WORDS[m.group(0).lower()], text)
    words: list[str] = []
    for word in re.findall(r"\d+(?:st|nd|rd|th)\b|\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|_{2,}", text.lower().replace("\u2019", "'")):
        head, _, tail = word.partition("'")
        if word.startswith("_"):
            # after a preposition or article the blank is a thing ("because of ___"), else an action
            words += ["what"] if words and words[-1] in _BLANK_TAKES_NOUN else ["does", "what"]
        elif head in QUESTION_WORDS and tail in ("d", "ll"):
            words += [head, "did" if tail == "d" else "will"]
        else:
            words.append(_POSSESSIVE.sub("", word) if word not in _CONTRACTED else word)
    if "sided" not in words:
        return words
    merged: list[str] = []
    for word in words:
        if word == "sided" and merged and (sides := _number_value(merged[-1])) in POLYGON_BY_SIDES:
            merged[-1] = POLYGON_BY_SIDES[sides]
        else:
            merged.append(word)
    return merged


def _number_value(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.index(word) if word in NUMBER_WORDS else None


def singular(word: str) -> str:
    """A crude singular for lookups: "balls" -> "ball", "boxes" -> "box", "people" -> "person"."""
    if word in ("people", "persons"):
        return "person"
    if word in ("men", "women", "children"):
        return {"men": "man", "women": "woman", "children": "child"}[word]
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _forms(word: str, first: bool = False) -> tuple[str, ...]:
    """The inflections of a phrase word. A word kept fixed inside a phrase ("rest" after "come to")
    still inflects when it is the phrase's own verb ("halt" -> "halts", "halted")."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _FIXED and not (first and word.isalpha() and not word.endswith(("ing", "s"))):
        return (word,)
    stem = word[:-1] if word.endswith("e") else word
    double = word + word[-1] if re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwy]", word) else word
    return tuple(dict.fromkeys((word, word + "s", word + "es", stem + "ed", stem + "ing", double + "ed", double + "ing",
                                word + "d")))


def _compile_lexicon() -> list[tuple[tuple[frozenset[str] | None, ...], str]]:
    patterns = []
    for kind, phrases in _EVENT_PHRASES.items():
        for phrase in phrases:
            parts = tuple(None if w == "*" else frozenset(_forms(w, first=i == 0)) for i, w in enumerate(phrase.split()))
            patterns.append((parts, kind))
    patterns.sort(key=lambda p: -len(p[0]))  # longest phrase first: "disappear behind" before "disappear"
    return patterns


_LEXICON = _compile_lexicon()


def _match_at(words: list[str], start: int, parts) -> bool:
    if start + len(parts) > len(words):
        return False
    return all(p is None or words[start + i] in p for i, p in enumerate(parts))


def _has_phrase(words: list[str], phrase: str) -> bool:
    target = phrase.split()
    return any(words[i:i + len(target)] == target for i in range(len(words) - len(target) + 1))


# ---- the scene's vocabulary ---------------------------------------------------------------
@dataclass
class Vocabulary:
    """Words that name what a perception stack can see: surface word -> (attribute, value).

    `attribute` is "label" or an attribute key ("colour", "shape", ...); `value` is the
    canonical name the STSG stores. Built from the STSG document: its `vocabulary` (what the
    perception can output, optionally with English aliases per value) and the labels and
    attribute values of its tracks.
    """

    terms: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: dict | None) -> Vocabulary:
        vocabulary = cls()
        declared = (doc or {}).get("vocabulary") or {}
        for attribute, values in declared.items():
            if not values:  # None: free text (e.g. what OCR reads), nothing to list
                continue
            items = values.items() if isinstance(values, dict) else ((v, ()) for v in values)
            for value, aliases in items:
                vocabulary.add(attribute, str(value), aliases)
        for track in ((doc or {}).get("tracks") or {}).values():
            for key, value in (track.get("attributes") or {}).items():
                if isinstance(value, str) and value:
                    vocabulary.add(key, value, ())
            label = str(track.get("label") or "")
            if label and label != "object" and len(label.split()) == 1:
                vocabulary.add("label", label, ())
        from videothought.perception.vocabulary import aliases_of

        for word, (attribute, value) in list(vocabulary.terms.items()):
            if word == value:
                for alias in aliases_of(value):
                    vocabulary.terms.setdefault(alias, (attribute, value))
        return vocabulary

    def add(self, attribute: str, value: str, aliases=()) -> None:
        value = value.lower()
        if len(value.split()) != 1 or value in GENERIC_NOUNS:  # "object" names anything: not a constraint
            return  # multi-word labels are matched through their words
        self.terms.setdefault(value, (attribute, value))
        for alias in aliases or ():
            self.terms.setdefault(str(alias).lower(), (attribute, value))

    def lookup(self, word: str) -> tuple[str, str] | None:
        return self.terms.get(word) or self.terms.get(singular(word))

    def values_of(self, attribute: str) -> set[str]:
        return {value for a, value in self.terms.values() if a == attribute}


# ---- what a text mentions -------------------------------------------------------------------
@dataclass
class Mention:
    """An object named in text: attribute constraints, a size word, where it stands."""

    text: str
    constraints: dict[str, str]  # attribute -> canonical value, e.g. {"colour": "red", "shape": "circle"}
    start: int
    end: int  # token span [start, end)
    size: str | None = None
    generic: bool = False  # "the object", "something": any track
    clause_event: str | None = None  # "the circle that stops": filters by a happening

    def to_dict(self) -> dict:
        return {"text": self.text, "constraints": self.constraints, "size": self.size, "clause_event": self.clause_event}


@dataclass
class EventMention:
    kind: str  # an STSG event type
    start: int
    end: int
    passive: bool = False  # "is pushed by X": the mention's subject is the target
    side: str | None = None  # a frame edge named with it ("rebounds from the top wall")
    folded: bool = False  # a contact with a frame edge, read as the rebound it is


@dataclass
class Reading:
    """Everything `read_text` found in one text."""

    words: list[str]
    objects: list[Mention]
    events: list[EventMention]
    cues: set[str]
    numbers: list[float]
    times_seconds: list[float]
    cut_seconds: float | None = None  # "watching the first 2.5 seconds": nothing later may be used
    ordinal: int | None = None
    sides: list[str] = field(default_factory=list)
    border: bool = False
    self_cause: bool = False

    @property
    def count(self) -> int | None:
        for number in self.numbers:
            if float(number).is_integer():
                return int(number)
        return None


def read_text(text: str, vocabulary: Vocabulary) -> Reading:
    """Mentions of objects and events, and the cue words, in `text` (any wording)."""
    words = _former_latter(_object_relative(tokens(text)), vocabulary)
    if "once" in words:  # "all at once" means suddenly, not a first time
        words = [w for i, w in enumerate(words) if not (w == "once" and i and words[i - 1] == "at")]
    lowered = " ".join(words)
    events = [e for e in _event_mentions(words) if not (e.start and words[e.start - 1] in _MEDIUM_WORDS)]
    objects = _object_mentions(words, vocabulary, events)
    cues = {cue for cue, phrases in _CUES.items() if any(_has_phrase(words, p.replace("'", "'")) for p in phrases)}
    if "future" in cues and _only_going_somewhere(words):
        cues.discard("future")  # "after going to the cushion": a place, not a future
    if _TAKEN_OUT.search(lowered):
        cues.add("counterfactual")  # "if someone took the ball out of the scene": the verb and particle around a name
    if "counterfactual" in cues and not _is_counterfactual(words, cues):
        cues.discard("counterfactual")  # "why did the man remove his skates?": a removal that happened
    numbers: list[float] = []
    times = [float(m.group(1)) for m in _TIME.finditer(lowered)]
    times += [t for m in _TIME_NAMED.finditer(lowered) if (t := float(m.group(1))) not in times]
    for i, word in enumerate(words):
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            if float(word) not in times or (i + 1 < len(words) and not re.fullmatch(r"s|sec|secs|seconds?", words[i + 1])):
                numbers.append(float(word))
        elif word in NUMBER_WORDS and not (word == "one" and _is_pronoun_one(words, i)):
            numbers.append(float(NUMBER_WORDS.index(word)))
    cut = _CUT.search(lowered)
    ordinal = next((ORDINALS.get(w) or int(w[:-2]) for i, w in enumerate(words)
                    if (w in ORDINALS or re.fullmatch(r"\d+(?:st|nd|rd|th)", w)) and w not in ("first", "1st")
                    and not (w == "second" and i and re.fullmatch(r"\d+(?:\.\d+)?", words[i - 1]))), None)
    if ordinal is None and {"first", "1st"} & set(words) and ("time" in words or "times" in words):
        ordinal = 1
    sides = [SIDES[w] for i, w in enumerate(words) if w in SIDES and not _is_adverb_right(words, i)]
    border = any(w in BORDER_WORDS for w in words) or bool(sides and events)
    self_cause = any(_has_phrase(words, p) for p in SELF_CAUSE)
    for event in events:
        after = words[event.end:event.end + 5]
        side = next((SIDES[w] for w in after if w in SIDES), None)
        if side and any(w in BORDER_WORDS for w in after):
            event.side = side
        elif event.kind == "turn" and words[event.end:event.end + 2] in (["off", "the"], ["from", "the"]) and \
                event.end + 2 < len(words) and words[event.end + 2] in SIDES:
            event.side = SIDES[words[event.end + 2]]  # "rebounds off the top": a rebound has a side of the frame
        elif event.kind == "turn" and event.start >= 2 and words[event.start - 2] in SIDES and \
                words[event.start - 1] in BORDER_WORDS:
            event.side = SIDES[words[event.start - 2]]  # "a top-edge bounce": the side named ahead of the noun
    for event in events:
        if event.kind == "appear" and _from_outside(words[event.end:event.end + 4]):
            event.kind = "enter"  # "appears from the edge": it comes in, not pops up inside
    events = _fold_edge_contact(sorted(events + _set_in_motion(words, events), key=lambda e: e.start))
    if "count" in cues and [e.kind for e in events] == ["appear"] and objects and not {"times", "often"} & set(words):
        events = []  # "how many red things appear?": the things seen, counted
    cut_seconds = float(next(g for g in cut.groups() if g)) if cut else None
    if cut_seconds is None and "future" in cues and len(times) == 1:
        cut_seconds = times[0]  # "after 3 seconds of footage, what will it do?": a prediction from what came before
    if cut_seconds is not None and "after" in cues:
        cues.add("future")  # "the clip is cut at 2 s; what happens next?": what comes after the cut
    return Reading(words, objects, events, cues, numbers, times, cut_seconds, ordinal,
                   sides, border, self_cause)


# Removal words say "counterfactual" only in a hypothetical ("if it were removed", "remove it: what
# would no longer happen?"); on their own they name an action that happened ("he removes his shoe").
_REMOVAL_WORDS = ("removed", "remove", "without", "taken away", "take away", "deleted", "taken out", "take out",
                  "left out", "without the", "removing", "deleting", "erasing", "erased", "eliminating", "taking away",
                  "taking out", "getting rid of", "leaving out", "got rid of", "get rid of", "with no", "without any",
                  "lacking", "lacked", "minus the", "along with", "never been in", "eliminated", "eliminate", "delete", "erase", "there's no", "there is no",
                  "there are no", "had no")
_HYPOTHETICAL = {"if", "suppose", "supposing", "imagine", "imagined", "had", "were", "would", "could",
                 "assuming", "assume", "hypothetically", "wouldn't", "couldn't"}


def _only_going_somewhere(words: list[str]) -> bool:
    """The future cue came only from "going to" + a place ("going to the door")."""
    others = [p for p in _CUES["future"] if p != "going to" and _has_phrase(words, p)]
    places = [i for i in range(len(words) - 2) if words[i:i + 2] == ["going", "to"]]
    return not others and bool(places) and all(words[i + 2] in DETERMINERS for i in places)


def _is_counterfactual(words: list[str], cues: set[str]) -> bool:
    strong = [p for p in _CUES["counterfactual"] if p not in _REMOVAL_WORDS and _has_phrase(words, p)]
    hypothetical = _HYPOTHETICAL & set(words)
    if _has_phrase(words, "had no"):
        hypothetical -= {"had"}  # "the man had no hat": a past fact, unless something else makes it a supposition
    if strong or "negated" in cues or hypothetical:
        return True
    return bool(words) and words[0] in ("remove", "delete", "take", "without", "imagine", "suppose", "erase")


def _from_outside(after: list[str]) -> bool:
    """Words after a verb that say it came from beyond the frame: "from the edge", "from outside"."""
    return bool(after) and after[0] == "from" and any(w in BORDER_WORDS or w in SIDES or w in ("outside", "offscreen")
                                                      for w in after[1:])


def _object_relative(words: list[str]) -> list[str]:
    """"the wall, which it springs back from" -> "it springs back from the wall": a short noun
    phrase followed by a relative clause whose subject is a pronoun is that clause's object; said
    in plain order the verb finds its object (and a side of the frame its edge)."""
    if not words or words[0] not in ("the", "a", "an"):
        return words
    for i in range(1, min(len(words) - 2, 7)):
        if words[i] in ("which", "that", "whom") and words[i + 1] in PLAIN_SUBJECTS:
            return words[i + 1:] + words[:i]
    return words


def _former_latter(words: list[str], vocabulary: Vocabulary) -> list[str]:
    """"The box and the ball collide. What does the latter do next?": "the former" / "the latter"
    said in place of the first / last of the things named before it."""
    if "former" not in words and "latter" not in words:
        return words
    mentions = [m for m in _object_mentions(words, vocabulary, _event_mentions(words)) if not m.generic]
    out: list[str] = []
    for i, word in enumerate(words):
        earlier = [m for m in mentions if m.end <= i - 1]
        if word in ("former", "latter") and i and words[i - 1] == "the" and len(earlier) >= 2:
            named = earlier[0] if word == "former" else earlier[-1]
            out += words[named.start:named.end]  # after its "the": "the latter" -> "the white star"
        else:
            out.append(word)
    return out


def _set_in_motion(words: list[str], events: list[EventMention]) -> list[EventMention]:
    """"what set the ball in motion?", "put it into motion": a start whose verb and noun stand
    around the object's name (a wildcard phrase would swallow the name)."""
    def free(i: int) -> bool:
        return not any(e.start <= i < e.end for e in events)

    for i in range(len(words) - 1):
        if words[i] in ("in", "into") and words[i + 1] == "motion" and \
                any(w in ("set", "sets", "put", "puts", "setting", "putting") for w in words[max(0, i - 5):i]) and free(i):
            return [EventMention("start", i, i + 2)]
        # "what got the ball moving?": the verb, the name, then the motion
        if words[i] in ("got", "get", "gets", "getting") and free(i):
            end = next((j for j in range(i + 2, min(len(words), i + 7)) if words[j] in ("moving", "going", "rolling")), None)
            if end is not None and free(end):
                return [EventMention("start", end, end + 1)]
        # "what triggered the motion of the ball?": the onset of a motion that a cause began
        if words[i] in ("motion", "movement", "moving") and i + 1 < len(words) and words[i + 1] == "of" and free(i) and \
                any(w in _ONSET_VERBS for w in words[max(0, i - 4):i]):
            return [EventMention("start", i, i + 1)]
    return []


# Verbs that begin something: "what triggered the motion of X" asks about the motion's start.
_ONSET_VERBS = {"triggered", "triggers", "trigger", "caused", "causes", "cause", "started", "starts", "start",
                "initiated", "initiates", "initiate", "prompted", "prompts", "began", "begins", "sparked", "launched"}


def _fold_edge_contact(events: list[EventMention]) -> list[EventMention]:
    """"hits the top wall (and comes back)": a contact with a frame edge is a rebound from that
    edge. A scene graph has no object for the frame's edge to collide with; what it records is
    the turn at the border, so the contact and a turn that follows it are one rebound."""
    folded: list[EventMention] = []
    for event in events:
        previous = folded[-1] if folded else None
        if previous and previous.kind == "turn" and previous.side and previous.folded and event.kind == "turn" \
                and not event.side:
            folded[-1] = EventMention("turn", previous.start, event.end, side=previous.side, folded=True)
            continue
        if event.kind in ("collide", "approach") and event.side:
            event = EventMention("turn", event.start, event.end, passive=event.passive, side=event.side, folded=True)
        folded.append(event)
    return folded


def _is_adverb_right(words: list[str], i: int) -> bool:
    """"right after", "right before", "right away": `right` as an intensifier, not a side."""
    return words[i] == "right" and i + 1 < len(words) and words[i + 1] in (
        "after", "before", "away", "then", "now", "there", "at", "when", "as", "next", "behind", "into")


def _is_pronoun_one(words: list[str], i: int) -> bool:
    """"the red one", "which one": `one` as a noun, not a count."""
    before = words[i - 1] if i else ""
    return before in ("the", "which", "a", "this", "that", "each", "every", "any", "other", "another") or \
        (i + 1 < len(words) and words[i + 1] in ("that", "which", "who", "of"))


def _event_mentions(words: list[str]) -> list[EventMention]:
    found: list[EventMention] = []
    i = 0
    while i < len(words):
        if words[i] == "left" and ((i and words[i - 1] in ("the", "to", "toward", "towards", "on", "at", "from", "upper",
                                                            "lower", "top", "bottom", "far"))
                                   or (i + 1 < len(words) and words[i + 1] in BORDER_WORDS)):
            i += 1  # "to the left", "the left edge": a side, not the past of "leave"
            continue
        if words[i] in _MEDIUM_WORDS and i and words[i - 1] in DETERMINERS:
            i += 1  # "in the clip": the video itself, not a verb ("it clips the box")
            continue
        for parts, kind in _LEXICON:
            if _match_at(words, i, parts):
                passive = i > 0 and words[i - 1] in ("is", "was", "gets", "got", "be", "being", "been", "are", "were") \
                    and i + len(parts) < len(words) and words[i + len(parts)] == "by"
                found.append(EventMention(kind, i, i + len(parts), passive=passive))
                i += len(parts) - 1
                break
        i += 1
    return found


def _object_mentions(words: list[str], vocabulary: Vocabulary, events: list[EventMention]) -> list[Mention]:
    """Runs of vocabulary words (attribute values, labels, their aliases), optionally ending in a
    generic noun ("red object") and starting with a size word ("the big ball")."""
    in_event = {i for e in events for i in range(e.start, e.end)}
    mentions: list[Mention] = []
    i = 0
    while i < len(words):
        start, size, constraints = i, None, {}
        if words[i] in SIZE_WORDS and i + 1 < len(words):
            size = SIZE_WORDS[words[i]]
            i += 1
        j = i
        while j < len(words) and j not in in_event:
            if constraints and words[j] in _ATTRIBUTE_SUFFIXES:  # "red-coloured", "star-shaped"
                j += 1
                continue
            if (term := vocabulary.lookup(words[j])) is None:
                break
            attribute, value = term
            if attribute in constraints and constraints[attribute] != value:
                break
            constraints[attribute] = value
            j += 1
        generic = False
        if j < len(words) and words[j] in GENERIC_NOUNS and (constraints or size or (j > 0 and words[j - 1] in ("the", "an", "a", "which", "what", "each", "every", "any",
                                                            "many", "several", "all", "other", "some", "two", "three"))):
            generic = not constraints
            j += 1
        if constraints or (generic and words[j - 1] not in ("one", "ones")) or (size and j > i):
            mention = Mention(" ".join(words[start:j]), constraints, start, j, size, generic)
            verb_next = next((e.kind for e in events if e.start == j), None)
            if j + 1 < len(words) and words[j] in ("that", "which", "who"):
                clause = next((e for e in events if j < e.start <= j + 3), None)
                mention.clause_event = clause.kind if clause else None
            elif verb_next and start and words[start - 1] in ("a", "an") and i == start:
                # "A brown dog barks. What breed is it?": a thing brought in by what it does
                # is picked out by it, as "the brown dog that barks" would be
                mention.clause_event = verb_next
            elif verb_next and words[j].endswith("ing") and words[j - 1] in GENERIC_NOUNS:
                # "the yellow object entering the scene": a participle after a generic noun is a
                # relative clause too ("the ball stopping" is the ball's stop, not a filter)
                mention.clause_event = verb_next
            mentions.append(mention)
            i = j
        else:
            i = start + 1
    return _merge_predicates(words, mentions)


def _absorb(mention: Mention, attribute: Mention, words: list[str]) -> None:
    """Merge an attribute said after a mention ("... that is red", "... in red") into it."""
    mention.constraints = {**mention.constraints, **attribute.constraints}
    mention.text = " ".join(words[mention.start:attribute.end])
    mention.end, mention.generic = attribute.end, False
    mention.size = mention.size or attribute.size


def _merge_predicates(words: list[str], mentions: list[Mention]) -> list[Mention]:
    """"the circle which is red", "the object that is pink": a bare attribute after a relative
    "that/which is" describes the noun before it, so the two are one mention."""
    merged: list[Mention] = []
    for mention in mentions:
        previous = merged[-1] if merged else None
        between = words[previous.end:mention.start] if previous else []
        between = [w for w in between if w not in ("a", "an")]
        if previous and len(between) == 2 and between[0] in ("that", "which", "who") and \
                between[1] in ("is", "are", "was", "were", "looks", "look") and mention.constraints and \
                "label" not in mention.constraints and all(previous.constraints.get(a, v) == v
                                                           for a, v in mention.constraints.items()):
            _absorb(previous, mention, words)
            # the relative clause was the attribute: a verb after it is the sentence's own
            # ("the triangle that is purple pushes it")
            previous.clause_event = None
            continue
        if previous and between == ["of"] and set(mention.constraints) == {"colour"} and \
                words[mention.end - 1] in ("colour", "color") and "colour" not in previous.constraints:
            _absorb(previous, mention, words)  # "the triangle of blue colour"
            continue
        if previous and between == ["in"] and words[mention.start - 1] == "in" and set(mention.constraints) == {"colour"} \
                and "colour" not in previous.constraints:
            # "the circle in red": a colour worn, not a place ("the ball in the box" names two things)
            _absorb(previous, mention, words)
            continue
        merged.append(mention)
    return merged


# ---- phrases that may name objects, before any scene is known --------------------------------


def _event_word_set() -> frozenset[str]:
    found = set()
    for parts, _ in _LEXICON:
        for part in parts:
            if part is not None:
                found |= part
    return frozenset(found)


_EVENT_WORDS = _event_word_set()
_CUE_WORDS = frozenset(w for phrases in _CUES.values() for p in phrases for w in p.split())


def candidate_phrases(text: str, max_words: int = 3) -> list[str]:
    """Runs of content words that may name objects ("pink diamond", "man in red"), in order:
    what is left after function words, event verbs, cue words, numbers and edge words."""
    phrases, run = [], []
    skip = FUNCTION_WORDS | _EVENT_WORDS | _CUE_WORDS | BORDER_WORDS | set(SIDES) | set(ORDINALS) | set(NUMBER_WORDS)
    for word in tokens(text) + ["."]:
        if word in skip or re.fullmatch(r"\d+(?:\.\d+)?", word) or word == ".":
            if run:
                phrases.append(" ".join(run[-max_words:]))
            run = []
        else:
            run.append(word)
    return list(dict.fromkeys(phrases))
