"""The thread setting: one environment variable, one `vot` flag, one policy."""

from __future__ import annotations

import pytest
import torch

from videothought.graph.threads import THREADS_ENV, apply_threads, configured_threads, default_threads


def test_the_variable_wins_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "1")
    assert configured_threads() == 1 and default_threads() == 1 and default_threads(workers=4) == 1
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="VIDEOTHOUGHT_THREADS must be a whole number"):
        default_threads()
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(ValueError, match="at least 1"):
        default_threads()


def test_without_the_variable_workers_get_one_thread_and_a_process_what_is_free(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert default_threads(workers=2) == 1
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr("videothought.graph.threads.available_cores", lambda: 2)
    assert default_threads() == 2
    monkeypatch.setattr("os.getloadavg", lambda: (1.6, 0.0, 0.0))
    assert default_threads() == 1  # one core is busy


def test_apply_sets_torch_and_openmp(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(THREADS_ENV, "1")
        assert apply_threads() == 1 and torch.get_num_threads() == 1
        import os

        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def test_the_vot_flag_sets_the_variable_and_is_honoured(monkeypatch, capsys):
    from videothought.cli import main

    monkeypatch.setenv(THREADS_ENV, "2")  # recorded, so teardown restores what was there before the test
    before = torch.get_num_threads()
    try:
        assert main(["--threads", "1", "bench", "--help"]) == 0
        import os

        assert os.environ[THREADS_ENV] == "1" and torch.get_num_threads() == 1
        assert main(["--threads=x", "ask"]) == 2
        assert "whole number" in capsys.readouterr().err
        assert os.environ[THREADS_ENV] == "1"  # the bad value was not left behind
    finally:
        torch.set_num_threads(before)
