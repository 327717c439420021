import json

import numpy as np
import pytest

from gclenet.inference import autoselect
from gclenet.inference.autoselect import CANDIDATES, allowed_candidates, choose_backend, measure, select_backends

VALIDATED = {"validation": {"accuracy_drop_points": 0.11, "agreement": 0.988, "images": 3589}}


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv(autoselect.ENV_BACKEND, raising=False)


def test_allowed_candidates():
    allowed, excluded = allowed_candidates(bf16_fast=True, onnx_fp32=True, int8_metadata=VALIDATED)
    assert allowed == list(CANDIDATES) and excluded == {}
    allowed, excluded = allowed_candidates(bf16_fast=False, onnx_fp32=True, int8_metadata=None)
    assert allowed == ["torch-fp32", "onnx-fp32"] and set(excluded) == {"torch-bf16", "onnx-int8"}
    allowed, excluded = allowed_candidates(bf16_fast=False, onnx_fp32=False, int8_metadata=VALIDATED)
    assert allowed == ["torch-fp32", "onnx-int8"] and "no fp32 ONNX" in excluded["onnx-fp32"]
    allowed, excluded = allowed_candidates(bf16_fast=True, onnx_fp32=True, int8_metadata=VALIDATED, device="cuda")
    assert allowed == ["torch-fp32", "torch-bf16"] and "CPU only" in excluded["onnx-int8"]


@pytest.mark.parametrize("meta, why", [
    ({"validation": {"accuracy_drop_points": 0.6, "agreement": 0.97, "images": 3589}}, "loses 0.60"),
    ({"format": "qdq"}, "without a recorded validation"),
    ({}, "without a recorded validation"),
])
def test_int8_needs_a_recorded_validation_within_tolerance(meta, why):
    allowed, excluded = allowed_candidates(bf16_fast=True, onnx_fp32=True, int8_metadata=meta)
    assert "onnx-int8" not in allowed and why in excluded["onnx-int8"]


def test_choose_backend_fastest_allowed():
    speeds = {"torch-fp32": 100, "onnx-fp32": 150, "torch-bf16": 120, "onnx-int8": 400}
    assert choose_backend(speeds, CANDIDATES) == "onnx-int8"
    assert choose_backend(speeds, ["torch-fp32", "onnx-fp32", "torch-bf16"]) == "onnx-fp32"
    assert choose_backend({**speeds, "torch-fp32": 500}, CANDIDATES) == "torch-fp32"
    with pytest.raises(ValueError, match="no allowed backend"):
        choose_backend(speeds, [])


def test_choose_backend_prefers_the_more_exact_within_the_margin():
    # int8 is 3 % faster than fp32 ONNX: noise on a shared machine, so the exact one stays
    assert choose_backend({"onnx-fp32": 100, "onnx-int8": 103}, CANDIDATES, margin=0.05) == "onnx-fp32"
    assert choose_backend({"onnx-fp32": 100, "onnx-int8": 110}, CANDIDATES, margin=0.05) == "onnx-int8"
    assert choose_backend({"torch-fp32": 100, "onnx-int8": 103}, CANDIDATES, margin=0.0) == "onnx-int8"


def _select(tmp_path, speeds, allowed=CANDIDATES, batch=32, **kwargs):
    calls = []

    def fake_measure(runners, make_batch, batch):
        calls.append(sorted(runners))
        return {name: speeds[name] for name in runners}

    runners = lambda: {name: (lambda x: x) for name in CANDIDATES}  # noqa: E731
    selections = select_backends("model-a", [batch], allowed, {}, runners, lambda name, batch: None,
                                 cache=tmp_path / "backends.json", machine="test machine", measure_fn=fake_measure,
                                 **kwargs)
    return selections[batch], calls


def test_measured_once_then_cached_per_batch(tmp_path):
    speeds = {"torch-fp32": 50, "onnx-fp32": 140, "torch-bf16": 40, "onnx-int8": 300}
    first, calls = _select(tmp_path, speeds)
    assert (first.backend, first.source) == ("onnx-int8", "measured") and calls == [sorted(CANDIDATES)]
    again, calls = _select(tmp_path, {name: 1 for name in speeds})  # would pick another if measured
    assert (again.backend, again.source, calls) == ("onnx-int8", "cache", [])
    assert again.images_per_s == speeds and "onnx-int8 300" in again.describe()
    other_batch, calls = _select(tmp_path, {**speeds, "torch-fp32": 900}, batch=1)
    assert (other_batch.backend, other_batch.source) == ("torch-fp32", "measured") and calls
    data = json.loads((tmp_path / "backends.json").read_text())
    assert len(data) == 2 and all(key.startswith("test machine | model model-a | batch ") for key in data)


def test_both_batch_shapes_are_measured_with_one_set_of_runners(tmp_path):
    built = []

    def runners():
        built.append(1)
        return {name: (lambda x: x) for name in CANDIDATES}

    speeds = {1: {"torch-fp32": 10, "onnx-int8": 90}, 32: {"torch-fp32": 500, "onnx-int8": 90}}
    chosen = select_backends("m", [1, 32], ["torch-fp32", "onnx-int8"], {}, runners, lambda name, batch: batch,
                             cache=tmp_path / "c.json", machine="x",
                             measure_fn=lambda runners, make_batch, batch: speeds[make_batch("torch-fp32")])
    assert built == [1] and (chosen[1].backend, chosen[32].backend) == ("onnx-int8", "torch-fp32")


def test_one_allowed_candidate_needs_no_measurement(tmp_path):
    selection, calls = _select(tmp_path, {}, allowed=["torch-fp32"])
    assert (selection.backend, selection.source, calls) == ("torch-fp32", "only", [])
    with pytest.raises(ValueError, match="no classifier backend is allowed"):
        _select(tmp_path, {}, allowed=[])


def test_cache_is_remeasured_when_allowed_set_changes_or_refresh(tmp_path):
    speeds = {"torch-fp32": 50, "onnx-fp32": 140, "torch-bf16": 40, "onnx-int8": 300}
    _select(tmp_path, speeds)
    fewer, calls = _select(tmp_path, speeds, allowed=["torch-fp32", "onnx-fp32"])  # the int8 file went away
    assert (fewer.backend, fewer.source) == ("onnx-fp32", "measured") and calls == [["onnx-fp32", "torch-fp32"]]
    refreshed, calls = _select(tmp_path, speeds, allowed=["torch-fp32", "onnx-fp32"], refresh=True)
    assert refreshed.source == "measured" and calls


def test_corrupt_cache_is_measured_again(tmp_path):
    (tmp_path / "backends.json").write_text("{not json")
    selection, calls = _select(tmp_path, {"torch-fp32": 1, "onnx-fp32": 2, "torch-bf16": 3, "onnx-int8": 4})
    assert selection.source == "measured" and calls


def test_environment_overrides_without_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv(autoselect.ENV_BACKEND, "torch-fp32")
    selection, calls = _select(tmp_path, {})
    assert (selection.backend, selection.source, calls) == ("torch-fp32", "env", [])
    monkeypatch.setenv(autoselect.ENV_BACKEND, "onnx-int8")
    with pytest.raises(ValueError, match="not allowed here"):
        _select(tmp_path, {}, allowed=["torch-fp32"])
    monkeypatch.setenv(autoselect.ENV_BACKEND, "tensorrt")
    with pytest.raises(ValueError, match="valid: torch-fp32"):
        _select(tmp_path, {})


def test_cache_path_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GCLENET_CACHE_DIR", str(tmp_path / "c"))
    assert autoselect.cache_path() == tmp_path / "c" / "backends.json"
    monkeypatch.delenv("GCLENET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert autoselect.cache_path() == tmp_path / "x" / "gclenet" / "backends.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert autoselect.cache_path() == tmp_path / "home" / ".cache" / "gclenet" / "backends.json"


def test_measure_ranks_a_faster_runner_higher():
    import time

    slow = lambda x: time.sleep(0.004)  # noqa: E731
    fast = lambda x: time.sleep(0.001)  # noqa: E731
    speeds = measure({"slow": slow, "fast": fast}, lambda name: None, rounds=3, min_seconds=0.02, batch=8)
    assert speeds["fast"] > 2 * speeds["slow"] and 8 / 0.004 / 2 < speeds["slow"] <= 8 / 0.004 * 1.01


def test_file_id_tells_files_apart(tmp_path):
    from gclenet.inference.cache import file_id

    (tmp_path / "1").mkdir(), (tmp_path / "2").mkdir()
    a, b = tmp_path / "1" / "w.bin", tmp_path / "2" / "w.bin"  # same name and size, other bytes
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"x" * 99 + b"y")
    assert file_id(a) != file_id(b) and file_id(a, None) == file_id(a)
    before = file_id(a)
    a.write_bytes(b"z" * 100)  # rewritten in place: new contents, new time
    assert file_id(a) != before


def test_auto_backend_measures_real_engines_once(random_weights, tmp_path, monkeypatch):
    from gclenet.inference.autoselect import AutoBackend

    monkeypatch.setenv("GCLENET_CACHE_DIR", str(tmp_path))  # earlier tests may have measured these weights
    first = AutoBackend(random_weights)  # no ONNX model beside the weights: PyTorch only
    from gclenet.hardware import fast_bf16_available

    # Where the CPU has no fast bf16 (AVX2 only), fp32 is the one candidate: nothing is measured.
    expected = "measured" if fast_bf16_available("cpu") else "only"
    assert {s.source for s in first.selections.values()} == {expected}
    assert set(first.selections) == {1, 32} and first.selections[1].backend in ("torch-fp32", "torch-bf16")
    assert "onnx-fp32" in first.selections[1].excluded and "onnx-int8" in first.selections[1].excluded
    again = AutoBackend(random_weights)
    assert [(s.source, s.backend) for s in again.selections.values()] == \
        [("cache" if expected == "measured" else "only", s.backend) for s in first.selections.values()]
    probs = again.classify([np.zeros((48, 48, 3), np.uint8)] * 7)  # a batch of 7: the batch-32 choice
    # the chosen engines are built up front (weights that do not fit fail there), no others
    assert probs.shape == (7, 7) and set(again._engines) == {s.backend for s in again.selections.values()}
    only = AutoBackend(random_weights, precision="fp32")
    assert [s.source for s in only.selections.values()] == ["only", "only"]


def test_a_stale_int8_file_of_other_weights_is_not_used(int8_model_48, tmp_path, caplog):
    """An int8 model beside weights it was not made from (the weights were replaced) is refused."""
    import shutil

    from gclenet.inference.autoselect import AutoBackend
    from gclenet.inference.export import save_weights
    from gclenet.models import create_model
    from tests.conftest import weights_info

    weights = shutil.copy(int8_model_48.weights, tmp_path / "w.safetensors")
    shutil.copy(int8_model_48.int8, tmp_path / "w.int8.onnx")
    save_weights(create_model("gclenet"), weights_info(date="2099-01-01"), weights)  # new weights, same name
    backend = AutoBackend(weights, precision="fp32")
    assert "made from other weights" in caplog.text and "onnx-int8" not in backend._engines


@pytest.mark.parametrize("entry", [["onnx-int8"], "onnx-int8", {"backend": 3}, {"backend": "onnx-int8", "allowed": "all"},
                                   {"backend": "onnx-int8", "allowed": list(CANDIDATES), "images_per_s": "fast"}])
def test_a_hand_edited_cache_entry_is_measured_again(tmp_path, entry):
    _select(tmp_path, {"torch-fp32": 1, "onnx-fp32": 2, "torch-bf16": 3, "onnx-int8": 4})
    data = json.loads((tmp_path / "backends.json").read_text())
    (key,) = data
    (tmp_path / "backends.json").write_text(json.dumps({key: entry, "someone else's": {"backend": "torch-fp32"}}))
    selection, calls = _select(tmp_path, {"torch-fp32": 9, "onnx-fp32": 2, "torch-bf16": 3, "onnx-int8": 4})
    assert (selection.backend, selection.source) == ("torch-fp32", "measured") and calls
    data = json.loads((tmp_path / "backends.json").read_text())
    assert data[key]["backend"] == "torch-fp32" and "someone else's" in data  # other entries are kept
