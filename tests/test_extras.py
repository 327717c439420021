"""The core install recognises faces without any extra; a command that needs one names its pip install.

The extras' packages are installed in the test environment, so the core path runs here in
a process where importing any of them fails, as it would where they are not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gclenet.extras import EXTRAS, missing_package_hint

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = sorted({module for packages in EXTRAS.values() for module in packages.values()} | {"skimage"})

# Before gclenet is imported: an extra's package (or scikit-image, which the demo's photo
# used to come from) cannot be imported (ModuleNotFoundError) and is not found by
# importlib.util.find_spec (None), as where it is not installed.
BLOCKER = textwrap.dedent(f"""
    import sys
    sys.modules.update(dict.fromkeys({BLOCKED!r}))
    from gclenet.cli.main import main
""")


def requirement_names(requirements: list[str], optional: dict[str, list[str]] | None = None) -> set[str]:
    """The distributions ``requirements`` name; ``gclenet[x]`` (an extra including another)
    stands for the names of extra ``x`` in ``optional``."""
    names: set[str] = set()
    for requirement in requirements:
        included = re.fullmatch(r"gclenet\[([\w,-]+)\]", requirement.strip())
        if included and optional is not None:
            for extra in included.group(1).split(","):
                names |= requirement_names(optional[extra], optional)
        else:
            names.add(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower())
    return names


def test_the_extras_named_to_users_are_those_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    for extra, packages in EXTRAS.items():
        assert requirement_names(optional[extra], optional) == set(packages), extra
    assert optional["all"] == [f"gclenet[{','.join(EXTRAS)}]"]
    assert "gclenet[all]" in optional["test"]  # the README's test command installs everything the tests use
    core = requirement_names(project["dependencies"])
    assert not core & {package for packages in EXTRAS.values() for package in packages}
    assert not core & {"torch", "torchvision", "facenet-pytorch"}  # the core recognises faces on ONNX Runtime
    for extra in ("train", "export", "explain"):  # built on the eager model
        assert "gclenet[torch]" in optional[extra], extra
    assert "scikit-image" not in core  # the demo's photo ships in the package


def test_a_missing_package_is_named_with_the_extra_that_brings_it():
    assert missing_package_hint("lightning.pytorch", "train") == (
        "lightning is not installed; this needs the [train] extra: pip install 'gclenet[train]'")
    assert "[explain]" in missing_package_hint("matplotlib", "explain")  # in two extras: the command's own
    assert "[train]" in missing_package_hint("matplotlib")
    assert missing_package_hint("torch") == "torch is not installed; this needs the [torch] extra: pip install 'gclenet[torch]'"
    assert "[train]" in missing_package_hint("torch.nn", "train")  # a training command: the extra that has it all
    assert missing_package_hint("numpy") is None and missing_package_hint(None) is None  # not an extra's: a bug


def run_without_extras(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)


@pytest.mark.slow
def test_core_path_runs_without_any_extra(tmp_path):
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), i * 40, dtype=np.uint8))
    writer.release()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "face.png")
    # The shipped weights: without torch, the classifier runs the ONNX models beside them
    # (weights of one's own need an export first, which needs torch).
    result = run_without_extras("""
        import numpy as np
        from gclenet import Recognizer
        assert sys.modules["torch"] is None
        Recognizer(detector="none").predict(np.zeros((48, 48, 3), np.uint8))
        assert main(["demo", "--out", "demo"]) == 0
        assert main(["predict", "face.png", "clip.mp4", "--detector", "none", "--out", "out",
                     "--json", "--csv", "faces.csv"]) == 0
        assert main(["predict", "face.png", "--backend", "onnxruntime", "--precision", "fp32", "--json"]) == 0
        assert main(["data", "list"]) == 0
        print("core path done")
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "core path done" in result.stdout
    assert (tmp_path / "demo" / "annotated" / "astronaut.jpg").is_file()
    assert (tmp_path / "out" / "clip.probabilities.png").read_bytes()[:4] == b"\x89PNG"  # drawn without matplotlib


COMMANDS_AND_EXTRAS = [
    (["train", "--config", "missing.yaml"], "train"),
    (["evaluate", "--checkpoint", "w.ckpt"], "train"),
    (["curves", "run", "--out", "c.png"], "train"),
    (["export", "--weights", "default", "--format", "onnx", "--out", "m.onnx"], "export"),
    (["export", "--weights", "default", "--format", "safetensors", "--out", "w.safetensors"], "export"),
    (["complexity", "--input-size", "32", "--json"], "torch"),
    (["predict", "face.png", "--backend", "torch", "--detector", "none", "--json"], "torch"),
    (["cam", "face.png", "--out", "cams", "--detector", "none"], "explain"),
    (["serve", "--port", "7999"], "demo"),
    (["predict", "face.png", "--runner", "ray", "--parquet", "results"], "scale"),
]


def test_a_command_without_its_extra_says_which_pip_install_brings_it(tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "face.png")
    (tmp_path / "run" / "logs").mkdir(parents=True)
    (tmp_path / "run" / "logs" / "metrics.csv").write_text("epoch,step,val_acc\n0,1,0.5\n")
    result = run_without_extras(f"""
        import contextlib, io, json
        results = []
        for args in {[args for args, _ in COMMANDS_AND_EXTRAS]!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(args)
            results.append([code, err.getvalue()])
        print(json.dumps(results))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for (args, extra), (code, stderr) in zip(COMMANDS_AND_EXTRAS, json.loads(result.stdout.splitlines()[-1])):
        assert code == 2, (args, stderr[-2000:])
        (line,) = stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith(f"gclenet {args[0]}: error: ") and f"pip install 'gclenet[{extra}]'" in line, line


def test_help_names_the_extra_a_command_needs(tmp_path):
    result = run_without_extras("""
        import contextlib, io
        for command in ("train", "serve", "demo"):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
                main([command, "--help"])
            print(command, "|", " ".join(out.getvalue().split()))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    helps = dict(line.split(" | ", 1) for line in result.stdout.splitlines())
    assert "needs the [train] extra: pip install 'gclenet[train]'" in helps["train"]
    assert "needs the [demo] extra: pip install 'gclenet[demo]'" in helps["serve"]
    assert "extra" not in helps["demo"]  # the core install's
