"""The docs stay a true map: every module of the package is named in docs/ARCHITECTURE.md,
the README stays the short page a newcomer reads first, and no page or module cites an
issue tracker number that a reader of the repository cannot look up.

The README's five lines of recognition run here; the code blocks of ARCHITECTURE.md run in
``tests/models/test_new_variant.py`` and ``tests/training/test_new_dataset.py``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gclenet"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
README = ROOT / "README.md"
SET_UP = "python3 -m venv .venv && .venv/bin/pip install "  # the core (no torch) for the main job; torch first for the tests


def module_names() -> list[str]:
    """Each module as ARCHITECTURE.md names it: its path below ``gclenet/``; a package's
    ``__init__.py`` as its folder (``inference/``), the top level's as ``__init__.py``."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if "__pycache__" in relative.parts:
            continue
        if relative.name == "__init__.py" and relative.parent != Path("."):
            names.append(f"{relative.parent.as_posix()}/")
        else:
            names.append(relative.as_posix())
    return names


def test_every_module_is_named_in_the_architecture_map():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`(?:gclenet/)?([\w/]+(?:\.py|/))`", text))
    missing = [name for name in module_names() if name not in named]
    assert not missing, f"modules missing from {ARCHITECTURE.name} (add a row to 'Every module'): {missing}"


def test_the_architecture_map_names_no_module_that_is_gone():
    text = ARCHITECTURE.read_text()
    section = text.split("## Every module", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w/]+(?:\.py|/))` \|", section, re.M)
    assert rows, "no module rows found"
    gone = [row for row in rows if row not in module_names()]
    assert not gone, f"{ARCHITECTURE.name} names modules that do not exist: {gone}"


def test_the_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text()
    assert len(text.encode()) < 10_000, f"README.md is {len(text.encode())} bytes; details belong in docs/"
    commands = [line for line in text.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2 and all(line.startswith(SET_UP) for line in commands)
    main_job, tests = commands
    assert "torch" not in main_job and main_job.endswith("gclenet demo")  # the core install runs the demo
    assert "torch==2.14.1 torchvision==0.29.1" in tests and '".[test]"' in tests
    first_block = text.index("```bash")
    assert text.index(commands[0]) < text.index("```", first_block + 3)  # the first code block is the set-up


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_links_between_pages_resolve():
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text()):
            if "://" in target:
                continue
            linked = page.parent / target if target else page
            assert linked.exists(), f"{page.name}: broken link {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in anchors(linked), f"{page.name}: no heading for #{anchor} in {linked.name}"


def test_the_readme_recognition_runs_as_written(tmp_path, monkeypatch, capsys):
    """The five lines of "Recognition in five lines", on the shipped photo as ``photo.jpg``."""
    import shutil

    code = re.search(r"## Recognition in five lines\n+```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 5
    shutil.copy(PACKAGE / "assets" / "astronaut.jpg", tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{README} (Recognition in five lines)", "exec"), {})
    assert "happy" in capsys.readouterr().out


def test_no_issue_tracker_numbers_in_code_or_docs():
    pending: set[Path] = set()
    places = [README, *(ROOT / "docs").glob("*.md"), *PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"),
              *(ROOT / "tests").rglob("*.py"), *(ROOT / "configs").rglob("*.yaml")]
    pattern = re.compile(r"\b(?:issues? #?\d|the issue\b)", re.I)
    found = [f"{path.relative_to(ROOT)}:{number}" for path in places if path not in pending
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line) and path != Path(__file__).resolve()]
    assert not found, f"tracker numbers a reader cannot look up (say what they refer to): {found}"
