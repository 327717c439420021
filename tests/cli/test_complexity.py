import json
import subprocess
import sys

import pytest

from gclenet.cli.main import main


def test_complexity_json(capsys):
    assert main(["complexity", "--json", "--input-size", "64"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["input_size"] == 64
    rows = {r["name"]: r for r in report["variants"]}
    assert list(rows) == ["resnet34", "gclenet_lfa", "gclenet_mgc", "gclenet"]
    assert rows["resnet34"]["params"] == rows["resnet34"]["params_deploy"] == 21_288_263
    assert rows["gclenet_lfa"]["params_deploy"] - 21_288_263 == 295_424
    assert rows["gclenet_mgc"]["attention_macs"] > 0 and rows["gclenet_lfa"]["attention_macs"] == 0
    base = rows["resnet34"]["macs_deploy"]
    # The fused LFA is 8 3x3 convs over 64 channels on quadrants of the 16x16 stem map.
    assert rows["gclenet_lfa"]["macs_deploy"] - base == 8 * 8 * 8 * 64 * 64 * 9
    assert rows["gclenet"]["macs_deploy"] > rows["gclenet_mgc"]["macs_deploy"] > base


@pytest.mark.slow
def test_table_output_and_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "gclenet", "complexity", "--input-size", "32"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "gclenet_lfa" in out and "21.58 M" in out


def test_unknown_subcommand_fails():
    result = subprocess.run([sys.executable, "-m", "gclenet", "frobnicate"], capture_output=True, text=True)
    assert result.returncode != 0 and "invalid choice" in result.stderr
