import numpy as np
import pytest

from videothought.graph.schema import EVENT_PHRASES, EVENT_TYPES, box_coverage, box_iou, event_verbs


def test_every_event_type_has_english_phrases():
    assert set(EVENT_PHRASES) == set(EVENT_TYPES)
    for kind in EVENT_TYPES:
        verbs = event_verbs(kind)
        assert len(verbs) >= 3 and all(v and v == v.strip() for v in verbs), kind
    assert event_verbs("collide")[:4] == ["collide", "hit", "bump", "crash"]
    with pytest.raises(KeyError, match="unknown event type 'explode'"):
        event_verbs("explode")


def test_box_geometry():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [2, 2, 4, 4]])
    assert box_iou(a, b)[0].tolist() == pytest.approx([50 / 150, 1.0, 0.0, 4 / 100])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0  # empty union
    # coverage is one-sided: the small box lies fully inside the big one, not the reverse
    assert box_coverage(b[3:], a)[0, 0] == 1.0 and box_coverage(a, b[3:])[0, 0] == pytest.approx(0.04)
