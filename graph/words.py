"""Words of questions, labels and events, as retrieval matches them: stop words, a light
stemmer, content words and runs of them.

    terms("What colour is the circle that collides with the green hexagon?")
        -> ["colour", "circl", "collid", "green", "hexagon"]
    content_runs("What colour is the circle that hits the green hexagon?")
        -> ["colour", "circle", "hits", "green hexagon"]

Nothing here knows any dataset's vocabulary: the stop words are English function words and
the words every question about a video uses ("video", "object", "first").
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset("""a an the and or but of to in on at by for with from into onto off over under
about after before during while then than that this these those it its it's they them their there here
is are was were be been being do does did doing done has have had having what which who whom whose
when where why how whole somewhere video clip scene object objects thing things one once first last
any all some each every other another same such very just only also not no yes can could would should
will shall may might must right left up down out s""".split())


def stem(word: str) -> str:
    """A light English stemmer: "collides" / "collided" / "colliding" -> "collid"."""
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def terms(text: str) -> list[str]:
    """Content words of a text, stemmed, in order (duplicates kept)."""
    return [stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP_WORDS and len(w) > 1]


def content_runs(text: str) -> list[str]:
    """Maximal runs of content words: "What colour is the circle that hits the green hexagon?"
    -> ["colour", "circle", "hits", "green hexagon"]: the candidates for words on one object."""
    runs, current = [], []
    for word in re.findall(r"[a-z]+|[^a-z\s]", text.lower()):
        if word.isalpha() and word not in STOP_WORDS and len(word) > 1:
            current.append(word)
        else:
            if current:
                runs.append(" ".join(current))
            current = []
    if current:
        runs.append(" ".join(current))
    return runs
