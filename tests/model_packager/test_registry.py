"""Converter registry: order, overwrite guard, lazy imports, detection by file kind and by object."""

from __future__ import annotations

import pickle

import pytest

from model_packager.converters.base import Conversion, Converter, ModelLoadError, UnsupportedModelError
from model_packager.converters.registry import ConverterRegistry, default_registry


class _Dummy(Converter):
    name = "dummy"
    extra = "dummy"
    handles = "dummy objects and .dmy files"
    suffixes = (".dmy",)

    def accepts(self, model: object) -> bool:
        return model == "dummy"

    def load(self, path):
        return "dummy"

    def convert(self, model, sample, options) -> Conversion:  # pragma: no cover - not converted here
        raise NotImplementedError


def test_overwrite_guard():
    registry = ConverterRegistry()
    registry.register("dummy", _Dummy())
    with pytest.raises(ValueError, match="already registered"):
        registry.register("dummy", _Dummy())
    registry.register("dummy", _Dummy(), overwrite=True)
    assert registry.names() == ["dummy"]


def test_missing_converter_module_is_skipped_quietly_but_other_import_errors_surface(tmp_path, monkeypatch):
    registry = ConverterRegistry()
    registry.register("ghost", "model_packager.converters.does_not_exist:Ghost")
    registry.register("dummy", _Dummy())
    assert [c.name for c in registry.available()] == ["dummy"]
    (tmp_path / "maaskit_test_broken_converter.py").write_text("import maaskit_surely_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = ConverterRegistry()
    broken.register("broken", "maaskit_test_broken_converter:Nope")
    with pytest.raises(ModuleNotFoundError, match="maaskit_surely_missing_dependency"):
        broken.available()  # a converter whose own import is broken is a bug to show, not to hide


def test_default_order_puts_specific_converters_first():
    names = default_registry().names()
    assert names.index("xgboost") < names.index("sklearn") and names.index("lightgbm") < names.index("sklearn")
    assert names[-1] == "onnx"


def test_detects_pickles_by_content_without_suffix(iris_pipeline, tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(iris_pipeline, protocol=4))
    resolved = default_registry().resolve(path)
    assert resolved.converter.name == "sklearn" and resolved.source == "model.bin"


def test_framework_override_and_aliases(iris_pipeline, tmp_path):
    registry = default_registry()
    assert registry.get("scikit-learn").name == "sklearn"
    with pytest.raises(UnsupportedModelError, match="does not handle a sklearn.pipeline.Pipeline"):
        registry.resolve(iris_pipeline, framework="onnx")


def test_unknown_object_lists_supported():
    with pytest.raises(UnsupportedModelError, match=r"no converter handles a builtins.object\. Supported: .*sklearn:"):
        default_registry().resolve(object())


def test_custom_converter_by_suffix(tmp_path):
    registry = ConverterRegistry()
    registry.register("dummy", _Dummy())
    path = tmp_path / "m.dmy"
    path.write_text("x")
    assert registry.resolve(path).model == "dummy"
    other = tmp_path / "m.xyz"
    other.write_text("x")
    with pytest.raises(UnsupportedModelError, match=r"file kind '\.xyz'.*dummy: dummy objects"):
        registry.resolve(other)
    with pytest.raises(ModelLoadError, match="does not exist"):
        registry.resolve(tmp_path / "absent.dmy")


def test_each_present_converter_answers_to_its_registry_name():
    import importlib.util

    from model_packager.converters.registry import DEFAULT_CONVERTERS

    registry = default_registry()
    for name, target, aliases in DEFAULT_CONVERTERS:
        if importlib.util.find_spec(target.partition(":")[0]) is None:
            continue  # that converter module is not part of this checkout
        converter = registry.get(name)
        assert converter.name == name and converter.handles and converter.extra
        assert all(registry.get(alias) is converter for alias in aliases)


@pytest.mark.filterwarnings("ignore:.*Unknown file format:UserWarning")  # xgboost guesses JSON for .bin, rightly
def test_framework_override_loads_a_file_detection_would_miss(iris, tmp_path):
    import xgboost as xgb

    features, target = iris
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(features, label=target), num_boost_round=2)
    path = tmp_path / "booster.json"
    booster.save_model(path)
    renamed = tmp_path / "booster.bin"
    renamed.write_bytes(path.read_bytes())
    registry = default_registry()
    with pytest.raises(UnsupportedModelError, match="cannot tell what model booster.bin is"):
        registry.resolve(renamed)
    assert registry.resolve(renamed, framework="xgboost").converter.name == "xgboost"
    with pytest.raises(UnsupportedModelError, match="sklearn cannot load files"):
        registry.resolve(renamed, framework="sklearn")
