"""The terminal data path against a raw pty, with the shared termbench.

    sudo .venv/bin/python bench/terminal.py --tests echo,throughput --repeat 3
    sudo .venv/bin/python bench/terminal.py --tests concurrency --clients 50

Starts its own `nslab serve` on a free port with a temporary state folder, runs
../shared/bench/termbench.py with `--target nslab:lab:... --target pty:pty --baseline pty`
(with --floor also bench/floor_relay.py, the least a Python relay can do, as `floor`)
and every other argument passed through, prints termbench's table, then stops the server
and removes the folder. Every session termbench opens joins as a new attendee with a lab
host of its own, so --capacity must cover them all (concurrency: clients + 1 per rep).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERMBENCH = ROOT.parent / "shared" / "bench" / "termbench.py"
sys.path.insert(0, str(ROOT))

from bench import floor_relay  # noqa: E402
from labsteps.config import Config  # noqa: E402
from labsteps.labhost import LabHosts  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(server: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"nslab serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except urllib.error.HTTPError as e:  # 503: this machine cannot run lab hosts
            raise RuntimeError(f"healthz answered {e.code}: {e.read().decode()[:300]}") from None
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nslab serve did not answer within {timeout:g} s")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM: gunicorn stops its worker, and the lab sweeps its lab hosts on the way out."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                epilog="Other arguments go to termbench (see its --help).")
    p.add_argument("--capacity", type=int, default=150, help="lab hosts the server allows")
    p.add_argument("--termbench", type=Path, default=TERMBENCH)
    p.add_argument("--json", type=Path, help="also keep termbench's JSON lines in this file")
    p.add_argument("--floor", action="store_true",
                   help="also measure bench/floor_relay.py, the least a Python relay can do")
    args, rest = p.parse_known_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the server creates lab hosts")
    if not args.termbench.is_file():
        sys.exit(f"no termbench at {args.termbench} (give --termbench)")
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="nslab-termbench-"))
    log_path = work / "serve.log"
    env = {**os.environ, "NSLAB_HOST": "127.0.0.1", "NSLAB_PORT": str(port),
           "NSLAB_STATE_DIR": str(work / "state"), "NSLAB_CAPACITY": str(args.capacity),
           "NSLAB_TRAINER_TOKEN": os.urandom(16).hex(), "NSLAB_WORKSHOP_CODE": ""}
    server = None
    try:
        with open(log_path, "wb") as log:
            # `python -m web.cli` rather than the nslab script: a `pkill -f "nslab serve"`
            # meant for someone else's server does not end this one mid-run.
            server = subprocess.Popen([sys.executable, "-m", "web.cli", "serve"], cwd=ROOT,
                                      env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        wait_healthy(server, port)
        floor = []
        if args.floor:
            floor_port = free_port()
            floor_relay.start(floor_port)
            floor = ["--target", f"floor:lab:ws://127.0.0.1:{floor_port}/ws/terminal/1"]
        out = open(args.json, "w") if args.json else subprocess.DEVNULL
        try:
            # termbench writes JSON lines to stdout and the table to stderr; the table is
            # what this prints.
            return subprocess.run(
                [sys.executable, str(args.termbench),
                 "--target", f"nslab:lab:ws://127.0.0.1:{port}/ws/terminal/1",
                 *floor, "--target", "pty:pty", "--baseline", "pty", *rest],
                stdout=out, stderr=sys.stdout).returncode
        finally:
            if args.json:
                out.close()
    except (RuntimeError, KeyboardInterrupt) as e:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        print(f"{e or 'interrupted'}\n--- serve log ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            stop(server)
        # Should the server have died hard, its lab hosts' records are still here: without
        # them nothing would ever find those lab hosts again.
        LabHosts(Config.from_env(state_dir=work / "state")).sweep()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
