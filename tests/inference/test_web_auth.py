"""`gclenet serve` beyond localhost: a login (Gradio's own) is required, or the server is refused."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gclenet.cli.predict import credentials, is_loopback, read_auth_file, serve_logins


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_args(**changes) -> argparse.Namespace:
    return argparse.Namespace(**{"host": "127.0.0.1", "auth": None, "auth_file": None, "insecure_no_auth": False,
                                 **changes})


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.20", False), ("myhost.example", False)])
def test_which_hosts_are_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_logins_from_the_command_line_and_a_file(tmp_path):
    assert credentials("ann:pass:with:colons") == ("ann", "pass:with:colons")
    for bad in ["ann", ":secret", "ann:", ""]:
        with pytest.raises(argparse.ArgumentTypeError, match="USER:PASSWORD"):
            credentials(bad)
    logins = tmp_path / "logins"
    logins.write_text("# who may use the demo\nann:secret\n\n  bob:other one\n")
    assert read_auth_file(logins) == [("ann", "secret"), ("bob", "other one")]
    logins.write_text("ann:secret\nnot a login\n")
    with pytest.raises(ValueError, match=r"logins, line 2: not USER:PASSWORD"):
        read_auth_file(logins)
    logins.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no USER:PASSWORD line"):
        read_auth_file(logins)
    with pytest.raises(ValueError, match="missing: cannot be read"):
        read_auth_file(tmp_path / "missing")


def test_a_non_loopback_host_needs_a_login_or_an_explicit_opt_out(tmp_path):
    assert serve_logins(serve_args()) is None  # localhost stays open, as before
    with pytest.raises(ValueError, match="--host 0.0.0.0 would let anyone on the network use the server"):
        serve_logins(serve_args(host="0.0.0.0"))
    assert serve_logins(serve_args(host="0.0.0.0", insecure_no_auth=True)) is None
    (tmp_path / "logins").write_text("bob:b\n")
    assert serve_logins(serve_args(host="0.0.0.0", auth=[("ann", "a")], auth_file=str(tmp_path / "logins"))) == [
        ("ann", "a"), ("bob", "b")]


def test_serve_on_a_non_loopback_host_without_a_login_is_refused_before_starting():
    port = free_port()
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "gclenet", "serve", "--host", "0.0.0.0", "--port", str(port)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("gclenet serve: error: --host 0.0.0.0 would let anyone") and "--auth" in line, line
    assert time.perf_counter() - start < 60  # refused before the model (or Gradio) is loaded
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens


@pytest.mark.slow
def test_with_a_login_the_api_refuses_requests_without_it(random_weights, tmp_path):
    pytest.importorskip("gradio")
    httpx = pytest.importorskip("httpx")
    from gradio_client import Client, handle_file

    logins = tmp_path / "logins"
    logins.write_text("ann:correct horse\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "gclenet", "serve", "--weights", str(random_weights),
                               "--detector", "none", "--port", str(port), "--auth-file", str(logins)],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.time() + 300
        while server.poll() is None and time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        face = tmp_path / "face.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(face)

        # Without the login: the API's description, uploads and predictions are all refused.
        assert httpx.get(f"{url}gradio_api/info").status_code == 401
        with open(face, "rb") as handle:
            assert httpx.post(f"{url}gradio_api/upload", files={"files": ("face.png", handle)}).status_code == 401
        assert httpx.post(f"{url}gradio_api/call/predict", json={"data": [None]}).status_code == 401
        with pytest.raises(Exception):
            Client(url, verbose=False).predict(handle_file(str(face)), api_name="/predict")
        with pytest.raises(Exception):
            Client(url, verbose=False, auth=("ann", "wrong")).predict(handle_file(str(face)), api_name="/predict")

        # With it: served as on localhost.
        details = Client(url, verbose=False, auth=("ann", "correct horse")).predict(
            handle_file(str(face)), api_name="/predict")[2]
        assert details["faces"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
