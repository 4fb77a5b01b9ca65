import socket
import threading
import time
from contextlib import contextmanager

import pytest

from autoglm_core.testing import trained_tiny_classifier


@pytest.fixture(scope="session")
def serve_model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve") / "model"
    trained_tiny_classifier().save(d)
    return d


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app, timeout: float = 30.0):
    """Run ``app`` with uvicorn on a free loopback port in a thread; stop it afterwards."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture
def serve_server():
    return running_server


@pytest.fixture
def serve_free_port():
    return free_port
