"""How many CPU threads torch (and OpenMP) may use: one setting, decided in one place.

    VIDEOTHOUGHT_THREADS=1 vot ask ...        # the environment variable
    vot --threads 1 ask ...                    # or the flag on the `vot` command (sets the variable)
    apply_threads()                            # a process applies the policy before its models run

Default: the cores this process may run on that are free now (cores minus the 1-minute load
average, at least 1); 1 per worker when several workers share the machine (Ray workers, eval
shards). Measured on the 2-core machines here (issue 28): with another busy process beside it,
torch's 2 threads oversubscribe the cores and decode ~10x slower than 1 thread; idle, 2 threads
are ~15 % faster than 1. Following what is free gets both.

Like optional.py, this is the bottom layer's: every package (perception, agent, library, training)
applies the same policy without an import cycle.
"""

from __future__ import annotations

import os

THREADS_ENV = "VIDEOTHOUGHT_THREADS"


def configured_threads() -> int | None:
    """$VIDEOTHOUGHT_THREADS as a number, None when unset; a bad value is an error naming it."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        raise ValueError(f"{THREADS_ENV} must be a whole number of threads, got {text!r}") from None
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be at least 1, got {threads}")
    return threads


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(workers: int = 1) -> int:
    """The policy: $VIDEOTHOUGHT_THREADS when set; else 1 per worker when several share the machine;
    else the cores free now (cores - load average, rounded, at least 1)."""
    configured = configured_threads()
    if configured is not None:
        return configured
    if workers > 1:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(available_cores(), round(available_cores() - load)))


def apply_threads(threads: int | None = None, *, workers: int = 1) -> int:
    """Set torch's intra-op threads (and OMP_NUM_THREADS for libraries that read it later) to
    `threads`, or to the policy's choice; returns the number set."""
    threads = int(threads) if threads is not None else default_threads(workers)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads
