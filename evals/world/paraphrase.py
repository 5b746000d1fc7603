"""More training wordings: a world question said again from its gold program, with templates and
word pools drawn at random (a "paraphrase" family, for training the program writer only).

    text, options = paraphrase(gold, question, options, random.Random(0))

The reword module (reword.py) has two fixed families; this one samples a fresh combination of
question frame, object nouns, size words, verb phrases and option forms per question, so the
writer sees many wordings of one program. It never uses the "heldout" family's templates
(tests/evals/world/test_paraphrase.py checks the two share none): those stay unseen.

Every choice is drawn once per question (every option of a question reads alike), so how an
option is written says nothing about whether it is right.
"""

from __future__ import annotations

import random
import re

from videothought.graph.program import Program

NOUNS = {
    "circle": ("circle", "disc", "dot", "round object", "round thing", "circular piece"),
    "square": ("square", "block", "tile", "cube", "square piece", "four-sided block"),
    "triangle": ("triangle", "wedge", "three-sided figure", "triangular object", "triangular piece"),
    "star": ("star", "starburst", "star figure", "pointy star", "starry object"),
    "hexagon": ("hexagon", "hex", "six-sided figure", "hexagonal object", "hexagonal piece"),
    "diamond": ("diamond", "rhombus", "gem", "kite", "rhomboid piece"),
}
GENERIC = ("object", "thing", "figure", "piece")
SIZES = {"small": ("small", "tiny", "smaller", "small-sized"), "medium": ("medium", "medium-sized", "middle-sized"),
         "large": ("large", "huge", "larger", "giant")}
COLOURS = {"purple": ("purple", "violet"), "red": ("red",), "orange": ("orange",), "yellow": ("yellow",),
           "green": ("green",), "cyan": ("cyan", "turquoise"), "blue": ("blue",), "pink": ("pink",),
           "white": ("white",)}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
ORDINALS = ("first", "second", "third", "fourth", "fifth")
SIDE_NAMES = {"top": ("top", "upper"), "bottom": ("bottom", "lower"), "left": ("left",), "right": ("right",)}
EDGE = ("edge", "side of the frame", "boundary", "frame edge", "limit of the frame")
# verb phrases in the third person; {x}: the other object
VERBS = {
    "collide": ("collides with {x}", "hits {x}", "bumps into {x}", "runs into {x}", "crashes into {x}",
                "smacks into {x}", "strikes {x}"),
    "push": ("pushes {x}", "shoves {x}", "moves {x} along", "nudges {x}"),
    "pushed": ("is pushed by {x}", "gets pushed by {x}", "is shoved by {x}", "gets nudged by {x}"),
    "occluded": ("goes behind {x}", "passes behind {x}", "is hidden by {x}", "slips behind {x}", "gets covered by {x}"),
    "stop": ("stops", "comes to a stop", "halts", "stops moving", "comes to rest", "stands still"),
    "start": ("starts moving", "begins to move", "sets off", "gets going", "starts to roll", "begins moving"),
    "turn": ("changes direction", "turns around", "reverses", "switches direction", "changes course", "veers"),
    "exit": ("leaves the scene", "exits the frame", "goes out of view", "leaves the frame", "moves out of the picture",
             "exits"),
    "enter": ("enters the scene", "comes into view", "enters the frame", "arrives", "moves into view", "comes in"),
    "appear": ("appears", "pops up", "shows up", "becomes visible"),
    "disappear": ("vanishes", "disappears", "fades away", "is gone"),
}
BOUNCE = ("bounces off the {s} {e}", "rebounds from the {s} {e}", "hits the {s} {e} and turns", "ricochets off the {s} {e}")
# the infinitive of each verb phrase (after "does", "will", "to")
IRREGULAR = {"is": "be", "gets": "get", "goes": "go", "does": "do", "has": "have"}


def infinitive(phrase: str) -> str:
    """"bumps into the ball" -> "bump into the ball" (each verb of "hits the edge and turns")."""
    def base(part: str) -> str:
        first, _, rest = part.partition(" ")
        if first in IRREGULAR:
            verb = IRREGULAR[first]
        elif first.endswith(("shes", "ches", "sses", "xes", "zes")):
            verb = first[:-2]
        elif first.endswith("ies"):
            verb = first[:-3] + "y"
        elif first.endswith("s"):
            verb = first[:-1]
        else:
            verb = first
        return f"{verb} {rest}".strip()
    return " and ".join(base(p) for p in phrase.split(" and "))


def plural(noun: str) -> str:
    head, _, tail = noun.rpartition(" ")
    word = tail
    word = word + "es" if word.endswith(("s", "sh", "ch", "x", "z")) else word[:-1] + "ies" \
        if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    return f"{head} {word}".strip()


# "a" and "b": the two halves of every pool above ("a" for SFT, "b" for RL: other wordings than SFT saw).
# "c": a third voice with pools of its own (THIRD) and sentence shapes the first two never use (clause
# first, imperative, terse, chat style), for a stage that needs wordings neither half has.
FAMILIES = ("a", "b", "c")

THIRD: dict[tuple, tuple[str, ...]] = {
    ("noun", "circle"): ("orb", "round form", "sphere", "round piece", "circular form"),
    ("noun", "square"): ("quad", "square form", "squared-off piece", "four-cornered form"),
    ("noun", "triangle"): ("trigon", "triangular form", "three-cornered form", "pyramid form"),
    ("noun", "star"): ("star form", "five-pointed form", "spiky star", "star-shaped piece"),
    ("noun", "hexagon"): ("hexagonal form", "six-cornered form", "hex-shaped piece", "six-edged figure"),
    ("noun", "diamond"): ("diamond form", "rhomb", "diamond-shaped piece", "rhombus form"),
    ("generic",): ("form", "article", "entity", "body"),
    ("size", "small"): ("petite", "mini", "small-scale"),
    ("size", "medium"): ("medium-scale", "average-sized", "moderately sized"),
    ("size", "large"): ("bulky", "oversized", "sizeable"),
    ("edge",): ("border", "wall", "edge of the screen", "outer edge", "frame border"),
    ("bounce",): ("bounces back from the {s} {e}", "reflects off the {s} {e}", "turns back at the {s} {e}",
                  "glances off the {s} {e}"),
    ("verb", "collide"): ("slams into {x}", "knocks into {x}", "makes contact with {x}", "collides against {x}"),
    ("verb", "push"): ("drives {x}", "pushes {x} forward", "propels {x}", "carries {x} along"),
    ("verb", "pushed"): ("is driven by {x}", "is moved along by {x}", "gets propelled by {x}",
                         "is carried along by {x}"),
    ("verb", "occluded"): ("disappears behind {x}", "is obscured by {x}", "is blocked from view by {x}",
                           "moves behind {x}"),
    ("verb", "stop"): ("freezes", "stays put", "stops dead", "becomes still", "ceases moving"),
    ("verb", "start"): ("takes off", "starts to move", "springs into motion", "gets moving"),
    ("verb", "turn"): ("turns back", "heads the other way", "flips direction", "alters course", "swings around"),
    ("verb", "exit"): ("goes off screen", "leaves the screen", "drifts out of view", "departs the frame",
                       "passes out of view"),
    ("verb", "enter"): ("comes on screen", "drifts into view", "rolls in", "makes an entrance", "enters the view"),
    ("verb", "appear"): ("materializes", "emerges", "comes into existence", "turns up"),
    ("verb", "disappear"): ("goes invisible", "is no longer visible", "evaporates", "ceases to be visible"),
    ("cause", "edge"): ("the {s} {e} bounced it", "it struck the {s} {e}", "the {s} {e} was in the way",
                        "thanks to the {s} {e}"),
    ("cause", "collide"): ("{x} crashed into it", "a collision with {x}", "it ran into {x}", "{x} struck it"),
    ("cause", "push"): ("{x} was pushing it", "{x} gave it a shove", "{x} propelled it", "{x} moved it"),
    ("cause", "self"): ("it was its own doing", "no cause from outside", "spontaneously",
                        "nothing else, it moved on its own"),
    ("minute",): ("in minute number {m}", "somewhere in minute {m}", "the {o} minute", "minute {m}"),
    ("timed",): ("{who} {verb} ({t} s)", "{who} {verb}, at {t} s", "{t} seconds in, {who} {verb}"),
    ("contact",): ("touch", "make contact with", "slam into", "knock into"),
    ("when",): (" on the {o} occasion", " the {o} time it happens", " on occasion number {n}"),
    ("frame", "needle_colour"): ("Which colour has {ref}?", "Report the colour of {ref}, whenever that happens.",
                                 "I'm looking for {ref}. What colour is it?"),
    ("frame", "colour"): ("Which colour is {ref}?", "Give me the colour of {ref}.", "{ref} is which colour?",
                          "I want to know the colour of {ref}.", "Identify the colour of {ref}."),
    ("frame", "shape_question"): ("Which shape is {ref}?", "Give me the shape of {ref}.",
                                  "{ref}: which outline is it?", "Identify the shape of {ref}.",
                                  "What outline does {ref} have?"),
    ("frame", "count_find"): ("Report the number of {t} present.", "Give a count of the {t}.",
                              "How many {t} are in the clip?", "Tell me how many {t} there are."),
    ("frame", "count_collisions"): ("What is the total number of collisions?", "Tally the collisions.",
                                    "Report the tally of crashes between objects.",
                                    "How many contacts between objects occur?"),
    ("frame", "count_subjects"): ("What number of objects {v}?", "Tell me how many objects {v}.",
                                  "Give a count of the objects that {v}."),
    ("frame", "count_turns"): ("What number of times does {ref} {v}?", "Tally how often {ref} {said}.",
                               "Tell me the tally of times {ref} {said}."),
    ("frame", "count_partners"): ("How many different objects does {ref} {v} altogether?",
                                  "Report the number of distinct objects {ref} comes in contact with.",
                                  "How many separate objects does {ref} {v} in all?"),
    ("frame", "after"): ("After {ref} {a}, what is its next action?", "{ref} {a}. What comes next for it?",
                         "Tell me what {ref} does following the moment it {a}.",
                         "What follows for {ref} after it {a}?"),
    ("frame", "before"): ("Before {ref} {a}, what is it doing?",
                          "{ref} {a}. And immediately prior to that, what was going on with it?",
                          "Tell me what {ref} does in the moment before it {a}.",
                          "Prior to the moment {ref} {a}, what does it do?"),
    ("frame", "order"): ("Name the first object to {v}.", "Of all objects, which one {v2} first?",
                         "The earliest to {v} is which object?", "Which of the objects {v2} ahead of all the others?"),
    ("frame", "causal"): ("Why is it that {ref} {said}{w}?", "I wonder why {ref} {said}{w}.",
                          "What is the reason {ref} {said}{w}?", "{ref} {said}{w}. Why?"),
    ("frame", "next"): ("Judging from the opening {s} seconds alone, what will {ref} go on to do?",
                        "Stop the video at {s} s: what does {ref} do after that?",
                        "Up to {s} seconds in, what do you expect from {ref} afterwards?",
                        "Predict the next action of {ref}, seeing only {s} seconds."),
    ("frame", "remove"): ("Take {ref} away. Which event no longer happens?",
                          "If {ref} had been absent, which event would be missing?",
                          "Which event depends on {ref} being there?",
                          "Remove {ref}: which of these events goes missing?"),
    ("frame", "when"): ("In which minute does {ref} {v}?", "{ref} {v2} at one point. In which minute?",
                        "Name the minute in which {ref} {v2}."),
}
# the third voice's chat style, drawn per question: an opening, and sometimes no capital or final mark
OPENINGS = ("In this clip, ", "Looking at the video: ", "Quick question - ", "Hey, ", "About this footage: ")


class Voice:
    """One question's wording: each choice drawn once, then reused for every option. Families "a" and
    "b" take every other entry of each pool (a pool of one entry is both families'), so they share no
    wording choice but the few words with one form; "c" draws from THIRD where it has a pool of its own."""

    def __init__(self, rng: random.Random, family: str = "a"):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.rng = rng
        self.family = family
        self.chosen: dict[tuple, str] = {}

    def pick(self, key: tuple, pool) -> str:
        if key not in self.chosen:
            pool = tuple(pool)
            if self.family == "c":
                own = THIRD.get(key, pool)
            else:
                own = pool[FAMILIES.index(self.family)::2] or pool
            self.chosen[key] = own[self.rng.randrange(len(own))]
        return self.chosen[key]

    def styled(self, text: str) -> str:
        """The question as the voice finally says it: the third one sometimes opens casually, or drops
        the capital and the question mark as people do in a chat."""
        if self.family != "c":
            return text
        style = self.rng.random()
        if style < 0.25:
            return self.rng.choice(OPENINGS) + text[0].lower() + text[1:]
        if style < 0.45:
            return text[0].lower() + text[1:].rstrip("?.")
        return text

    def noun(self, shape: str | None) -> str:
        return self.pick(("noun", shape), NOUNS[shape]) if shape else self.pick(("generic",), GENERIC)

    def thing(self, description: dict | None, *, article: str = "the") -> str:
        """{"name": "circle", "adj": ["large", "red"]} -> "the big red ball"."""
        description = description or {}
        words = []
        for adjective in description.get("adj") or []:
            if adjective in SIZES:
                words.insert(0, self.pick(("size", adjective), SIZES[adjective]))
            else:
                words.append(self.pick(("colour", adjective), COLOURS.get(adjective, (adjective,))))
        return " ".join([article] + words + [self.noun(description.get("name"))]).strip()

    def verb(self, pattern: dict) -> str:
        """An event pattern {"kind", "with"?, "side"?} as a third-person verb phrase."""
        kind = pattern["kind"]
        if kind == "turn" and pattern.get("side"):
            side = self.pick(("side", pattern["side"]), SIDE_NAMES[pattern["side"]])
            return self.pick(("bounce",), BOUNCE).format(s=side, e=self.pick(("edge",), EDGE))
        phrase = self.pick(("verb", kind), VERBS[kind])
        return phrase.format(x=self.thing(pattern.get("with"))) if "{x}" in phrase else phrase

    def number(self, n: int) -> str:
        return str(n) if self.pick(("digits",), ("digits", "words")) == "digits" or n >= len(NUMBER_WORDS) \
            else NUMBER_WORDS[n]

    def cause(self, cause: dict) -> str:
        by = cause["by"]
        if by == "edge":
            side = self.pick(("side", cause["side"]), SIDE_NAMES[cause["side"]])
            form = self.pick(("cause", "edge"), ("because it hits the {s} {e}", "it reached the {s} {e}",
                                                 "the {s} {e} sends it back", "due to the {s} {e}"))
            return form.format(s=side, e=self.pick(("edge",), EDGE))
        if by in ("collide", "push"):
            form = self.pick(("cause", by), {"collide": ("because it collides with {x}", "it was hit by {x}",
                                                         "{x} runs into it", "due to a crash with {x}"),
                                             "push": ("because {x} pushes it", "{x} shoves it", "it gets pushed by {x}",
                                                      "{x} drove it along")}[by])
            return form.format(x=self.thing(cause.get("with")))
        return self.pick(("cause", "self"), ("it does so on its own", "nothing made it, it did it by itself",
                                             "no other object caused it", "by itself"))

    def minute(self, minute: int) -> str:
        form = self.pick(("minute",), ("in minute {m}", "during minute {m}", "in the {o} minute", "within minute {m}"))
        ordinal = ORDINALS[minute - 1] if minute <= len(ORDINALS) else f"{minute}th"
        return form.format(m=minute, o=ordinal)

    def option(self, value: dict) -> str:
        (kind, data), = value.items()
        if kind == "text":
            if data in NOUNS:
                return self.noun(data)
            return self.pick(("colour", data), COLOURS.get(data, (data,)))
        if kind == "number":
            return self.number(int(data))
        if kind == "object":
            return self.thing(data)
        if kind == "cause":
            return self.cause(data)
        if kind == "time":
            return self.minute(int(data["minute"])) if "minute" in data else f"at {data['seconds']:.1f} seconds"
        if kind == "event":
            if data.get("who") is not None:
                form = self.pick(("timed",), ("{who} {verb} at {t} seconds", "at {t} seconds, {who} {verb}",
                                              "{who} {verb} at the {t} second mark", "{who} {verb} at {t} s"))
                return form.format(who=self.thing(data["who"]), verb=self.verb(data), t=f"{data['at']:.1f}")
            return self.verb(data)
        return str(data)


def _ref(voice: Voice, steps: list) -> str:
    """The referent the first steps name: find (+ events ... + subject): "the big ball that stops"."""
    description = {k: v for k, v in steps[0].args.items() if k in ("name", "adj")}
    text = voice.thing(description)
    if len(steps) >= 3 and steps[1].op == "events" and steps[2].op == "subject":
        text += f" that {voice.verb(steps[1].args)}"
    return text


def _frames(voice: Voice, key: str, options: tuple[str, ...], **slots) -> str:
    text = voice.pick(("frame", key), options).format(**slots)
    return text[0].upper() + text[1:]


def question_text(program: Program, voice: Voice) -> str | None:
    """The question of a gold program in new words; None for a shape this generator does not know."""
    steps = program.steps
    ops = [s.op for s in steps]
    if ops[-1] == "attribute" and ops[0] == "find":
        attribute = steps[-1].args["name"]
        ref = _ref(voice, steps[:-1])
        if len(steps) == 4 and steps[1].args.get("with"):  # a needle question (its event happens once, anywhere)
            return _frames(voice, "needle_colour", ("At some point, {ref}. What colour is it?",
                                                    "Somewhere in the footage {ref}; what is its colour?",
                                                    "Tell me the colour of {ref}, wherever it happens."),
                           ref=ref)
        if attribute == "colour":
            return _frames(voice, "colour", ("What is {ref}'s colour?", "Name the colour of {ref}.",
                                             "What colour does {ref} appear in?", "{ref}: what colour is it?",
                                             "Could you tell me what colour {ref} is?"), ref=ref)
        return _frames(voice, "shape_question", ("What is {ref} shaped like?", "Name the shape of {ref}.",
                                        "What sort of figure is {ref}?", "Could you tell me what shape {ref} is?",
                                        "{ref}: what shape is it?"), ref=ref)
    if ops == ["find", "count"]:
        description = steps[0].args
        things = plural(voice.thing(description, article="").strip())
        return _frames(voice, "count_find", ("Count the {t} in this footage.", "How many {t} do you see?",
                                             "How many {t} show up?", "State the number of {t}."), t=things)
    if ops == ["events", "count"]:
        return _frames(voice, "count_collisions", ("How many times do objects hit each other?",
                                                   "Count the collisions in this footage.",
                                                   "How many crashes happen?", "How often do two objects bump together?"))
    if ops == ["events", "subject", "count"]:
        verb = voice.verb(steps[0].args)
        return _frames(voice, "count_subjects", ("How many objects {v}?", "Count the things that {v}.",
                                                 "How many of the objects {v}?"), v=infinitive(verb))
    if ops[-2:] == ["events", "count"] and ops[0] == "find":
        ref = _ref(voice, steps[:-2])
        said = voice.verb(steps[-2].args)
        return _frames(voice, "count_turns", ("How often does {ref} {v}?", "Count how many times {ref} {said}.",
                                              "How many times do you see {ref} {v}?"),
                       ref=ref, v=infinitive(said), said=said)
    if ops[-3:] == ["events", "partner", "count"]:
        ref = _ref(voice, steps[:-3])
        contact = voice.pick(("contact",), ("collide with", "hit", "bump into", "run into", "crash into"))
        return _frames(voice, "count_partners", ("How many distinct objects does {ref} {v}?",
                                                 "Count the different things {ref} comes into contact with.",
                                                 "Count the distinct objects that {ref} {v}."),
                       ref=ref, v=contact)
    if "after" in ops or "before" in ops:
        position = ops.index("after") if "after" in ops else ops.index("before")
        if ops[0] == "recall":
            return None
        ref = _ref(voice, steps[:position - 2])
        anchor = voice.verb(steps[position - 2].args)
        if ops[position] == "after":
            return _frames(voice, "after", ("What does {ref} do immediately after it {a}?",
                                            "Right after {ref} {a}, what does it do?",
                                            "Once {ref} {a}, what happens to it next?",
                                            "What is the next thing {ref} does after it {a}?"), ref=ref, a=anchor)
        return _frames(voice, "before", ("What is {ref} doing just before it {a}?",
                                         "Right before {ref} {a}, what does it do?",
                                         "What is the last thing {ref} does before it {a}?",
                                         "Just before it {a}, what does {ref} do?"), ref=ref, a=anchor)
    if ops == ["events", "first", "subject"]:
        verb = voice.verb(steps[0].args)
        return _frames(voice, "order", ("Which object is the first to {v}?", "What {v2} before any other object?",
                                        "Who {v2} first?", "Which thing {v2} earliest?"), v=infinitive(verb), v2=verb)
    if ops[-1] == "cause":
        ref = _ref(voice, steps[:-3])
        pick = steps[-2]
        said = voice.verb(steps[-3].args)
        when = ""
        if pick.op == "nth":
            n = pick.args["n"]
            when = voice.pick(("when",), (" the {o} time", " for time number {n}", " on its {o} try")).format(
                o=ORDINALS[n - 1] if n <= len(ORDINALS) else f"{n}th", n=n)
        return _frames(voice, "causal", ("What makes {ref} {v}{w}?", "For what reason does {ref} {v}{w}?",
                                         "What causes {ref} to {v}{w}?", "Tell me why {ref} {said}{w}."),
                       ref=ref, v=infinitive(said), said=said, w=when)
    if ops[0] == "watch" and ops[-1] == "predict":
        seconds = f"{steps[0].args['until']:.1f}"
        ref = _ref(voice, steps[1:-1])
        return _frames(voice, "next", ("If you only see the first {s} seconds, guess what {ref} does next.",
                                       "Given the video up to {s} seconds, predict what {ref} does next.",
                                       "After {s} seconds of video, what is {ref} about to do?",
                                       "Seeing just the opening {s} s, what happens to {ref} next?"),
                       s=seconds, ref=ref)
    if ops == ["find", "without"]:
        ref = voice.thing(steps[0].args)
        return _frames(voice, "remove", ("Without {ref}, which of these events would not take place?",
                                         "Suppose {ref} were taken out of the video. Which event would not occur?",
                                         "Had {ref} never been there, what would not have happened?"), ref=ref)
    if ops == ["find", "events", "first", "time"]:
        ref = voice.thing(steps[0].args)
        verb = voice.verb(steps[1].args)
        return _frames(voice, "when", ("During which minute does {ref} {v}?",
                                       "{ref} {v2} once. Which minute of the video is that in?",
                                       "At what minute does {ref} {v}?"), ref=ref, v=infinitive(verb), v2=verb)
    return None


def paraphrase(program: Program, question: str, options: list[str], rng: random.Random,
               family: str = "a") -> tuple[str, list[str]]:
    """(question, options) said again in `family`'s half of the pools; the world's own wording when the
    program's shape is unknown here."""
    voice = Voice(rng, family)
    text = question_text(program, voice)
    if text is None or program.options is None:
        return question, list(options)
    said = [voice.option(value) for value in program.options]
    if len(set(said)) != len(said):  # two options read alike in these words: keep the world's
        return question, list(options)
    return voice.styled(re.sub(r"\s+", " ", text).strip()), said
