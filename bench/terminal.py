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
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERMBENCH = ROOT.parent / "shared" / "bench" / "termbench.py"
sys.path.insert(0, str(ROOT))

from bench import floor_relay  # noqa: E402
from bench.labserver import free_port, lab_server  # noqa: E402


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
    try:
        with lab_server(os.urandom(16).hex(), NSLAB_CAPACITY=str(args.capacity)) as (base, _, _):
            floor = []
            if args.floor:
                floor_port = free_port()
                floor_relay.start(floor_port)
                floor = ["--target", f"floor:lab:ws://127.0.0.1:{floor_port}/ws/terminal/1"]
            out = open(args.json, "w") if args.json else subprocess.DEVNULL
            try:
                # termbench writes JSON lines to stdout and the table to stderr; the table is
                # what this prints.
                url = base.replace("http://", "ws://") + "/ws/terminal/1"
                return subprocess.run(
                    [sys.executable, str(args.termbench), "--target", f"nslab:lab:{url}",
                     *floor, "--target", "pty:pty", "--baseline", "pty", *rest],
                    stdout=out, stderr=sys.stdout).returncode
            finally:
                if args.json:
                    out.close()
    except (RuntimeError, KeyboardInterrupt) as e:
        print(e or "interrupted", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
