"""One attendee's bombs against another attendee's typing: echo latency per phase.

    sudo .venv/bin/python bench/containment.py [--keys 200]

Phases: quiet; a fork bomb in the other lab host; a memory bomb (tail /dev/zero, killed by
that lab host's own OOM killer, in a loop); /tmp being filled with dd, in a loop. Prints
the typing attendee's echo p50/p99/max per phase.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.labserver import lab_server  # noqa: E402
from labsteps.config import Config  # noqa: E402
from labsteps.sandbox.labhost import LabHosts  # noqa: E402
from tests.apiclient import Api  # noqa: E402
from tests.wsclient import Term  # noqa: E402

PHASES = {
    "quiet": None,
    "fork bomb": "bomb() { bomb | bomb & }; (bomb) >/dev/null 2>&1 &",
    "memory bomb": "(while :; do tail /dev/zero; done) >/dev/null 2>&1 &",
    "/tmp filler": "(while :; do dd if=/dev/zero of=/tmp/x bs=1M count=400; rm -f /tmp/x; "
                   "done) >/dev/null 2>&1 &",
}


def echo_latencies(term: Term, keys: int) -> list[float]:
    lat = []
    for i in range(keys):
        ch = "abcdefghijklmnopqrstuvwxyz"[i % 26]
        term.out.clear()
        t0 = time.perf_counter()
        term.send(ch)
        term.until(ch, timeout=10)
        lat.append(time.perf_counter() - t0)
        if i % 50 == 49:
            term.send(b"\x15")  # Ctrl-U: keep the line short
            time.sleep(0.05)
    term.send(b"\x15")
    return lat


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=200)
    args = p.parse_args()
    with lab_server("x") as (base, state, _server):
        Api.joined(base, "Mallory")
        anna = Api.joined(base, "Anna")
        term = Term(base, anna.cookie)
        term.until("root@lab-")
        hosts = LabHosts(Config.from_env(state_dir=state))
        print(f"{'phase':<14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for phase, script in PHASES.items():
            if script:
                hosts.create("a1", hostname="lab-mallory")  # fresh culprit for each phase
                hosts.run("a1", script)
                time.sleep(2)
            lat = sorted(echo_latencies(term, args.keys))
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(f"{phase:<14} {statistics.median(lat) * 1000:8.2f} {p99 * 1000:8.2f} "
                  f"{lat[-1] * 1000:8.2f}", flush=True)
        term.close()


if __name__ == "__main__":
    main()
