"""`gclenet --version`: what a bug report needs."""

import pytest

from gclenet import __version__
from gclenet.cli.main import main


def test_version_names_gclenet_and_the_libraries_it_runs_on(capsys):
    import subprocess
    import sys

    import torch

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    line, backend = capsys.readouterr().out.strip().split("\n")
    assert backend.startswith("classifier backend")  # from the cache of earlier measurements, or how to measure
    assert line.startswith(f"gclenet {__version__} (Python ") and f"torch {torch.__version__.split('+')[0]}" in line
    # neither asking for it nor building the parser imports torch (~2 s on every start and --help)
    code = "import sys; from gclenet.cli.main import main\ntry: main(['--version'])\nexcept SystemExit: pass\n" \
           "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
