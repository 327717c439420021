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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eight_clients_with_bad_uploads_mixed_in(random_weights, tmp_path):
    """The soak of docs/BENCHMARKS.md, small: photos and their variants from 8 clients at once, with
    corrupt, non-image and oversized uploads among them."""
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, str(BENCH), "--weights", str(random_weights), "--detector", "none",
                          "--clients", "8", "--requests", "80", "--mix", "--rss-tolerance", "0.5", "--json", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["errors"] == [] and result["valid_requests"] == 72 and result["no_face"] == 0
    assert {kind: counts["expected"] for kind, counts in result["bad_uploads"].items()} == {
        "corrupt": 3, "not_an_image": 3, "oversized": 2}
    assert "not a readable image" in result["bad_upload_answers"]["corrupt"]
    assert "HTTP 413" in result["bad_upload_answers"]["oversized"]
    assert result["server_log_protocol_errors"] == 0 and result["server_log_tracebacks"] == 0
