"""Soak: many groups in a row on one server, looking for anything that is not given back.

    sudo .venv/bin/python bench/soak.py [--cycles 100] [--attendees 1]

Each cycle: attendees join, run the whole talk (catch-up to the last step, which runs
every block of every step in their terminals), open a terminal, and the trainer starts
a new group. After each cycle it counts what is left on the machine (lab host processes,
cgroups, mounts, interfaces, record files) and samples the server worker's memory, open
files and threads. Prints a line every 10 cycles and a verdict (exit 1 if LEAKING): leaks
must be zero, and memory must stay flat (last tenth against the second tenth, after warm-up).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.labserver import lab_server  # noqa: E402
from tests.apiclient import Api  # noqa: E402
from tests.wsclient import Term  # noqa: E402

TOKEN = "soak-trainer-token"


def worker(master: int) -> int:
    return int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])


def sample(pid: int) -> dict:
    # A websocket the cycle just closed may still be ending in its server thread: wait
    # until the count of open files stops falling (2 s at most) so it is not taken for a leak.
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(20):
        time.sleep(0.1)
        now = len(os.listdir(f"/proc/{pid}/fd"))
        if now >= fds:
            break
        fds = now
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
            "fds": fds, "threads": int(fields["Threads"])}


def leftovers(state: Path, used: list[dict]) -> list[str]:
    """What is left of the lab hosts this server had (slots and uid ranges in used)."""
    left = []
    for host in used:
        left += [f"cgroup {d}" for d in Path("/sys/fs/cgroup").glob(f"*/nslab/s{host['slot']}")]
        left += [f"cgroup {d}" for d in Path("/sys/fs/cgroup").glob(f"nslab/s{host['slot']}")]
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
            uid = int(next(x for x in lines if x.startswith("Uid:")).split()[1])
            state_ = next(x for x in lines if x.startswith("State:")).split()[1]
        except (OSError, StopIteration):
            continue
        if state_ != "Z" and any(h["uid"] <= uid < h["uid"] + 65536 for h in used):
            left.append(f"process {status.parent.name}")
    mounts = Path("/proc/self/mountinfo").read_text()
    left += [f"mount {x}" for x in mounts.splitlines() if "/lab/" in x or "nslab" in x]
    left += [f"interface {n}" for n in ("hostende", "containerende")
             if Path("/sys/class/net", n).exists()]
    left += [f"record {p.name}" for p in (state / "labhosts").glob("*.json")]
    return left


def trainer(base: str, method: str, path: str, body: dict | None = None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as res:
        return json.load(res)


def cycle(base: str, n: int, attendees: int, state: Path) -> list[dict]:
    """One group; returns the lab hosts it had (slot, uid), read before the reset."""
    for i in range(attendees):
        api = Api.joined(base, f"Soak {n}-{i}")
        status, result = api.post("/api/steps/conclusion/solve")
        assert status == 200 and result["passed"], result
        term = Term(base, api.cookie)
        term.until("root@lab-")
        term.close()
    used = [json.loads(p.read_text()) for p in (state / "labhosts").glob("*.json")]
    trainer(base, "POST", "/api/trainer/reset", {"all": True})
    return used


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--attendees", type=int, default=1)
    args = p.parse_args()
    with lab_server(TOKEN) as (base, state, server):
        samples, leaks, started = [], 0, time.monotonic()
        for n in range(1, args.cycles + 1):
            used = cycle(base, n, args.attendees, state)
            left = leftovers(state, used)
            leaks += len(left)
            if left:
                print(f"cycle {n}: LEFT {left[:5]}", flush=True)
            samples.append(sample(worker(server.pid)))
            if n % 10 == 0 or n == args.cycles:
                s = samples[-1]
                print(f"cycle {n:>4}  {time.monotonic() - started:6.0f} s  rss {s['rss_mib']:6.1f} "
                      f"MiB  fds {s['fds']:>4}  threads {s['threads']:>3}  leaks {leaks}",
                      flush=True)
        tenth = max(1, len(samples) // 10)
        early = samples[tenth:2 * tenth] or samples[:1]
        late = samples[-tenth:]
        grow = (sum(s["rss_mib"] for s in late) / len(late)
                - sum(s["rss_mib"] for s in early) / len(early))
        fds = late[-1]["fds"] - early[0]["fds"]
        print(f"\n{args.cycles} cycles of {args.attendees} attendee(s): leaks {leaks}, "
              f"server memory {early[0]['rss_mib']:.1f} -> {late[-1]['rss_mib']:.1f} MiB "
              f"({grow:+.1f} MiB from the second tenth to the last), fds {fds:+d}, threads "
              f"{early[0]['threads']} -> {late[-1]['threads']}")
        ok = leaks == 0 and grow < 10 and fds <= 2
        print("verdict:", "OK" if ok else "LEAKING")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
