"""50 sequential API requests to a real `gclenet serve` process: no error, bounded memory growth."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_web.py"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fifty_sequential_requests_succeed_without_memory_growth(random_weights, tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, str(BENCH), "--weights", str(random_weights), "--detector", "none",
                          "--requests", "50", "--json", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["errors"] == [] and len(result["labels"]) == 1  # same image, same answer every time
    assert set(result["rss_mb_after_request"]) == {"1", "10", "20", "30", "40", "50"}
    assert result["growth_mb"] < 200, result["rss_mb_after_request"]
