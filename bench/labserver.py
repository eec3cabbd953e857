"""A lab server of a bench's own: started on a free port with a fresh state folder, and gone
afterwards with everything it made."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labsteps.config import Config  # noqa: E402
from labsteps.labhost import LabHosts  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def lab_server(token: str, **env: str) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """(base URL, state folder, server process) of a running `nslab serve`."""
    work = Path(tempfile.mkdtemp(prefix="nslab-bench-"))
    state = work / "state"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env={**os.environ, "NSLAB_STATE_DIR": str(state),
                                        "NSLAB_PORT": str(port), "NSLAB_TRAINER_TOKEN": token,
                                        "NSLAB_WORKSHOP_CODE": "", **env})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base, state, server
    finally:
        server.send_signal(signal.SIGTERM)  # the lab sweeps its lab hosts on the way out
        server.wait(30)
        LabHosts(Config.from_env(state_dir=state)).sweep()  # should it have died hard
        shutil.rmtree(work, ignore_errors=True)
