"""Two gclenet processes on a new machine at once: both measure the engines and write the one
cache file. Each gets its own answer, the file stays whole JSON, and neither loses the other's entry."""

import json
import subprocess
import sys
import textwrap

MEASURING = textwrap.dedent("""
    import sys, time
    from gclenet.inference import autoselect
    from gclenet.inference.autoselect import select_backends

    autoselect._busy = lambda: False  # figures taken on a busy machine are re-measured: not what this tests

    cache, model, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def slow_measure(runners, make_batch, batch):
        time.sleep(seconds)  # the timing runs overlap with the other process's
        return {"torch-fp32": 10.0, "onnx-int8": 100.0 if model == "a" else 1.0}

    chosen = select_backends(model, [1, 32], ["torch-fp32", "onnx-int8"], {}, lambda: {"torch-fp32": None,
                             "onnx-int8": None}, lambda name, batch: None, cache=__import__("pathlib").Path(cache),
                             machine="shared machine", measure_fn=slow_measure)
    print(chosen[32].backend, chosen[32].source)
""")


def _start(cache, model, seconds):
    return subprocess.Popen([sys.executable, "-c", MEASURING, str(cache), model, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_measure_at_once(tmp_path):
    cache = tmp_path / "backends.json"
    first, second = _start(cache, "a", 0.5), _start(cache, "b", 1.5)  # both read an empty cache
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [err[-1000:] for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["onnx-int8 measured", "torch-fp32 measured"]
    data = json.loads(cache.read_text())  # whole: the writes are atomic renames
    assert sorted(data) == [f"shared machine | model {m} | batch {b}" for m in "ab" for b in (1, 32)]
    assert not [p for p in tmp_path.iterdir() if p != cache]  # no temporary file left behind
    again = _start(cache, "a", 0)
    assert again.communicate(timeout=120)[0].strip() == "onnx-int8 cache"
