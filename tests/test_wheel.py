"""gclenet builds into a wheel with its weights and example photo inside, whose metadata passes
``twine check``, and which recognises faces from where pip puts it, with no extra installed.

Built with the standard front-end (``python -m build --wheel --no-isolation``: the build
tools of the test environment, no network); installed with ``pip --no-deps --no-index``
into a folder, so nothing of this checkout is on the path when the installed copy runs;
and, where the package registry answers, into a fresh venv with its dependencies, as a user
runs ``pip install gclenet``: no torch comes with it, and the demo runs.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from gclenet.extras import EXTRAS
from gclenet.models.weights import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    if not all((ROOT / "gclenet" / "weights" / name).is_file() for name in SHIPPED_WEIGHTS.values()):
        pytest.skip("no shipped weights in this checkout")
    source = tmp_path_factory.mktemp("source")  # a copy: the build writes build/ and *.egg-info beside the sources
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gclenet", source / "gclenet", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
                            cwd=source, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = dist.glob("gclenet-*.whl")
    return built


def test_the_wheel_holds_the_weights_and_the_photo_and_declares_the_extras(wheel):
    assert wheel.stat().st_size < MAX_WHEEL_BYTES
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    for weights in SHIPPED_WEIGHTS.values():
        assert f"gclenet/weights/{weights}" in names
    # the default weights' int8 model, which backend "auto" picks where it is fastest (docs/BENCHMARKS.md, "Engines")
    assert f"gclenet/weights/{Path(SHIPPED_WEIGHTS[DEFAULT_WEIGHTS]).stem}.int8.onnx" in names
    assert "gclenet/assets/astronaut.jpg" in names
    for stage in ("pnet", "rnet", "onet"):  # MTCNN on ONNX Runtime, the torch-free path
        assert f"gclenet/weights/mtcnn_{stage}.onnx" in names
    for weights in SHIPPED_WEIGHTS.values():  # the torch-free fp32 engine's graphs (gclenet.inference.onnx_graph)
        assert f"gclenet/weights/{Path(weights).stem}.graph.onnx" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "configs/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "gclenet = gclenet.cli.main:main" in archive_entry_points(wheel)

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
    assert requirements(core) == requirements(declared["dependencies"])
    assert not {name_of(r) for r in core} & TORCH_PACKAGES  # the core recognises faces on ONNX Runtime
    assert set(metadata.get_all("Provides-Extra")) == set(declared["optional-dependencies"])
    for extra, packages in EXTRAS.items():
        assert extra_names(metadata.get_all("Requires-Dist"), extra) == set(packages), extra
    assert metadata["License-Expression"] == "MIT"


def test_twine_accepts_the_metadata(wheel):
    pytest.importorskip("twine")
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "PASSED" in result.stdout, result.stdout + result.stderr


def test_the_installed_wheel_runs_the_demo_without_any_extra(wheel, tmp_path):
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                             "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    blocked = sorted({module for packages in EXTRAS.values() for module in packages.values()} | {"skimage"})
    code = textwrap.dedent(f"""
        import sys
        sys.path = [p for p in sys.path if p not in ("", {str(ROOT)!r})]
        sys.path.insert(0, {str(target)!r})
        sys.modules.update(dict.fromkeys({blocked!r}))  # as where no extra is installed
        import gclenet
        assert gclenet.__file__.startswith({str(target)!r}), gclenet.__file__
        from gclenet.cli.main import main
        sys.exit(main(["demo", "--out", "demo", "--json"]))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"label"' in result.stdout and (tmp_path / "demo" / "annotated" / "astronaut.jpg").is_file()


def registry_unreachable(python: Path, tmp_path: Path) -> str | None:
    """Why pip cannot fetch from its package index here, or ``None`` where it can."""
    result = subprocess.run([str(python), "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--quiet",
                             "--dest", str(tmp_path / "probe"), "tqdm"], capture_output=True, text=True, timeout=300)
    return None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["pip download failed"])[-1]


def test_a_fresh_venv_installs_the_wheel_without_torch_and_recognises_the_photo(wheel, tmp_path):
    """``pip install gclenet`` as a user runs it: the core's dependencies from the registry,
    none of them torch; ``gclenet predict photo.jpg --json`` and ``gclenet demo`` work there."""
    import json
    import os
    import time

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, gclenet = venv / "bin" / "python", venv / "bin" / "gclenet"
    reason = registry_unreachable(python, tmp_path)
    if reason:
        pytest.skip(f"the package registry is unreachable: {reason}")
    started = time.perf_counter()
    result = subprocess.run([str(python), "-m", "pip", "install", "--no-cache-dir", "--quiet", str(wheel)],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"fresh venv install of the core wheel: {time.perf_counter() - started:.1f} s")
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                            check=True, timeout=300)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "onnxruntime" in installed and "gclenet" in installed
    assert not installed & TORCH_PACKAGES, installed & TORCH_PACKAGES
    shutil.copy(ROOT / "gclenet" / "assets" / "astronaut.jpg", tmp_path / "photo.jpg")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1",
           "GCLENET_CACHE_DIR": str(tmp_path / "cache"), **({"LANG": os.environ["LANG"]} if "LANG" in os.environ else {})}
    for args in (["predict", "photo.jpg", "--json"], ["demo", "--out", "demo", "--json"]):
        result = subprocess.run([str(gclenet), *args], cwd=tmp_path, capture_output=True, text=True, env=env,
                                timeout=600)
        assert result.returncode == 0, (args, result.stderr[-3000:])
        ((face,),) = [record["faces"] for record in json.loads(result.stdout)]
        assert face["label"] == "happy", (args, face)
    assert (tmp_path / "demo" / "annotated" / "astronaut.jpg").is_file()


TORCH_PACKAGES = {"torch", "torchvision", "facenet-pytorch"}


def extra_names(requirements: list[str], extra: str) -> set[str]:
    """The distributions ``extra`` brings, an extra it includes (``gclenet[torch]``) expanded."""
    names: set[str] = set()
    for line in requirements:
        if f'extra == "{extra}"' not in line:
            continue
        included = re.match(r"gclenet\[([\w,-]+)\]", line)
        names |= set().union(*(extra_names(requirements, x) for x in included.group(1).split(","))) if included \
            else {name_of(line)}
    return names


def archive_entry_points(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        return archive.read(name).decode()


def name_of(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def requirements(lines) -> set[tuple[str, frozenset[str]]]:  # noqa: ANN001
    """Each requirement as (name, its version clauses), the order of the clauses aside."""
    from packaging.requirements import Requirement

    return {(Requirement(line).name.lower(), frozenset(map(str, Requirement(line).specifier))) for line in lines}
