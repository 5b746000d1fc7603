"""People (and other tracked things) described as a user would: clothing colours, size,
walking direction, what they carry; tracks of one person re-linked into one identity; people
crossing the picture counted.

    attributes = describe_tracks(frames, frame_indices, stsg)     # {track_id: {...}}
    identities = relink_tracks(stsg, attributes)                  # {track_id: identity}
    n = count_people(stsg)                                        # distinct identities
    crossing = count_crossings(stsg, direction="right_to_left")   # tracks that cross the picture

`perception.pipeline.track_frames` runs the first two on real footage and stores the results as
STSG track attributes (graph/schema.py lists them; the document's "vocabulary" names the values
they can take):

    upper_colour, lower_colour   a person's (or an upright track's) dominant upper-body /
                                 lower-body colour, a basic colour term; upper_shade,
                                 lower_shade the finer name
    colour, shade                the same over the whole box, for every track
    relative_size                small | medium | large against the clip's other tracks of the label
    height_fraction              median box height / frame height
    walking_direction            left | right | towards | away | still: the main way the track
                                 moves in image terms (lateral_direction: left | right | none,
                                 depth_direction: towards | away | none)
    crossed                      left_to_right | right_to_left | top_to_bottom | bottom_to_top:
                                 the track spans most of the picture that way (absent otherwise)
    carries, near                labels of other tracks moving with it / resting beside it
                                 (carried_ids, near_ids: their track ids)
    upright                      the boxes are at least 1.8x as tall as wide (a standing body)
    identity                     the smallest track id of the tracks judged to be the same
                                 person (re-linked across an ID switch or a re-entry);
                                 same_as: the other track ids of that identity (people and
                                 upright unnamed tracks: the default's HOG names only some walkers)

Colour naming. Pixels are named by the nearest colour, in CIELAB (Euclidean, delta-E 1976),
of the xkcd colour survey's named colours (949 names people gave to RGB samples, shipped with
matplotlib as XKCD_COLORS), keeping the names whose head word is one of the eleven basic
colour terms (Berlin & Kay: black, white, grey, red, orange, yellow, green, blue, purple, pink,
brown): 558 names. "dark slate blue" is a blue, "blue grey" a grey. A region's colour is the
basic term most of its pixels take; its shade is the full name nearest to those pixels' median.
Very light near-greys (CIELAB C* < 10, L* >= 88) are "white": the survey's light greys run up
to #fdfdfe. Nothing here is fitted to a clip.

Which pixels: a body's box holds background too. With a static camera (the real-scene
proposer's case) the clip's median frame is the background and only pixels that differ from
it count; otherwise the middle half of the box's width. Upper body: 15-50% of the box height
(below the head); lower body: 55-90% (above the feet).
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from videothought.perception.attributes import rgb_to_lab

logger = logging.getLogger(__name__)

BASIC_COLOURS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
WALKING_DIRECTIONS = ("left", "right", "towards", "away", "still")
CROSSINGS = ("left_to_right", "right_to_left", "top_to_bottom", "bottom_to_top")
RELATIVE_SIZES = ("small", "medium", "large")
ACHROMATIC_CHROMA = 10.0  # CIELAB C* below this is a grey, white or black
WHITE_LIGHTNESS = 88.0  # L* of a white shirt in daylight (#e0e0e0 is 89); lighter greys read as white
PERSON_LABELS = ("person",)


@dataclass(frozen=True)
class DescribeConfig:
    samples_per_track: int = 8  # boxes read per track, spread over its life (colour is stable; 8 outvote occluders)
    min_pixels: int = 12  # a region with fewer foreground pixels gives no colour
    background_threshold: int = 30  # 8-bit levels from the median frame: the background proposer's own threshold
    upper_band: tuple[float, float] = (0.15, 0.50)  # of the box height: shoulders to waist, below the head
    lower_band: tuple[float, float] = (0.55, 0.90)  # hips to ankles, above the feet (and their shadow)
    min_colour_share: float = 0.3  # the winning colour must hold this share of the pixels, else no name
    upright_ratio: float = 1.8  # boxes this much taller than wide get upper/lower colours too (a walker is 2-3.5)
    move_heights: float = 0.5  # walking: net motion of at least half a body height ...
    depth_scale: float = 0.15  # ... or the box grows/shrinks by 15% (towards/away from the camera)
    cross_span: float = 0.6  # crossing: the track spans 60% of the frame's width (height) that way
    carry_iou: float = 0.1  # another track overlapping (or within a tenth of a size of) the person ...
    carry_share: float = 0.6  # ... in 60% of the frames they share is carried (moving) or near (resting)

    def __post_init__(self):
        for band in (self.upper_band, self.lower_band):
            if not 0 <= band[0] < band[1] <= 1:
                raise ValueError(f"a body band must be 0 <= start < end <= 1, got {band!r}")
        if self.samples_per_track < 1 or self.min_pixels < 1:
            raise ValueError(f"samples_per_track and min_pixels must be >= 1, got {self.samples_per_track!r}, "
                             f"{self.min_pixels!r}")


# ---- colour names ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def colour_table() -> tuple[list[str], list[str], np.ndarray]:
    """(names, basic terms, Lab (P, 3)) of the xkcd survey colours whose head word is a basic term."""
    from matplotlib.colors import XKCD_COLORS, to_rgb

    names, basics, rgbs = [], [], []
    for key, value in XKCD_COLORS.items():
        name = key.removeprefix("xkcd:")
        head = name.split()[-1].replace("gray", "grey")
        if head in BASIC_COLOURS:
            names.append(name.replace("gray", "grey"))
            basics.append(head)
            rgbs.append(to_rgb(value))
    lab = rgb_to_lab(np.array(rgbs) * 255.0)  # (P, 3)
    return names, basics, lab


def name_colours(pixels: np.ndarray) -> np.ndarray:
    """Indices into colour_table() of the nearest named colour of each RGB pixel (K, 3) uint8.

    Near the achromatic axis the survey's names are unreliable at the light end (its "pale
    grey" is #fdfdfe): a colour with chroma C* < ACHROMATIC_CHROMA and lightness
    L* >= WHITE_LIGHTNESS is named "white" whatever its nearest name."""
    names, _, table = colour_table()
    pixels = np.asarray(pixels).reshape(-1, 3)
    # Name each distinct 6-bit colour once: a body region has far fewer distinct colours than pixels.
    quantised = (pixels >> 2).astype(np.int32)
    keys, inverse = np.unique((quantised[:, 0] << 12) | (quantised[:, 1] << 6) | quantised[:, 2], return_inverse=True)
    rgb = np.stack([(keys >> 12) & 63, (keys >> 6) & 63, keys & 63], axis=1) * 4 + 2  # (U, 3) bin centres
    lab = rgb_to_lab(rgb)  # (U, 3)
    nearest = np.empty(len(keys), dtype=np.int64)
    for start in range(0, len(keys), 2048):  # (2048, P) distances at a time
        chunk = lab[start : start + 2048]
        nearest[start : start + 2048] = np.argmin(((chunk[:, None, :] - table[None]) ** 2).sum(-1), axis=1)
    light = (np.hypot(lab[:, 1], lab[:, 2]) < ACHROMATIC_CHROMA) & (lab[:, 0] >= WHITE_LIGHTNESS)
    nearest[light] = names.index("white")
    return nearest[inverse.reshape(-1)]


def colour_of(pixels: np.ndarray, min_share: float = 0.3) -> tuple[str, str] | None:
    """(basic term, shade) most of `pixels` (K, 3) take, or None when no term holds `min_share`."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if not len(pixels):
        return None
    names, basics, table = colour_table()
    terms = [basics[i] for i in name_colours(pixels).tolist()]
    basic, count = Counter(terms).most_common(1)[0]
    if count < min_share * len(pixels):
        return None
    mine = np.array([term == basic for term in terms])
    median = np.median(pixels[mine].astype(np.float64), axis=0)
    candidates = [i for i, b in enumerate(basics) if b == basic]
    distance = np.linalg.norm(table[candidates] - rgb_to_lab(median[None])[0], axis=1)
    return basic, names[candidates[int(np.argmin(distance))]]


# ---- describing tracks ---------------------------------------------------------------------


def _region(frame, box, band, background, threshold, central):
    """RGB pixels (K, 3) of a horizontal band of a box: foreground ones if a background is given,
    else the middle half of its width."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = box
    h = y2 - y1
    top, bottom = int(round(y1 + band[0] * h)), int(round(y1 + band[1] * h))
    left, right = int(round(x1)), int(round(x2))
    if central or background is None:
        quarter = (x2 - x1) / 4
        left, right = int(round(x1 + quarter)), int(round(x2 - quarter))
    top, bottom = max(0, top), min(height, max(bottom, top + 1))
    left, right = max(0, left), min(width, max(right, left + 1))
    patch = frame[top:bottom, left:right].reshape(-1, 3)
    if background is not None and not central:
        difference = np.abs(frame[top:bottom, left:right].astype(np.int16)
                            - background[top:bottom, left:right].astype(np.int16)).max(-1).reshape(-1)
        patch = patch[difference > threshold]
    return patch


def _sample_observations(stsg, track_id: int, frame_set: set[int], count: int) -> list:
    observations = [o for o in stsg.observations(track_id) if o.visible and o.frame_index in frame_set]
    if len(observations) <= count:
        return observations
    # Prefer boxes of the track's usual size (not merged with a neighbour, not cut by the edge).
    heights = np.array([o.box[3] - o.box[1] for o in observations])
    usual = float(np.median(heights))
    good = [o for o, h in zip(observations, heights) if 0.8 * usual <= h <= 1.25 * usual] or observations
    picks = np.linspace(0, len(good) - 1, count).round().astype(int)
    return [good[i] for i in sorted(set(picks.tolist()))]


def _upright(observations: list, ratio: float) -> bool:
    """Boxes at least `ratio` times as tall as wide (median): a standing or walking body."""
    if not observations:
        return False
    aspects = [(o.box[3] - o.box[1]) / max(o.box[2] - o.box[0], 1e-9) for o in observations]
    return float(np.median(aspects)) >= ratio


def is_body(info: dict, attributes: dict | None = None) -> bool:
    """A person, or an upright track the detector did not name (attribute "upright"): the
    tracks re-linked into identities and counted as people."""
    attributes = info.get("attributes", {}) if attributes is None else attributes
    return is_person(info) or bool(attributes.get("upright"))


def is_person(info: dict) -> bool:
    """A track whose label names a person ("person", or a detector query such as "a person")."""
    return str(info.get("label", "")).lower().split()[-1:] == ["person"]


def describe_tracks(frames: np.ndarray, frame_indices, stsg, *, background: np.ndarray | None = None,
                    config: DescribeConfig = DescribeConfig()) -> dict[int, dict]:
    """Attributes of every track of `stsg` read from `frames` (T, H, W, 3) uint8 RGB, which hold the
    frames `frame_indices` (T,) in the pixels the STSG's boxes use (see the module docstring).

    background: the clip's background (H, W, 3), e.g. its median frame; None for a moving camera."""
    frames = np.asarray(frames)
    frame_indices = [int(f) for f in frame_indices]
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) != len(frame_indices):
        raise ValueError(f"need frames (T, H, W, 3) and T frame indices, got {frames.shape} and {len(frame_indices)}")
    position = {f: i for i, f in enumerate(frame_indices)}
    height, width = frames.shape[1:3]
    described: dict[int, dict] = {}
    for track_id in stsg.track_ids:
        info = stsg.track_info.get(track_id, {})
        person = is_person(info)
        samples = _sample_observations(stsg, track_id, set(position), config.samples_per_track)
        attributes: dict = {}
        # Upper and lower body for people and for upright tracks the detector did not name (the
        # default's HOG recognises a walker in only some frames); one colour for everything.
        bands = {"": (0.0, 1.0)}
        upright = _upright(samples, config.upright_ratio)
        attributes["upright"] = upright
        if person or upright:
            bands.update(upper=config.upper_band, lower=config.lower_band)
        for part, band in bands.items():
            pixels = [_region(frames[position[o.frame_index]], o.box, band, background, config.background_threshold,
                              central=False) for o in samples]
            pixels = [p for p in pixels if len(p) >= config.min_pixels]
            if not pixels and background is not None:  # resting: it melted into the median background
                pixels = [_region(frames[position[o.frame_index]], o.box, band, None, 0, central=True) for o in samples]
            if pixels:
                named = colour_of(np.concatenate(pixels), config.min_colour_share)
                if named is not None:
                    key = f"{part}_colour" if part else "colour"
                    attributes[key] = named[0]
                    attributes[key.replace("colour", "shade")] = named[1]
        attributes.update(_motion_words(stsg, track_id, (width, height), config))
        attributes.update(_companions(stsg, track_id, config) if person else {})
        described[track_id] = attributes
    _relative_sizes(stsg, described, height)
    return described


def _motion_words(stsg, track_id: int, frame_size: tuple[int, int], config: DescribeConfig) -> dict:
    """walking_direction, lateral_direction, depth_direction and crossed, from box position and scale."""
    trajectory = [o for o in stsg.trajectory(track_id) if o["visible"]] or stsg.trajectory(track_id)
    boxes = np.array([o["box"] for o in trajectory], dtype=np.float64)  # (N, 4)
    centres = np.array([o["centre"] for o in trajectory], dtype=np.float64)  # (N, 2)
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    k = max(1, len(boxes) // 5)  # ends: medians over the first and last fifth of the track
    start, end = np.median(centres[:k], axis=0), np.median(centres[-k:], axis=0)
    scale = math.log(float(np.median(heights[-k:])) / float(np.median(heights[:k])))
    body = float(np.median(heights))
    dx, dy = (end - start) / body  # body heights
    lateral = "right" if dx >= config.move_heights else "left" if dx <= -config.move_heights else "none"
    grows, shrinks = scale >= math.log1p(config.depth_scale), scale <= -math.log1p(config.depth_scale)
    # Over a ground plane seen from above, walking towards the camera moves down the picture and
    # grows; away moves up and shrinks. Either sign alone can be box noise: scale decides, the
    # vertical motion breaks ties only when it agrees.
    depth = "towards" if grows and dy > -config.move_heights else "away" if shrinks and dy < config.move_heights else "none"
    # The main direction is the stronger of the two, each measured against its own threshold.
    lateral_strength = abs(dx) / config.move_heights if lateral != "none" else 0.0
    depth_strength = abs(scale) / math.log1p(config.depth_scale) if depth != "none" else 0.0
    main = "still"
    if max(lateral_strength, depth_strength) > 0:
        main = lateral if lateral_strength >= depth_strength else depth
    words = {"walking_direction": main, "lateral_direction": lateral, "depth_direction": depth}
    width, height = frame_size
    span_x = (centres[:, 0].max() - centres[:, 0].min()) / width
    span_y = (centres[:, 1].max() - centres[:, 1].min()) / height
    first_x, last_x = centres[0, 0], centres[-1, 0]
    if span_x >= config.cross_span and abs(last_x - first_x) >= config.cross_span * width:
        words["crossed"] = "left_to_right" if last_x > first_x else "right_to_left"
    elif span_y >= config.cross_span and abs(centres[-1, 1] - centres[0, 1]) >= config.cross_span * height:
        words["crossed"] = "top_to_bottom" if centres[-1, 1] > centres[0, 1] else "bottom_to_top"
    return words


def _companions(stsg, track_id: int, config: DescribeConfig) -> dict:
    """carries / near: labels (and ids) of non-person tracks beside this person in most shared
    frames, moving with it or resting."""
    mine = {o.frame_index: o for o in stsg.observations(track_id) if o.visible}
    carried, near = [], []
    for other in stsg.track_ids:
        if other == track_id or is_person(stsg.track_info.get(other, {})):
            continue
        theirs = {o.frame_index: o for o in stsg.observations(other) if o.visible}
        shared = sorted(set(mine) & set(theirs))
        if len(shared) < 3:
            continue
        close = 0
        for frame in shared:
            a, b = np.array(mine[frame].box), np.array(theirs[frame].box)
            size = math.sqrt(max((a[2] - a[0]) * (a[3] - a[1]), 1.0))
            gap_x = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
            gap_y = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
            close += math.hypot(gap_x, gap_y) <= config.carry_iou * size
        if close < config.carry_share * len(shared):
            continue
        path = np.array([(theirs[f].box[0] + theirs[f].box[2]) / 2 for f in shared])
        moved = abs(path[-1] - path[0]) + abs(
            (theirs[shared[-1]].box[1] + theirs[shared[-1]].box[3]) / 2 - (theirs[shared[0]].box[1] + theirs[shared[0]].box[3]) / 2)
        size = math.sqrt(max((theirs[shared[0]].box[2] - theirs[shared[0]].box[0])
                             * (theirs[shared[0]].box[3] - theirs[shared[0]].box[1]), 1.0))
        (carried if moved > size else near).append(other)
    words: dict = {}
    if carried:
        words["carries"] = [stsg.track_info.get(t, {}).get("label", "object") for t in carried]
        words["carried_ids"] = carried
    if near:
        words["near"] = [stsg.track_info.get(t, {}).get("label", "object") for t in near]
        words["near_ids"] = near
    return words


def _relative_sizes(stsg, described: dict[int, dict], frame_height: int) -> None:
    """height_fraction, and relative_size against the other tracks of the same label."""
    heights = {}
    for track_id in described:
        boxes = [o.box for o in stsg.observations(track_id) if o.visible] or [o.box for o in stsg.observations(track_id)]
        heights[track_id] = float(np.median([b[3] - b[1] for b in boxes]))
        described[track_id]["height_fraction"] = round(heights[track_id] / max(frame_height, 1), 3)
    by_label: dict[str, list[int]] = {}
    for track_id in described:
        by_label.setdefault(str(stsg.track_info.get(track_id, {}).get("label", "object")), []).append(track_id)
    for ids in by_label.values():
        if len(ids) < 3:
            continue  # "the big one" needs others to be big against
        usual = float(np.median([heights[t] for t in ids]))
        for track_id in ids:
            ratio = heights[track_id] / max(usual, 1e-9)
            described[track_id]["relative_size"] = "small" if ratio < 0.75 else "large" if ratio > 1.33 else "medium"


# ---- one person, several tracks ----------------------------------------------------------


@dataclass(frozen=True)
class RelinkConfig:
    max_gap_seconds: float = 3.0  # a track picks up where another ended, within 3 s ...
    max_jump_heights: float = 2.0  # ... within 2 body heights (+ walking at `max_speed_heights`) of its end
    max_speed_heights: float = 1.5  # body heights a second: a brisk walk
    reentry_seconds: float = 60.0  # or comes back later anywhere (out of view and in again) ...
    reentry_colour_match: int = 2  # ... when both its clothing colours match (upper and lower)
    max_size_ratio: float = 1.5  # the two tracks' boxes differ in height by at most this factor at the link


def relink_tracks(stsg, described: dict[int, dict], *, config: RelinkConfig = RelinkConfig()) -> dict[int, int]:
    """{track_id: identity} for the person tracks of `stsg` (and upright unnamed ones, `is_body`):
    tracks that never overlap in time and
    continue one another (by position and time, or by both clothing colours after a re-entry)
    share an identity, the smallest track id among them. Linking is greedy, closest first; a
    track has at most one predecessor and one successor."""
    people = [t for t in stsg.track_ids if is_body(stsg.track_info.get(t, {}), described.get(t, {}))]
    spans = {}
    for track_id in people:
        trajectory = [o for o in stsg.trajectory(track_id) if o["visible"]] or stsg.trajectory(track_id)
        first, last = trajectory[0], trajectory[-1]
        height = float(np.median([o["box"][3] - o["box"][1] for o in trajectory]))
        spans[track_id] = (first, last, height)
    candidates = []
    for a in people:
        for b in people:
            if a == b:
                continue
            end_a, start_b = spans[a][1], spans[b][0]
            gap = start_b["time_seconds"] - end_a["time_seconds"]
            if gap <= 0:
                continue
            height = (spans[a][2] + spans[b][2]) / 2
            size_a = end_a["box"][3] - end_a["box"][1]
            size_b = start_b["box"][3] - start_b["box"][1]
            if max(size_a, size_b) > config.max_size_ratio * max(min(size_a, size_b), 1.0):
                continue
            distance = math.dist(end_a["centre"], start_b["centre"]) / max(height, 1.0)  # body heights
            colours = sum(1 for key in ("upper_colour", "lower_colour")
                          if described.get(a, {}).get(key) and described[a].get(key) == described.get(b, {}).get(key))
            clash = any(described.get(a, {}).get(k) and described.get(b, {}).get(k)
                        and described[a][k] != described[b][k] for k in ("upper_colour", "lower_colour"))
            if gap <= config.max_gap_seconds and distance <= config.max_jump_heights + config.max_speed_heights * gap \
                    and not clash:
                candidates.append((0, gap + distance, a, b))  # continues on the spot: best
            elif gap <= config.reentry_seconds and colours >= config.reentry_colour_match:
                candidates.append((1, gap, a, b))  # came back: weaker, after every on-the-spot link
    candidates.sort()
    successor, predecessor = {}, {}
    for _, _, a, b in candidates:
        if a in successor or b in predecessor:
            continue  # (b starts after a ends: a chain only runs forward in time, no cycles)
        successor[a], predecessor[b] = b, a
    identity = {}
    for track_id in people:
        root = _chain_root(predecessor, track_id)
        identity[track_id] = min(_chain(successor, root))
    return identity


def _chain_root(links: dict[int, int], track_id: int) -> int:
    seen = set()
    while track_id in links and track_id not in seen:
        seen.add(track_id)
        track_id = links[track_id]
    return track_id


def _chain(successor: dict[int, int], root: int) -> list[int]:
    chain = [root]
    while chain[-1] in successor and successor[chain[-1]] not in chain:
        chain.append(successor[chain[-1]])
    return chain


def apply_description(stsg, described: dict[int, dict], identities: dict[int, int]) -> None:
    """Write the description and identities into the STSG's track attributes (in place)."""
    for track_id, attributes in described.items():
        info = stsg.track_info.setdefault(track_id, {"label": "object", "attributes": {}})
        info.setdefault("attributes", {}).update(attributes)
    for track_id, identity in identities.items():
        same = sorted(t for t, i in identities.items() if i == identity and t != track_id)
        attributes = stsg.track_info[track_id]["attributes"]
        attributes["identity"] = identity
        attributes["same_as"] = same


def description_vocabulary() -> dict[str, list[str] | None]:
    """The values the describer can give, for the STSG document's "vocabulary"."""
    return {"upper_colour": list(BASIC_COLOURS), "lower_colour": list(BASIC_COLOURS), "colour": list(BASIC_COLOURS),
            "upper_shade": None, "lower_shade": None, "shade": None,
            "walking_direction": list(WALKING_DIRECTIONS), "lateral_direction": ["left", "right", "none"],
            "depth_direction": ["towards", "away", "none"], "crossed": list(CROSSINGS),
            "relative_size": list(RELATIVE_SIZES)}


# ---- counting ------------------------------------------------------------------------------


def count_people(stsg, *, include_upright: bool = True) -> int:
    """Distinct people: person tracks, and (include_upright) upright tracks the detector did not
    name, counted once per identity (track attribute "identity", written by relink_tracks through
    the pipeline; a track without one counts alone)."""
    identities = set()
    for track_id in stsg.track_ids:
        info = stsg.track_info.get(track_id, {})
        if is_person(info) or (include_upright and bool(info.get("attributes", {}).get("upright"))):
            identities.add(info.get("attributes", {}).get("identity", track_id))
    return len(identities)


def count_crossings(stsg, direction: str | None = None, *, label: str | None = None,
                    region: tuple[float, float, float, float] | None = None) -> list[int]:
    """Identities of people (`is_body`; or of tracks whose label contains `label`) that cross
    the picture (track attribute "crossed"), one per person; `direction` one of CROSSINGS
    (None: any). With `region` (x1, y1, x2, y2 pixels of the STSG's frames): identities whose
    path enters the region and leaves it on the opposite side, the way `direction` says."""
    if direction is not None and direction not in CROSSINGS:
        raise ValueError(f"direction must be one of {CROSSINGS} or None, got {direction!r}")
    found = set()
    chosen = stsg.tracks(label) if label is not None else [
        t for t in stsg.track_ids if is_body(stsg.track_info.get(t, {}))]
    for track_id in chosen:
        attributes = stsg.track_info[track_id].get("attributes", {})
        identity = attributes.get("identity", track_id)
        if region is None:
            crossed = attributes.get("crossed")
            if crossed and (direction is None or crossed == direction):
                found.add(identity)
            continue
        way = _region_crossing(stsg.trajectory(track_id), region)
        if way and (direction is None or way == direction):
            found.add(identity)
    return sorted(found)


def _region_crossing(trajectory: list[dict], region) -> str | None:
    """The way a path goes through a box region: in on one side, out on the opposite side."""
    x1, y1, x2, y2 = region
    inside = [x1 <= o["centre"][0] <= x2 and y1 <= o["centre"][1] <= y2 for o in trajectory]
    if not any(inside):
        return None
    first = inside.index(True)
    last = len(inside) - 1 - inside[::-1].index(True)
    if first == 0 or last == len(inside) - 1:
        return None  # began or ended inside: it did not pass through
    before, after = trajectory[first - 1]["centre"], trajectory[last + 1]["centre"]
    if before[0] < x1 and after[0] > x2:
        return "left_to_right"
    if before[0] > x2 and after[0] < x1:
        return "right_to_left"
    if before[1] < y1 and after[1] > y2:
        return "top_to_bottom"
    if before[1] > y2 and after[1] < y1:
        return "bottom_to_top"
    return None
