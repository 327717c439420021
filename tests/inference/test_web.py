"""The web demo's HTTP API (Gradio), driven by gradio_client against a loopback server."""

import socket

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
client_module = pytest.importorskip("gradio_client")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(random_weights, tmp_path_factory):
    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.web import build_app

    app = build_app(Recognizer(random_weights, detector="none", precision="fp32"))
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size="200kb")
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_api_good_corrupt_oversized_then_good_again(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    face = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(face)
    annotated, probs, details, status = client.predict(handle_file(str(face)), api_name="/predict")
    assert details["faces"] and status.startswith("1 face(s)")
    assert probs["label"] == details["faces"][0]["label"]
    assert set(details["faces"][0]) == {"box", "score", "label", "probs", "landmarks"}  # the one face record

    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(handle_file(str(corrupt)), api_name="/predict")

    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (600, 600, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 200_000
    with pytest.raises(Exception):
        client.predict(handle_file(str(big)), api_name="/predict")

    again = client.predict(handle_file(str(face)), api_name="/predict")
    assert again[2]["faces"]  # still serving


def test_uploads_reach_our_guarded_decoder_as_they_are(random_weights, tmp_path):
    from gradio.data_classes import ImageData

    from gclenet.inference.recognizer import Recognizer
    from gclenet.inference.web import build_app

    app = build_app(Recognizer(random_weights, detector="none", precision="fp32"))
    (upload,) = [b for b in app.blocks.values() if isinstance(b, gr.Image) and b.label == "photo"]
    gray = tmp_path / "gray.png"
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(gray)
    # Not converted to RGB and re-saved by Gradio (which it does unguarded): the same file comes through.
    assert upload.preprocess(ImageData(path=str(gray), orig_name="gray.png")) == str(gray)


def test_serve_refuses_a_port_that_cannot_exist(capsys):
    from gclenet.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "70000"])
    assert exit_info.value.code == 2 and "70000 is not a TCP port" in capsys.readouterr().err


@pytest.mark.slow
def test_a_corrupt_upload_leaves_one_line_in_the_server_log(random_weights, tmp_path):
    """`gclenet serve` as a user runs it: the log says what was rejected, once, without a traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from gradio_client import Client, handle_file

    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "gclenet", "serve", "--weights", str(random_weights),
                               "--detector", "none", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.time() + 300
        while server.poll() is None and time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        corrupt = tmp_path / "corrupt.jpg"
        corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with pytest.raises(Exception, match="not a readable image"):
            client.predict(handle_file(str(corrupt)), api_name="/predict")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text, text
    (line,) = [line for line in text.splitlines() if "corrupt.jpg" in line]
    assert "rejected upload corrupt.jpg" in line and "not a readable image" in line


def test_identical_requests_get_a_picture_file_each(server, tmp_path):
    """Gradio names a returned array's file by its pixels and rewrites it in place: concurrent
    requests with the same answer shared one file, rewritten while another response streamed it."""
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False, download_files=False)  # the server's own paths
    face = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(face)
    first, second = (client.predict(handle_file(str(face)), api_name="/predict")[0] for _ in range(2))
    assert first["path"] != second["path"]
    assert first["path"].endswith(".webp") and second["path"].endswith(".webp")


def test_eight_concurrent_clients_get_whole_pictures(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    face = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(face)

    def client_run(i: int) -> list[tuple[int, int]]:
        client = Client(server, verbose=False, download_files=str(tmp_path / str(i)))
        sizes = []
        for _ in range(5):
            annotated = client.predict(handle_file(str(face)), api_name="/predict")[0]
            with Image.open(annotated) as picture:  # a download cut short would not decode
                picture.load()
                sizes.append(picture.size)
        return sizes

    with ThreadPoolExecutor(8) as pool:
        results = [size for sizes in pool.map(client_run, range(8)) for size in sizes]
    assert results == [(64, 64)] * 40
