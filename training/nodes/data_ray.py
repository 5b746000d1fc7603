"""Node data generation on Ray: worlds rendered and videos tracked by workers, examples written here.

    VIDEOTHOUGHT_RAY=local vot train nodes --config training/recipes/nodes/lora.yaml --data-only
    VIDEOTHOUGHT_RAY=auto  ...      # the cluster `ray start --head` runs on this machine

The costly parts of `training/nodes/data.py` are rendering the training worlds and running the
code nodes (identify_targets, then track: decode, track, ground, verbalise) on every worded
question. With VIDEOTHOUGHT_RAY set (or ray_address= given), both run on Ray workers:

    ensure_worlds:       one task per missing world seed (generate_world, as `vot world generate`)
    code_node_states:    the questions of one video per task, on actors that build the perception
                         context once; the tracked STSG cache (context.cache_dir) is shared on disk

and the driver then builds the examples from the states in question order with its seeded
random generator, so the rows equal a serial build's (tests/training/test_node_data_ray.py).
Workers build the default perception (`perception_context(cache_dir)`), whatever context the
driver was given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

RAY_ENV = "VIDEOTHOUGHT_RAY"  # "local", "auto" or HOST:PORT: node data on that cluster


def ray_address_from_env() -> str | None:
    return os.environ.get(RAY_ENV, "").strip() or None


class CodeNodeWorker:
    """A Ray actor's body: the code nodes' perception context, built once."""

    def __init__(self, cache_dir: str | None, threads: int):
        from videothought.library.cluster import set_worker_threads
        from videothought.training.nodes.data import perception_context

        set_worker_threads(threads)
        self.context = perception_context(cache_dir)

    def states(self, questions: list[tuple[str, list[str], str]]) -> list[dict | str]:
        """Per (question, choices, video_path): the code nodes' state, or the error as text."""
        from videothought.training.nodes.data import code_nodes

        out = []
        for question, choices, video_path in questions:
            try:
                out.append(code_nodes(question, choices, video_path, self.context))
            except Exception as error:  # one bad video must not lose the others (as in the serial build)
                out.append(f"{type(error).__name__}: {error}")
        return out


def code_node_states(items: list, cache_dir: str | None, *, address: str, workers: int | None = None
                     ) -> list[dict | str]:
    """The code nodes' state for every worded question (in order), computed on Ray workers; a
    string in place of a state is that question's error. Questions of one video go to one task,
    so each video is tracked once."""
    from videothought.library.cluster import cluster_cpus, ray_session, worker_threads

    by_video: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        by_video.setdefault(str(item.video_path), []).append(position)
    states: list[dict | str | None] = [None] * len(items)
    with ray_session(address, num_cpus=workers) as ray:
        count = workers or cluster_cpus(ray)
        actor_class = ray.remote(num_cpus=1)(CodeNodeWorker)
        actors = [actor_class.remote(None if cache_dir is None else str(cache_dir), worker_threads())
                  for _ in range(count)]
        pending = {}
        for n, positions in enumerate(by_video.values()):
            questions = [(items[p].question, list(items[p].choices), str(items[p].video_path)) for p in positions]
            pending[actors[n % count].states.remote(questions)] = positions
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            positions = pending.pop(ready[0])
            for position, state in zip(positions, ray.get(ready[0])):
                states[position] = state
        for actor in actors:
            ray.kill(actor)
    return states


def _render_world(root: str, seed: int, videos: int) -> str:
    from videothought.library.cluster import set_worker_threads
    from videothought.training.nodes.data import ensure_world

    set_worker_threads(1)
    return str(ensure_world(Path(root), seed, videos))


def ensure_worlds_ray(worlds: list[tuple[Path, int]], videos: int, *, address: str) -> list[Path]:
    """ensure_world for every (root, seed), the missing ones rendered as Ray tasks."""
    from videothought.library.cluster import ray_session

    with ray_session(address) as ray:
        render = ray.remote(num_cpus=1)(_render_world)
        return [Path(p) for p in ray.get([render.remote(str(root), seed, videos) for root, seed in worlds])]
