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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labsteps.config import Config  # noqa: E402
from labsteps.sandbox.labhost import LabHosts  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def lab_server(token: str, source: Path = ROOT, **env: str
               ) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """(base URL, state folder, server process) of a running `nslab serve`.

    The server runs the code in `source` (this checkout, or another revision's work tree:
    started from there, that folder's packages come first on its path), with env added to
    its environment. RuntimeError, with the end of the server's log, when it does not come
    up."""
    work = Path(tempfile.mkdtemp(prefix="nslab-bench-"))
    state, log_path = work / "state", work / "serve.log"
    port = free_port()
    with open(log_path, "wb") as log:
        # `python -m web.cli` rather than the nslab script: a `pkill -f "nslab serve"`
        # meant for someone else's server does not end this one mid-run.
        server = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve"], cwd=source, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "NSLAB_HOST": "127.0.0.1", "NSLAB_STATE_DIR": str(state),
                 "NSLAB_PORT": str(port), "NSLAB_TRAINER_TOKEN": token,
                 "NSLAB_WORKSHOP_CODE": "", **env})
    base = f"http://127.0.0.1:{port}"
    # A bench ended by SIGTERM (timeout(1), a Ctrl-C's cousin) still stops its server and
    # sweeps its lab hosts: the server runs in a session of its own and would outlive it.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        try:
            _wait_healthy(server, base)
        except RuntimeError as e:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{e}\n--- serve log ---\n{tail}") from None
        yield base, state, server
    finally:
        server.send_signal(signal.SIGTERM)  # the lab sweeps its lab hosts on the way out
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        try:  # should it have died hard
            LabHosts(Config.from_env(state_dir=state)).sweep()
        except Exception as e:  # another revision's records, say: tell, and clean up the rest
            print(f"sweep of {state} after the server: {e!r}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _wait_healthy(server: subprocess.Popen, base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"nslab serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return
        except urllib.error.HTTPError as e:  # 503: this machine cannot run lab hosts
            raise RuntimeError(f"healthz answered {e.code}: {e.read().decode()[:300]}") from None
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nslab serve did not answer within {timeout:g} s")
