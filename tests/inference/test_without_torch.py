"""Recognition where torch is not installed (``pip install gclenet``, the core): MTCNN and
the classifier on ONNX Runtime, and ``auto``'s fp32 fallback (the filled graph) as right
as eager PyTorch fp32, for the machines where int8 fails its self-check.

torch is installed in the test environment: the child processes here block its import
(``sys.modules["torch"] = None``: ``import torch`` fails and ``find_spec`` says absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from gclenet.inference.selfcheck import CHECK_PHOTO, check_faces

ROOT = Path(__file__).resolve().parents[2]
BLOCK = "import sys\nsys.modules.update(dict.fromkeys(['torch', 'torchvision', 'facenet_pytorch']))\n"


def run_without_torch(code: str, tmp_path: Path) -> dict:
    env = {**os.environ, "GCLENET_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("GCLENET_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_demo_photo_is_recognised_without_torch(tmp_path):
    out = run_without_torch(f"""
        import json
        from gclenet import Recognizer
        recognizer = Recognizer(detector="mtcnn")
        faces = recognizer.predict({str(CHECK_PHOTO)!r})
        print(json.dumps({{"faces": [f.to_dict() for f in faces], "detector": type(recognizer.detector).__module__,
                          "reference": recognizer.backend.reference,
                          "excluded": recognizer.backend.selections[1].excluded,
                          "torch": sys.modules["torch"] is None}}))
    """, tmp_path)
    assert out["torch"] and out["detector"] == "gclenet.inference.mtcnn"  # MTCNN on ONNX Runtime; torch still blocked
    (face,) = out["faces"]
    assert face["label"] == "happy" and face["probs"]["happy"] > 0.9
    assert abs(face["box"][0] - 179.8) < 3 and abs(face["box"][2] - 268.8) < 3  # the astronaut's face
    assert out["reference"] == "onnx-fp32"
    assert "pip install 'gclenet[torch]'" in out["excluded"]["torch-fp32"]


def test_where_int8_fails_its_check_auto_falls_back_to_fp32_equal_to_torch(tmp_path):
    """int8 refused by the self-check (its limits made impossible to meet): ``auto`` runs the
    filled fp32 graph, whose answers on the check faces are eager PyTorch fp32's."""
    out = run_without_torch("""
        import dataclasses, json
        from gclenet.inference import autoselect
        from gclenet.inference.selfcheck import check_faces

        real = autoselect.self_check
        autoselect.self_check = lambda reference, candidates, **kw: {
            name: dataclasses.replace(result, threshold=-1.0) for name, result in real(reference, candidates, **kw).items()}
        backend = autoselect.AutoBackend("default")
        print(json.dumps({"chosen": sorted({s.backend for s in backend.selections.values()}),
                          "refused": backend.selections[32].excluded.get("onnx-int8", ""),
                          "probs": backend.classify(check_faces()).tolist()}))
    """, tmp_path)
    assert out["chosen"] == ["onnx-fp32"] and "self-check failed" in out["refused"]
    from gclenet.inference.backends import TorchBackend

    expected = TorchBackend("default", precision="fp32").classify(check_faces())
    np.testing.assert_allclose(np.array(out["probs"]), expected, atol=1e-4, rtol=0)


def test_without_torch_the_onnx_engines_are_the_candidates_and_fp32_the_reference(tmp_path):
    from gclenet.inference.autoselect import allowed_candidates, select_backends
    from gclenet.inference.selfcheck import compare_probabilities

    allowed, excluded = allowed_candidates(bf16_fast=True, onnx_fp32=True, int8_metadata={"validation": {
        "accuracy_drop_points": 0.1}}, torch=False)
    assert allowed == ["onnx-fp32", "onnx-int8"]
    assert excluded == dict.fromkeys(["torch-bf16", "torch-fp32"], "torch is not installed: pip install 'gclenet[torch]'")
    checked: list[list[str]] = []

    def check(candidates):
        checked.append(list(candidates))
        return {name: compare_probabilities(np.eye(3), np.eye(3)) for name in candidates}

    chosen = select_backends("m", [1], allowed, excluded, lambda: {c: None for c in allowed},
                             lambda name, b: None, cache=tmp_path / "b.json", machine="m",
                             measure_fn=lambda runners, make, batch: {"onnx-fp32": 10.0, "onnx-int8": 40.0},
                             check=check, reference="onnx-fp32")[1]
    assert checked == [["onnx-int8"]] and chosen.backend == "onnx-int8" and chosen.reference == "onnx-fp32"
    assert chosen.describe_checks()[0].startswith("self-check of onnx-int8 against onnx-fp32: ")


def test_the_torch_engine_without_torch_names_the_pip_install(tmp_path):
    out = run_without_torch("""
        import json
        from gclenet import Recognizer
        try:
            Recognizer(backend="torch", detector="none")
        except ModuleNotFoundError as err:
            print(json.dumps({"name": err.name, "message": str(err)}))
    """, tmp_path)
    assert out["name"] == "torch" and "pip install 'gclenet[torch]'" in out["message"]
