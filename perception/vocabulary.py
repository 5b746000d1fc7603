"""English aliases of the names perception outputs, so language can find what it can see.

A detector's label set (or an attribute namer's values) is a small closed vocabulary:
"person", "circle", "red". People say "pedestrian", "ball", "crimson". Like the synonym
lists LVIS keeps for its categories, each name here carries a few everyday words that mean
it. Keys are the canonical names perception writes into the STSG; any name not listed
simply has no aliases.
"""

from __future__ import annotations

ALIASES: dict[str, tuple[str, ...]] = {
    # labels of the real-footage detectors
    "person": ("people", "man", "men", "woman", "women", "boy", "girl", "child", "children", "kid", "kids",
               "pedestrian", "pedestrians", "walker", "someone", "somebody", "human", "guy", "lady", "adult"),
    "face": ("faces", "head", "heads"),
    "text": ("sign", "signs", "writing", "words", "caption", "letters", "subtitle"),
    # shapes of the pixel namer
    "circle": ("disc", "disk", "discs", "disks", "ring", "round", "dot", "orb", "sphere", "circles",
               "coin", "oval", "circular", "spherical", "rounded"),
    "square": ("block", "blocks", "cube", "cubes", "tile", "tiles", "squares", "rectangle", "rectangular", "squarish", "boxy"),
    "triangle": ("triangles", "wedge", "pyramid", "triangular"),
    "star": ("stars", "starfish", "starry"),
    "hexagon": ("hexagons", "hex", "honeycomb", "hexagonal"),
    "diamond": ("diamonds", "rhombus", "gem", "rhombic", "rhomboid", "rhombuses"),
    # colours of the pixel namer
    "grey": ("gray", "silver"),
    "purple": ("violet", "lilac", "lavender", "mauve", "purplish"),
    "red": ("crimson", "scarlet", "reddish"),
    "cyan": ("turquoise", "teal", "aqua", "cyanish"),
    "pink": ("rose", "magenta", "fuchsia", "pinkish"),
    "yellow": ("golden", "lemon", "yellowish"),
    "orange": ("amber", "tangerine", "orangish", "orangey"),
    "blue": ("navy", "azure", "cobalt", "bluish", "blueish"),
    "green": ("lime", "emerald", "greenish"),
    "white": ("ivory", "whitish"),
    "black": ("ebony",),
    "brown": ("tan", "chocolate"),
}


# "a six-sided shape" is a hexagon: polygons by their number of sides (four sides name no one shape).
POLYGON_BY_SIDES: dict[int, str] = {3: "triangle", 5: "pentagon", 6: "hexagon", 7: "heptagon", 8: "octagon"}


def aliases_of(name: str) -> tuple[str, ...]:
    """Everyday words for a perception name ("circle" -> "ball", "disc", ...); () if none."""
    return ALIASES.get(str(name).lower(), ())
