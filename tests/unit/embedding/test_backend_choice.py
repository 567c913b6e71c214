"""Which embedding backend runs where, and the settings that override it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.embedding import resolve_backend
from pipeline_factory.exceptions import ConfigError


@pytest.fixture(autouse=True)
def _no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_EMBEDDING_BACKEND", raising=False)


def test_auto_is_onnx_on_the_cpu_and_torch_on_cuda(tmp_path: Path) -> None:
    assert resolve_backend("cpu", model_dir=tmp_path) == "onnx"
    assert resolve_backend("cuda", model_dir=tmp_path) == "torch"
    assert resolve_backend("cuda:1", "auto", tmp_path) == "torch"


def test_a_hub_id_without_a_folder_stays_on_torch() -> None:
    assert resolve_backend("cpu", model_dir=None) == "torch"
    with pytest.raises(ConfigError, match="local model folder"):
        resolve_backend("cpu", "onnx", None)


def test_the_setting_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_EMBEDDING_BACKEND", "torch")
    assert resolve_backend("cpu", model_dir=tmp_path) == "torch"
    monkeypatch.setenv("PIPELINE_EMBEDDING_BACKEND", " ONNX ")
    assert resolve_backend("cpu", model_dir=tmp_path) == "onnx"
    assert resolve_backend("cpu", "onnx-int8", tmp_path) == "onnx-int8"  # an argument beats the setting


def test_bad_settings_name_the_setting_and_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match=r"PIPELINE_EMBEDDING_BACKEND='tensorrt'.*auto, torch, onnx, onnx-int8"):
        resolve_backend("cpu", model_dir=tmp_path)
    monkeypatch.delenv("PIPELINE_EMBEDDING_BACKEND")
    with pytest.raises(ConfigError, match="CPU only"):
        resolve_backend("cuda", "onnx-int8", tmp_path)
