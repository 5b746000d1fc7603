"""Times and time intervals in text: "in minute 7", "at 1:05", "between 20 and 30 seconds",
"the second half", "during the third minute", for any wording.

An answer option that names *when* something happens is read into an interval of the video's
own clock, [start, end) in seconds; the claim checker (agent/rules/claims.py) then asks whether the
question's event happened inside it. Read by units and numbers, not sentence patterns:

    minute 7 / the 7th minute / the seventh minute        [360, 420)   (a unit counted from 1)
    1:05 / at 65 s / around 65 seconds                    [64, 66)     (a moment, +- POINT_SECONDS)
    between 1:00 and 2:30 / from 20 to 30 seconds / 0:20-0:30   [a, b)
    within the first 3 minutes / before 2:00              [0, b)
    after 5 minutes / later than 0:30                     [a, duration)
    the first half / the last third / the second quarter  a share of the video (needs its duration)

Nothing here knows a dataset: only clock units, and the number words and ordinals of English
(graph/words.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from videothought.graph.words import FRACTIONS, NUMBER_VALUES, ORDINAL_VALUES

POINT_SECONDS = 1.0  # a named moment ("at 1:05") matches events this close to it
UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0,
         "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0}
# which share of the video: an ordinal (first to fifth), or a word for the start (1) or the end (-1)
POSITIONS = {**{word: n for word, n in ORDINAL_VALUES.items() if n <= 5}, "opening": 1, "initial": 1,
             "early": 1, "last": -1, "final": -1, "closing": -1, "late": -1, "latter": -1, "former": 1}
UPTO_WORDS = ("before", "within", "by", "until", "till", "up to", "under", "less than", "earlier than", "prior to")
FROM_WORDS = ("after", "past", "beyond", "later than", "more than", "over", "since")

_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?"
_NUMBER = r"\d+(?:\.\d+)?|" + "|".join(sorted(NUMBER_VALUES, key=len, reverse=True))
_UNIT = "|".join(sorted(UNITS, key=len, reverse=True))
_ORDINAL = r"\d+(?:st|nd|rd|th)|" + "|".join(sorted(ORDINAL_VALUES, key=len, reverse=True))
_AMOUNT = rf"(?:{_CLOCK}|(?:{_NUMBER})(?:\s*(?:{_UNIT})\b)?)"


@dataclass(frozen=True)
class Interval:
    """[start, end) seconds of the video's clock; `point` when the text named one moment."""

    start: float
    end: float
    point: bool = False

    def contains(self, seconds: float) -> bool:
        return self.start <= seconds < self.end

    def distance(self, seconds: float) -> float:
        """Seconds from `seconds` to the interval (0 inside)."""
        return max(0.0, self.start - seconds, seconds - self.end)


def _number(text: str) -> float:
    text = text.strip()
    return float(NUMBER_VALUES[text]) if text in NUMBER_VALUES else float(text)


def _ordinal(text: str) -> int:
    text = text.strip()
    return ORDINAL_VALUES[text] if text in ORDINAL_VALUES else int(re.match(r"\d+", text).group())


def _clock(text: str) -> float:
    parts = [int(p) for p in text.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _amount(text: str, default_unit: float | None) -> tuple[float, bool] | None:
    """Seconds of "1:05", "65 s", "two minutes", "30" (with the unit the context gives); and
    whether a unit (or a clock) was written."""
    text = text.strip()
    if re.fullmatch(_CLOCK, text):
        return _clock(text), True
    found = re.fullmatch(rf"({_NUMBER})\s*({_UNIT})?", text)
    if not found:
        return None
    unit = UNITS.get(found.group(2) or "", None)
    if unit is None and default_unit is None:
        return None
    return _number(found.group(1)) * (unit if unit is not None else default_unit), unit is not None


def _unit_after(text: str) -> float | None:
    found = re.search(rf"(?:{_NUMBER})\s*({_UNIT})\b", text)
    return UNITS[found.group(1)] if found else (60.0 if re.search(_CLOCK, text) else None)


def read_interval(text: str, duration_seconds: float | None = None) -> Interval | None:
    """The time or interval `text` names, or None when it names none (see the module docstring)."""
    lowered = " ".join(re.findall(r"\d{1,2}:\d{2}(?::\d{2})?|\d+(?:\.\d+)?(?:st|nd|rd|th)?|[a-z]+", text.lower()))
    if not lowered:
        return None
    # a range: "between A and B", "from A to B", "A-B" (the dash is gone: "A B" of two clocks)
    found = re.search(rf"(?:between|from)\s+({_AMOUNT})\s+(?:and|to|until|till|through)\s+({_AMOUNT})", lowered) \
        or re.fullmatch(rf"(?:\w+\s+)*?({_CLOCK})\s+(?:to\s+)?({_CLOCK})", lowered)
    if found:
        unit = _unit_after(found.group(2)) or _unit_after(found.group(1))
        low, high = _amount(found.group(1), unit), _amount(found.group(2), unit)
        if low and high and high[0] > low[0]:
            return Interval(low[0], high[0])
    # a counted unit: "minute 7", "the 7th minute", "the seventh minute", "second 12"
    found = re.search(rf"\b(minute|hour|second)\s+(?:number\s+)?({_NUMBER})\b", lowered)
    if found and not re.search(rf"\b{found.group(1)}\s+(?:{_NUMBER})\s+(?:and|to|or)\b", lowered) \
            and not (found.group(1) == "second" and re.search(r"\bsecond\s+(?:half|third|quarter)", lowered)):
        size = UNITS[found.group(1)]
        n = _number(found.group(2))
        if n >= 1:
            return Interval((n - 1) * size, n * size)
    found = re.search(rf"\b({_ORDINAL})\s+(minute|hour|second)\b(?!s)", lowered)
    if found:
        size = UNITS[found.group(2)]
        n = _ordinal(found.group(1))
        if n >= 1:
            return Interval((n - 1) * size, n * size)
    # a share of the video: "the first half", "the last third", "the second quarter"
    found = re.search(r"\b(" + "|".join(POSITIONS) + r")\s+(" + "|".join(FRACTIONS) + r")\b", lowered)
    if found and duration_seconds:
        parts = FRACTIONS[found.group(2)]
        position = POSITIONS[found.group(1)]
        position = parts if position == -1 else min(position, parts)
        size = duration_seconds / parts
        return Interval((position - 1) * size, position * size)
    # an open interval: "within the first 3 minutes", "before 2:00", "after 5 minutes"
    for words, opens_at_start in ((UPTO_WORDS, True), (FROM_WORDS, False)):
        pattern = rf"\b(?:{'|'.join(words)})\s+(?:the\s+)?(?:first\s+)?({_CLOCK}|(?:{_NUMBER})\s*(?:{_UNIT})\b)"
        found = re.search(pattern, lowered)
        if found:
            amount = _amount(found.group(1), None)
            if amount:
                end = duration_seconds if duration_seconds else float("inf")
                return Interval(0.0, amount[0]) if opens_at_start else Interval(amount[0], end)
    # one moment: "at 1:05", "65 s", "after about 12 seconds" was taken above
    found = re.search(rf"({_CLOCK})|\b({_NUMBER})\s*({_UNIT})\b", lowered)
    if found:
        seconds = _clock(found.group(1)) if found.group(1) else _number(found.group(2)) * UNITS[found.group(3)]
        return Interval(seconds - POINT_SECONDS, seconds + POINT_SECONDS, point=True)
    return None
