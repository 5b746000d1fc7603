"""Node data generation on a real local Ray cluster: the worlds and the examples equal a serial build's."""

from __future__ import annotations

import json

import pytest
import ray  # the [ray] extra, installed by `make test`

from videothought.training.nodes.data import (
    build_examples,
    ensure_world,
    ensure_worlds,
    perception_context,
    worded_questions,
)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.mark.slow
def test_worlds_and_node_examples_on_ray_equal_a_serial_build(cluster, tmp_path):
    serial_roots = [ensure_world(tmp_path / "serial" / f"w{seed}", seed, 1) for seed in (101, 102)]
    ray_roots = ensure_worlds([(tmp_path / "ray" / f"w{seed}", seed) for seed in (101, 102)], 1, ray_address=cluster)
    for serial, distributed in zip(serial_roots, ray_roots, strict=True):
        files = sorted(p.relative_to(serial) for p in serial.rglob("*") if p.is_file())
        assert files and files == sorted(p.relative_to(distributed) for p in distributed.rglob("*") if p.is_file())
        for name in files:  # same seed, same bytes: the videos included (meta.json: but its timing)
            if name.name == "meta.json":
                meta = [json.loads((root / name).read_text()) for root in (serial, distributed)]
                assert [m.pop("seconds_to_generate") > 0 for m in meta] == [True, True]
                assert meta[0] == meta[1]
                continue
            assert (serial / name).read_bytes() == (distributed / name).read_bytes(), name

    items = [item for root in ray_roots
             for item in worded_questions(root, family=None, rewordings=0, include_original=True, limit=3)]
    assert len({item.video_path for item in items}) == 2
    serial_rows = build_examples(items, perception_context(tmp_path / "cache-serial"), seed=3, progress=False)
    ray_rows = build_examples(items, perception_context(tmp_path / "cache-ray"), seed=3, progress=False,
                              ray_address=cluster)
    assert len(serial_rows) == 7 * len(items)  # 7 examples a question: none failed on either side
    assert ray_rows == serial_rows
    assert len(list((tmp_path / "cache-ray" / "stsg").glob("*.json"))) == 2  # each video tracked once, cached
