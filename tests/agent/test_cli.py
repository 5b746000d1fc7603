"""The `vot` console script, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from videothought.cli import main

# The console script installed beside this interpreter (the venv need not be on PATH).
VOT = str(Path(sys.executable).parent / "vot")


def vot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([VOT, *args], capture_output=True, text=True, timeout=120)


def test_info_reports_bikes_metadata(sample_clip):
    result = vot("info", str(sample_clip))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["fps"], info["num_frames"], info["width"], info["height"]) == (25.0, 250, 640, 272)


def test_info_bad_input_is_one_clear_line(tmp_path):
    result = vot("info", str(tmp_path / "missing.mp4"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"vot info: {tmp_path / 'missing.mp4'}: no such file"
    assert "Traceback" not in result.stderr


def test_frames_writes_pngs(clip_path, tmp_path):
    from PIL import Image

    result = vot("frames", str(clip_path), "--num", "3", "--out", str(tmp_path / "pngs"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame_index"] for r in records] == [5, 15, 25]
    assert Image.open(records[0]["path"]).size == (64, 48)


def test_help_and_unknown_command(capsys):
    assert main(["--help"]) == 0
    assert "info" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_demo_runs_on_the_embedded_default(sample_clip):
    result = subprocess.run([sys.executable, "-m", "videothought.cli", "demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])
