"""Question shapes about people in real footage, with their programs: writer training text for the
kinds of question the synthetic world never asks (who enters first, which way the person in red
walks, how many people cross to the left, what the sign says...).

    examples = people_examples(count=600, seed=0)

The scene is imagined: only the question, its options and the program are written (the writer's
prompt holds no video), with the names a people-naming perception gives (perception/people.py).
Descriptions are drawn at random from everyday words for people and clothes; the program names
them in the perception's words ("person", "red"), as the writer must. Nothing here is taken from
the real-footage dev set (evals/real/), which evaluation alone reads.
"""

from __future__ import annotations

import json
import random

PEOPLE = ("person", "man", "woman", "pedestrian", "guy", "lady", "boy", "girl", "walker", "figure")
GROUPS = ("people", "pedestrians", "persons", "walkers")
CLOTHES_UPPER = ("jacket", "coat", "shirt", "top", "sweater", "hoodie", "T-shirt", "blouse")
CLOTHES_LOWER = ("trousers", "pants", "jeans", "skirt", "shorts")
COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
DIRECTIONS = {"left": ("to the left", "leftwards", "towards the left side"),
              "right": ("to the right", "rightwards", "towards the right side"),
              "towards": ("towards the camera", "closer to the camera", "towards us"),
              "away": ("away from the camera", "into the distance", "away from us"),
              "still": ("they stand still", "nowhere, they stay put", "they do not move")}
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")
SIGN_TEXTS = ("EXIT", "Fire assembly point", "OPEN", "Bus stop", "No parking", "TAXI", "Welcome", "Station")


def people_names(rng: random.Random) -> str:
    """The names line a people-naming perception gives (label, colours of clothes), sometimes with text."""
    colours = ", ".join(sorted(COLOURS))
    labels = ["person"] + (["text"] if rng.random() < 0.5 else []) + (["object"] if rng.random() < 0.5 else [])
    return f"label: {', '.join(sorted(labels))}; colour: {colours}; lower_colour: {colours}; upper_colour: {colours}"


class Scene:
    """One imagined question's words: people described by a noun and a clothing colour."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def person(self, colour: str | None = None) -> tuple[str, dict]:
        """("the woman in the red jacket", {"name": "person", "adj": ["red"]})."""
        rng = self.rng
        colour = colour or rng.choice(COLOURS)
        noun = rng.choice(PEOPLE)
        form = rng.randrange(4)
        if form == 0:
            text = f"the {noun} in the {colour} {rng.choice(CLOTHES_UPPER)}"
        elif form == 1:
            text = f"the {noun} in {colour}"
        elif form == 2:
            text = f"the {noun} wearing a {colour} {rng.choice(CLOTHES_UPPER)}"
        else:
            text = f"the {noun} with {colour} {rng.choice(CLOTHES_LOWER)}"
        return text, {"name": "person", "adj": [colour]}

    def colours(self, answer: str, count: int) -> list[str]:
        others = [c for c in COLOURS if c != answer]
        self.rng.shuffle(others)
        return others[: count - 1]


def _deal(rng: random.Random, answer: tuple, others: list[tuple]) -> tuple[list[str], list[dict], int]:
    options = [answer] + others
    order = list(range(len(options)))
    rng.shuffle(order)
    shuffled = [options[i] for i in order]
    return [t for t, _ in shuffled], [v for _, v in shuffled], order.index(0)


def count_moving(scene: Scene):
    rng = scene.rng
    way = rng.choice(["left", "right", "towards", "away"])
    said = rng.choice(DIRECTIONS[way][:2])
    verb = rng.choice(("walk", "go", "move", "head", "cross"))
    question = rng.choice((f"How many {rng.choice(GROUPS)} {verb} {said}?", f"Count the {rng.choice(GROUPS)} who {verb} {said}.",
                           f"How many of the {rng.choice(GROUPS)} are going {said}?"))
    program = [{"op": "find", "name": "person"}, {"op": "moving", "direction": way}, {"op": "count"}]
    return question, program, "number"


def count_all(scene: Scene):
    rng = scene.rng
    group = rng.choice(GROUPS)
    question = rng.choice((f"How many {group} are in this footage?", f"How many {group} can you see?",
                           f"How many {group} appear in this clip?", f"Count the {group}."))
    return question, [{"op": "find", "name": "person"}, {"op": "count"}], "number"


def direction_of(scene: Scene):
    rng = scene.rng
    text, description = scene.person()
    verb = rng.choice(("walk", "go", "move", "head"))
    question = rng.choice((f"Which way does {text} {verb}?", f"In which direction does {text} {verb}?",
                           f"Where is {text} going?"))
    return question, [{"op": "find", **description}, {"op": "direction"}], "direction"


def order_person(scene: Scene):
    rng = scene.rng
    kind, which = rng.choice([("enter", "first"), ("enter", "last"), ("exit", "first"), ("exit", "last")])
    verbs = {"enter": ("comes into view", "enters the picture", "walks in", "appears"),
             "exit": ("leaves the picture", "walks out of view", "exits the frame", "leaves")}[kind]
    question = rng.choice((f"Who {rng.choice(verbs)} {which}?", f"Which person {rng.choice(verbs)} {which}?",
                           f"Who is the {which} to {rng.choice(('come in', 'arrive'))}?" if kind == "enter" else
                           f"Who is the {which} to {rng.choice(('go', 'leave'))}?"))
    return question, [{"op": "events", "kind": kind}, {"op": which}, {"op": "subject"}], "object"


def clothing_of_ordered(scene: Scene):
    rng = scene.rng
    upper = rng.random() < 0.6
    garment = rng.choice(CLOTHES_UPPER if upper else CLOTHES_LOWER)
    kind, which = rng.choice([("enter", "first"), ("exit", "first"), ("enter", "last")])
    verb = {"enter": "comes in", "exit": "leaves"}[kind]
    question = rng.choice((f"What colour is the {garment} of the person who {verb} {which}?",
                           f"The person who {verb} {which}: what colour are their {garment}?"
                           if not upper else f"The {which} person to {'arrive' if kind == 'enter' else 'leave'} wears a {garment} of which colour?"))
    program = [{"op": "events", "kind": kind}, {"op": which}, {"op": "subject"},
               {"op": "attribute", "name": "upper_colour" if upper else "lower_colour"}]
    return question, program, "colour"


def stops_at_all(scene: Scene):
    rng = scene.rng
    text, description = scene.person()
    question = rng.choice((f"Does {text} stop at any point?", f"Does {text} ever stand still?",
                           f"Is there a moment when {text} stops walking?"))
    return question, [{"op": "find", **description}, {"op": "events", "kind": "stop"}, {"op": "exists"}], "bool"


def walk_together(scene: Scene):
    rng = scene.rng
    colour = rng.choice(COLOURS)
    question = rng.choice((f"Do the two people in {colour} walk together?", f"Are the {colour}-dressed people walking together?",
                           f"Do the {rng.choice(GROUPS)} wearing {colour} move as a pair?"))
    return question, [{"op": "find", "name": "person", "adj": [colour]}, {"op": "together"}], "bool"


def sign_text(scene: Scene):
    rng = scene.rng
    thing = rng.choice(("sign", "notice", "board", "banner"))
    question = rng.choice((f"What does the {thing} say?", f"What is written on the {thing}?", f"Read the {thing}: what does it say?"))
    return question, [{"op": "find", "name": "text"}, {"op": "attribute", "name": "text"}], "sign"


def who_meets(scene: Scene):
    rng = scene.rng
    text, description = scene.person()
    question = rng.choice((f"Who does {text} meet?", f"Whom does {text} walk up to?", f"Which person meets {text}?"))
    return question, [{"op": "find", **description}, {"op": "events", "kind": "approach"}, {"op": "partner"}], "object"


def after_meeting(scene: Scene):
    rng = scene.rng
    text, description = scene.person()
    other, other_description = scene.person()
    question = rng.choice((f"What does {text} do after meeting {other}?",
                           f"After {text} meets {other}, what does {('he' if ' man' in text else 'she') if rng.random() < 0.5 else 'that person'} do?"))
    program = [{"op": "find", **description}, {"op": "events", "kind": "approach", "with": other_description},
               {"op": "first"}, {"op": "after", "of": 0}, {"op": "first"}]
    return question, program, "event"


def unseen_thing(scene: Scene):
    rng = scene.rng
    thing = rng.choice(("dog", "bicycle", "car", "umbrella", "bag", "cat", "frisbee", "bus"))
    question = rng.choice((f"Is there a {thing} in this footage?", f"Does a {thing} appear?", f"How many {thing}s are there?"))
    if question.startswith("How many"):
        return question, [{"op": "find", "name": thing}, {"op": "count"}], "number"
    return question, [{"op": "find", "name": thing}, {"op": "exists"}], "bool"


SHAPES = (count_moving, count_all, direction_of, order_person, clothing_of_ordered, stops_at_all, walk_together,
          sign_text, who_meets, after_meeting, unseen_thing)
EVENT_WORDS = {"stop": ("stops", "stands still", "halts"), "exit": ("leaves", "walks out of view"),
               "turn": ("turns around", "goes back"), "start": ("starts walking", "sets off"),
               "approach": ("walks up to someone", "approaches another person")}


def _options(scene: Scene, form: str, count: int = 5) -> tuple[list[str], list[dict]]:
    rng = scene.rng
    if form == "number":
        numbers = rng.sample(range(0, 7), count)
        words = rng.random() < 0.5
        return [NUMBERS[n] if words else str(n) for n in numbers], [{"number": n} for n in numbers]
    if form == "direction":
        ways = rng.sample(list(DIRECTIONS), count)
        return [rng.choice(DIRECTIONS[w]) for w in ways], [{"direction": w} for w in ways]
    if form == "object":
        colours = rng.sample(COLOURS, count)
        people = [scene.person(c) for c in colours]
        return [t for t, _ in people], [{"object": d} for _, d in people]
    if form == "colour":
        colours = rng.sample(COLOURS, count)
        return colours, [{"text": c} for c in colours]
    if form == "bool":
        order = [True, False] if rng.random() < 0.5 else [False, True]
        return ["yes" if b else "no" for b in order], [{"bool": b} for b in order]
    if form == "sign":
        texts = rng.sample(SIGN_TEXTS, count)
        return texts, [{"text": t} for t in texts]
    if form == "event":
        kinds = rng.sample(list(EVENT_WORDS), count)
        return [rng.choice(EVENT_WORDS[k]) for k in kinds], [{"event": {"kind": k}} for k in kinds]
    raise ValueError(form)


def people_examples(count: int, seed: int = 0) -> list[dict]:
    """`count` writer examples of people-question shapes (see the module docstring)."""
    from videothought.training.nodes.writer_data import example

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        scene = Scene(rng)
        shape = SHAPES[index % len(SHAPES)]
        question, program, form = shape(scene)
        open_question = rng.random() < 0.15
        choices, values = ([], None) if open_question else _options(scene, form, 2 if form == "bool" else 5)
        target = {"program": program, **({"options": values} if values is not None else {})}
        rows.append(example(question, choices, people_names(rng), json.dumps(target, separators=(",", ":")),
                            qid=f"people-{seed}-{index}", type="people", subtype=shape.__name__, wording="people",
                            answer=-1))
    return rows
