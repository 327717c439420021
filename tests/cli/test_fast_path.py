"""`gclenet predict` where ONNX Runtime is chosen: no torch imported; `gclenet info` says what was chosen."""

import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

pytest.importorskip("onnxruntime")


@pytest.fixture
def validated_int8(int8_model_48, tmp_path):
    """The session's random weights with their int8 model beside them, its recorded validation
    set to a small drop (random weights make no accuracy to keep): what auto may choose."""
    import onnx

    from gclenet.inference.backends import INT8_KEY

    weights = shutil.copy(int8_model_48.weights, tmp_path / "w.safetensors")
    proto = onnx.load(str(int8_model_48.int8))
    entry = next(e for e in proto.metadata_props if e.key == INT8_KEY)
    record = json.loads(entry.value)
    record["validation"].update(accuracy_drop_points=0.1, accuracy_int8=record["validation"]["accuracy_fp32"] - 0.001)
    entry.value = json.dumps(record)
    onnx.save(proto, str(tmp_path / "w.int8.onnx"))
    return tmp_path / "w.safetensors"


def _predict_in_fresh_process(args, env):
    code = ("import sys; from gclenet.cli.main import main\n"
            f"code = main({['predict', *args]!r})\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH', code, file=sys.stderr)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def _last_line(result):
    return result.stderr.strip().splitlines()[-1]


def _astronaut(folder):
    from skimage import data

    photo = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    return photo


def test_fast_path_gives_the_torch_paths_answer_without_torch(tmp_path):
    """The shipped weights with their int8 model beside them, ONNX Runtime chosen: the whole
    `predict --json` (MTCNN and classifier) runs without torch, and names the class the
    PyTorch path (facenet-pytorch's MTCNN, eager fp32 model) names, with near probabilities."""
    import os

    from gclenet.inference.backends import int8_path_for

    if not int8_path_for("default").is_file():
        pytest.skip("no int8 model beside the shipped weights in this checkout")
    photo = _astronaut(tmp_path)
    env = {**os.environ, "GCLENET_BACKEND": "onnx-int8"}  # as if measured fastest: no timing in a test
    fast = _predict_in_fresh_process([str(photo), "--json"], env)
    assert fast.returncode == 0 and _last_line(fast) == "NO TORCH 0", fast.stderr
    env.pop("GCLENET_BACKEND")
    slow = _predict_in_fresh_process([str(photo), "--json", "--backend", "torch"], env)
    assert slow.returncode == 0 and _last_line(slow) == "TORCH 0", slow.stderr
    (fast_face,), (slow_face,) = json.loads(fast.stdout)[0]["faces"], json.loads(slow.stdout)[0]["faces"]
    assert fast_face["label"] == slow_face["label"] == "happy"
    assert max(abs(fast_face["probs"][c] - slow_face["probs"][c]) for c in slow_face["probs"]) < 0.05
    assert max(abs(a - b) for a, b in zip(fast_face["box"], slow_face["box"])) < 2  # the two MTCNNs agree


def test_predict_imports_no_torch_where_auto_picks_int8(validated_int8, tmp_path, monkeypatch):
    import os

    from gclenet.cli.main import backend_line
    from gclenet.inference import autoselect
    from gclenet.inference.selfcheck import CheckResult

    photo = _astronaut(tmp_path)
    env = {**os.environ, "GCLENET_CACHE_DIR": str(tmp_path / "cache")}
    monkeypatch.setenv("GCLENET_CACHE_DIR", env["GCLENET_CACHE_DIR"])
    # The first run on a machine measures (here: int8 made the fastest), which builds the torch engines too.
    monkeypatch.setattr(autoselect, "measure", lambda runners, make_batch, batch: {
        name: 1000.0 if name == "onnx-int8" else 10.0 for name in runners})
    # Random weights' int8 model is far from their fp32 one (no accuracy to keep): let it pass the
    # self-check (tests/inference/test_selfcheck.py tests the check on the shipped weights).
    monkeypatch.setattr(autoselect, "self_check", lambda reference, candidates: {
        name: CheckResult(66, 0.0, 0.0, 1.0) for name in candidates})
    backend = autoselect.AutoBackend(validated_int8)
    assert {s.backend for s in backend.selections.values()} == {"onnx-int8"}
    assert "onnx-int8 at batch 1 [cache" in backend_line(str(validated_int8))  # what --version says: cached
    result = _predict_in_fresh_process([str(photo), "--weights", str(validated_int8), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert _last_line(result) == "NO TORCH 0"
    (record,) = json.loads(result.stdout)
    assert len(record["faces"]) == 1 and record["faces"][0]["landmarks"]  # MTCNN on ONNX Runtime
    # `--backend torch` imports torch as asked: test_fast_path_gives_the_torch_paths_answer_without_torch


def test_info_lines(validated_int8, capsys, monkeypatch):
    from gclenet.cli.main import main

    monkeypatch.setenv("GCLENET_BACKEND", "onnx-int8")
    assert main(["info", "--weights", str(validated_int8)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gclenet ") and "machine: " in out and "int8 model: " in out and "-0.10 points" in out
    assert "classifier backend (batch 1): onnx-int8 [env]" in out and "classifier backend (batch 32): onnx-int8" in out
    assert main(["info", "--weights", str(validated_int8), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["backends"]["1"]["backend"] == "onnx-int8" and record["int8"]["validation"]["data"] == "own"
