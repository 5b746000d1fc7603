"""English words the code reads, one table each: stop words, pronouns and referring words,
numbers and ordinals; and retrieval's light stemmer.

    terms("Which circle bumps into the green hexagon first?")
        -> ["circl", "bump", "green", "hexagon"]
    content_runs("What colour is the circle that hits the green hexagon?")
        -> ["colour", "circle", "hits", "green hexagon"]

This is the one place for these words (tests/test_one_place.py finds no second definition):
retrieval (library/) matches with STOP_WORDS; the rules reader (agent/rules/), a frozen baseline,
reads its function words, pronouns and number words here, with their contents as they were when
it was frozen (issue 25: no new phrase or word table), so some tables differ by a word where two
of its steps always did (PRONOUNS lacks "itself", REFERRING_WORDS has it). The synthetic world
(evals/world/) and the writer's training wordings keep their own words on purpose: a benchmark
written from the reader's tables would test the tables.

Nothing here knows any dataset's vocabulary: these are English function words, pronouns, number
words, and the words every question about a video uses ("video", "object", "first").
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset("""a an the and or but of to in on at by for with from into onto off over under
about after before during while then than that this these those it its it's they them their there here
is are was were be been being do does did doing done has have had having what which who whom whose
when where why how whole somewhere video clip scene object objects thing things one once first last
any all some each every other another same such very just only also not no yes can could would should
will shall may might must right left up down out s""".split())


# ---- stop words ------------------------------------------------------------------------------------
# STOP_WORDS (above): what retrieval ignores in a question. FUNCTION_WORDS: what the rules reader
# skips when it looks for phrases that may name objects (agent/rules/language.py candidate_phrases).
FUNCTION_WORDS = frozenset("""
a an the this that these those it its it's they them their he she his her him we you i me my our your
is are was were be been being am do does did doing done has have had having will would shall should can could
may might must what which who whom whose when where why how whether if then than so as of to in on at by for
from with without into onto off out over under up down about after before during until while since once
again also only just right very really too not no nor any each every all both either neither some most more
less few many much other another such same there here and or but because whereas
happen happens happened happening event events time times video clip scene frame frames moment seconds second
thing answer question option true false following
""".split())

# ---- pronouns and referring words ------------------------------------------------------------------
# Words by which a follow-up points back at the previous turn's object ("what does it do next?").
REFERRING_WORDS = {"it", "its", "itself", "they", "them", "their", "he", "him", "his", "she", "her"}
REFERRING_PHRASES = ("that one", "this one", "the same one", "the same object")
# The pronouns of the rules reader's target carry-over and retrieval anchor (agent/followup.py):
# REFERRING_WORDS but "itself", as that step always read them.
PRONOUNS = REFERRING_WORDS - {"itself"}
# With a pronoun, these make a question continue the previous turn ("what happens then?").
POINTING_WORDS = {"that", "this", "then", "next"}
# Words after which "that"/"this" names the previous turn's moment ("right after that").
ANCHOR_WORDS = {"after", "before", "since", "until", "following", "then", "next", "afterwards", "afterward",
                "later", "earlier", "subsequently", "beforehand", "previously"}
# A pronoun that can stand ahead of the name it stands for ("after it stops, what does the ball do?").
SUBJECT_PRONOUNS = {"it", "he", "she", "they", "its", "his", "her", "their"}
# The subject of a relative clause said as a pronoun ("the wall, which it springs back from").
PLAIN_SUBJECTS = {"it", "he", "she", "they", "we", "you", "i"}
# Articles, possessives and demonstratives before a noun ("going to the door", "in the clip").
DETERMINERS = {"the", "a", "an", "his", "her", "their", "its", "my", "our", "your", "this", "that"}
# The subjects an answered question's statement names again ("what does it do next?" + "stops"
# -> "the red ball stops next"; agent/session.py answer_statement).
RESTATED_SUBJECTS = ("it", "they")

# ---- numbers and ordinals --------------------------------------------------------------------------
# Cardinal number words and their values (agent/rules/times.py reads amounts of time with all of them).
NUMBER_VALUES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
                 "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
                 "forty": 40, "fifty": 50, "sixty": 60}
# The count words of a question or answer, zero to twelve, in order (a word's index is its value).
NUMBER_WORDS = tuple(NUMBER_VALUES)[:13]
# Ordinal words and their positions.
ORDINAL_VALUES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                  "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
                  "fourteenth": 14, "fifteenth": 15, "twentieth": 20, "thirtieth": 30}
# The rules reader's ordinals of a happening ("the second time", "2nd", "twice"): first to sixth.
ORDINALS = {**{word: n for word, n in ORDINAL_VALUES.items() if n <= 6},
            "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "once": 1, "twice": 2}
# Parts of a whole ("the second half", "the last third").
FRACTIONS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fifth": 5, "fifths": 5}
# How many times, in words ("twice"), and the words of an answer that counts nothing ("none").
TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3, "single": 1}
ZERO_WORDS = {"none", "no", "zero", "nothing", "never", "nobody", "neither"}


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
