"""A real `mlflow server` for tests of the server path (`--tracking-uri http://...`),
as a cluster's shared tracking server would be run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mlflow_server(folder: Path, backend_store_uri: str | None = None, timeout: float = 90.0):
    """Serve `backend_store_uri` (a SQLite file in `folder` by default), artifacts
    proxied by the server; yields the tracking URI. The server's log is in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend_store_uri or f"sqlite:///{(folder / 'server.db').resolve()}"
    log = open(folder / "server.log", "w")
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend, "--artifacts-destination", (folder / "artifacts").resolve().as_uri(),
    ]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.25)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
