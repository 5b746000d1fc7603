"""Joining or starting a Ray cluster, and what every Ray worker of this project does first.

    from videothought.library.cluster import ray_session
    with ray_session("auto") as ray:          # the cluster `ray start --head` runs on this machine
        ...
    with ray_session(None, num_cpus=2):       # a local cluster of 2 CPUs, for this run alone

Indexing (library/distributed.py), `vot eval --ray` (evals/ray_eval.py) and node data
generation (training/nodes/data.py) share it. Ray is an optional extra (`pip install
'videothought[ray]'`); nothing imports it until one of those runs with --ray.

Thread policy: a worker owns one CPU (`num_cpus=1`), so it runs torch with one thread, or
VIDEOTHOUGHT_THREADS when set (read on the driver and handed to each worker, so a remote
node's environment does not matter). Two workers of two threads each on two cores would only
fight over them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator

from videothought.graph.optional import require
from videothought.graph.threads import THREADS_ENV  # noqa: F401  (re-exported: the one setting)

logger = logging.getLogger(__name__)

LOCAL = "local"  # --ray with no address: start a cluster for this run alone


def check_address(address: str | None) -> str | None:
    """--ray's value: None, "local", "auto", HOST:PORT or ray://...; anything else (a file name
    swallowed by `--ray` put before the positional arguments) is refused with a message."""
    if address is None or address in (LOCAL, "auto") or ":" in address:
        return address
    raise ValueError(f"--ray {address!r}: give auto, HOST:PORT or nothing (a local cluster); "
                     "put --ray after the file arguments")


def worker_threads() -> int:
    """Torch threads per Ray worker: the project's policy for several workers (graph/threads.py):
    VIDEOTHOUGHT_THREADS, else 1."""
    from videothought.graph.threads import default_threads

    return default_threads(workers=2)


def set_worker_threads(threads: int) -> None:
    """In a worker, before any model runs: torch's intra-op threads (and OpenMP's, for OpenCV/numpy)."""
    from videothought.graph.threads import apply_threads

    apply_threads(threads)


def import_spec(spec: str, what: str):
    """The object a 'module:attribute' string names (how workers are told which model factory to call:
    a string travels to any node, a closure does not)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{what} must look like module:function, got {spec!r}")
    try:
        value = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ValueError(f"{what} {spec!r}: cannot import {module_name!r} ({error})") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ValueError(f"{what} {spec!r}: {module_name} has no attribute {attribute!r}") from None
    return value


@contextlib.contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None) -> Iterator[object]:
    """The `ray` module, connected: to `address` ("auto", "HOST:PORT", "ray://..."), or to a new
    local cluster (address None or "local") of `num_cpus` CPUs. A session
    already connected in this process (a test's cluster) is used as it is and left running;
    one this call opened is shut down on exit.

    A local cluster listens on this machine's address, not loopback: Ray 2.60 resolves
    127.0.0.1 to the node's address (ray._private.services.resolve_ip_for_localhost) so that
    other nodes could join. Its token authentication (on by default in this Ray; the token is
    ~/.ray/auth_token) refuses drivers and nodes that lack the token."""
    ray = require("ray", extra="ray", feature="--ray")
    if ray.is_initialized():
        yield ray
        return
    options = {"include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": False}
    if address in (None, LOCAL):
        ray.init(num_cpus=num_cpus, **options)
        logger.info("started a local Ray cluster (%s CPUs)", num_cpus or "all")
    else:
        ray.init(address=address, **options)
        logger.info("joined the Ray cluster at %s", address)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray) -> int:
    """The connected cluster's CPUs (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def task_error(error: BaseException) -> BaseException:
    """The exception a Ray task raised, unwrapped from Ray's RayTaskError."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error
