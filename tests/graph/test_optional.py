import pytest

from videothought.graph.optional import available, install_hint, require


def test_require_returns_the_module():
    import json

    assert require("json") is json
    assert available("json") and not available("no_such_module_vt")


def test_a_missing_module_names_the_extra_to_install():
    with pytest.raises(ImportError, match=r"OCR: .*'rapidocr_onnxruntime.*videothought\[ocr\]") as info:
        # a name that cannot exist, looked up as if it were the OCR module
        require("rapidocr_onnxruntime.no_such_submodule_vt", feature="OCR")
    assert "--no-deps rapidocr-onnxruntime" in str(info.value)
    with pytest.raises(ImportError, match=r"pip install 'videothought\[extra_vt\]'"):
        require("no_such_module_vt", extra="extra_vt")
    assert install_hint("no_such_module_vt") == "this needs the optional module 'no_such_module_vt': pip install no_such_module_vt"


def test_a_missing_dependency_of_an_installed_module_is_named(tmp_path, monkeypatch):
    (tmp_path / "vt_wrapper_mod.py").write_text("import vt_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"'vt_absent_dependency'.*needed by 'vt_wrapper_mod'"):
        require("vt_wrapper_mod")
