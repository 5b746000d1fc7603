import numpy as np
import pytest

from tests.graph.scenes import RGB, draw_shape
from videothought.perception.attributes import (
    COLOUR_NAMES,
    SHAPE_NAMES,
    colour_name,
    object_colour,
    rgb_to_lab,
    shape_name,
)


@pytest.mark.parametrize("name", list(RGB))
def test_world_colours_are_named(name):
    assert colour_name(RGB[name]) == name


@pytest.mark.parametrize(("rgb", "name"), [((128, 128, 128), "grey"), ((10, 10, 10), "black"),
                                           ((139, 69, 19), "brown"), ((255, 255, 255), "white")])
def test_dull_colours(rgb, name):
    assert colour_name(rgb) == name


def test_vocabulary_is_the_worlds():
    assert set(COLOUR_NAMES) == {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white",
                                 "grey", "black", "brown"}
    assert set(SHAPE_NAMES) == {"circle", "square", "triangle", "star", "hexagon", "diamond"}


def test_the_world_takes_its_vocabulary_from_the_namer():
    """One source: the world's names are the namer's objects, not a copy that could drift."""
    from videothought.evals.world import config

    assert config.COLOUR_NAMES is COLOUR_NAMES
    assert config.SHAPES is SHAPE_NAMES
    assert set(config.OBJECT_COLOURS) <= set(COLOUR_NAMES)


def test_lab_of_white_and_black():
    np.testing.assert_allclose(rgb_to_lab(np.array([255, 255, 255])), [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(rgb_to_lab(np.array([0, 0, 0])), [0, 0, 0], atol=1e-9)


def test_object_colour_uses_the_median_under_the_mask():
    frame = np.full((20, 20, 3), 70, dtype=np.uint8)
    frame[5:15, 5:15] = RGB["cyan"]
    frame[5, 5] = (255, 0, 0)  # one odd pixel does not move the median
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:15, 5:15] = True
    assert object_colour(frame, mask) == ("cyan", RGB["cyan"])
    assert object_colour(frame, box=(5, 5, 15, 15))[0] == "cyan"
    with pytest.raises(ValueError, match="no pixels"):
        object_colour(frame, np.zeros((20, 20), dtype=bool))


@pytest.mark.parametrize("radius", [11.0, 16.0, 24.0])
@pytest.mark.parametrize("shape", ["circle", "square", "triangle", "star", "hexagon", "diamond"])
def test_shapes_are_named_from_masks(shape, radius):
    canvas = np.zeros((80, 80), dtype=np.uint8)
    draw_shape(canvas, shape, 40.3, 39.6, radius, 255)
    assert shape_name(canvas >= 128) == shape


def test_tiny_masks_have_no_shape():
    mask = np.zeros((10, 10), dtype=bool)
    mask[4:6, 4:6] = True
    assert shape_name(mask) is None
