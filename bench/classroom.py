"""A class on one box: N attendees join at once and run the whole talk over HTTP while one
more attendee types a key every 50 ms and waits for its echo.

    sudo .venv/bin/python bench/classroom.py --attendees 10 40 100

Per class size, one server of the bench's own: everyone joins at the same moment, then each
presses Run on every block of the talk chapter and Check on every step (as the step page
does; tasks are left to the attendee, so their checks are not counted). Prints the table of
issue 15: join p50/max, the whole talk per attendee, failed checks, the typist's echo
p50/p99/p99.9/max, and how long a new group takes with what it left behind; then how long
after joining each lab host was ready (the page joins without waiting for it, so its talk
shows at once and its terminals wait), and CPU and memory per attendee for the sizing.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.labserver import lab_server  # noqa: E402
from labsteps.config import Config  # noqa: E402
from labsteps.sandbox.labhost import LabHosts  # noqa: E402
from tests.apiclient import Api  # noqa: E402
from tests.wsclient import Term  # noqa: E402

TOKEN = "bench-classroom"
KEY_EVERY = 0.05


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def cpu_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def tree_rss(pid: int) -> int:
    """Resident bytes of pid and its descendants (the server's worker and start-up process;
    lab hosts are counted in their own cgroups)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children if not _in_lab_host(int(c))]
    return total


def _in_lab_host(pid: int) -> bool:
    try:
        return "/nslab/" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return True


def attendee(base: str, name: str, out: dict, start: threading.Event) -> None:
    start.wait()
    t = time.monotonic()
    api = Api.joined(base, name, wait=False)  # as the page joins: the talk shows at once
    out["join"] = time.monotonic() - t
    while api.get("/api/me")[1]["sandbox"]["state"] == "starting":
        time.sleep(0.05)
    out["ready"] = time.monotonic() - t  # ...and its terminals have a lab host
    t = time.monotonic()
    failed = []
    status, steps = api.get("/api/steps")
    for s in steps:
        status, detail = api.get(f"/api/steps/{s['id']}")
        if detail.get("chapter") != "talk":
            continue
        for block in detail["blocks"]:
            if block["runnable"]:
                status, body = api.post(f"/api/steps/{s['id']}/run", {"block": block["index"]})
                if status != 200:
                    failed.append(f"{s['id']} run {block['index']}: {body.get('error')}")
        status, result = api.post(f"/api/steps/{s['id']}/check")
        task_checks = {b.get("check") for b in detail["blocks"] if b["kind"] == "task"}
        for c in result.get("checks", []):
            if not c["passed"] and c["name"] not in task_checks:
                failed.append(f"{s['id']} {c['name']}")
    out["talk"] = time.monotonic() - t
    out["failed"] = failed


def typist(base: str) -> None:
    """One more attendee, in a process of its own as in a browser of its own: types a key
    every KEY_EVERY s from "go" on stdin until stdin closes, then prints the echo times."""
    api = Api.joined(base, "typist")
    term = Term(base, api.cookie)
    term.event("hello")
    term.run("true")
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    echoes, typed = [], 0
    while not select.select([sys.stdin], [], [], 0)[0]:  # stdin closed: the class is done
        before = term.received
        t = time.perf_counter()
        term.send("x")
        while term.received == before:
            if not term.pump(10):
                break
        echoes.append((time.perf_counter() - t) * 1000)
        typed += 1
        if typed % 40 == 0:
            term.send("\x15")  # Ctrl-U: a fresh line
            term.pump(1)
        time.sleep(KEY_EVERY)
    term.close()
    print(json.dumps(echoes), flush=True)


def one_class(n: int) -> dict:
    with lab_server(TOKEN, NSLAB_CAPACITY=str(n + 5)) as (base, state, _server):
        idle_rss = tree_rss(_server.pid)
        start = threading.Event()
        # The typist is a process of its own: measured beside the class's 100 client
        # threads it would time this bench's own lock as much as the lab's echo.
        typing = subprocess.Popen([sys.executable, __file__, "--typist", base],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert typing.stdout.readline().strip() == "ready"
        typing.stdin.write("go\n")
        typing.stdin.flush()
        results = [dict() for _ in range(n)]
        class_threads = [threading.Thread(target=attendee, args=(base, f"a{i}", results[i], start))
                         for i in range(n)]
        for t in class_threads:
            t.start()
        busy = cpu_busy()
        start.set()
        for t in class_threads:
            t.join()
        cpu = cpu_busy() - busy
        hosts = LabHosts(Config.from_env(state_dir=state))
        labs = [hosts.memory(h) for h in hosts.list()]
        server_rss = tree_rss(_server.pid)
        typing.stdin.close()
        echoes = json.loads(typing.stdout.readline())
        typing.wait()
        t = time.monotonic()
        r = urllib.request.Request(base + "/api/trainer/reset", method="POST",
                                   data=json.dumps({"all": True}).encode(),
                                   headers={"Authorization": f"Bearer {TOKEN}",
                                            "Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=600):
            pass
        new_group = time.monotonic() - t
        left = LabHosts(Config.from_env(state_dir=state)).list()
    joins = [r["join"] for r in results if "join" in r]
    ready = [r["ready"] for r in results if "ready" in r]
    return {"n": n, "join_p50": statistics.median(joins), "join_max": max(joins),
            "ready_p50": statistics.median(ready), "ready_max": max(ready),
            "talk_p50": statistics.median(r["talk"] for r in results if "talk" in r),
            "failed": sum(len(r.get("failed", [])) for r in results),
            "failures": [f for r in results for f in r.get("failed", [])][:5],
            "echo": echoes, "new_group": new_group, "left": len(left),
            "cpu_per_attendee": cpu / n, "lab_mib": statistics.mean(labs) / 2**20,
            "server_mib": (server_rss - idle_rss) / n / 2**20, "server_idle_mib": idle_rss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attendees", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--typist", metavar="BASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.typist:
        return typist(args.typist)
    rows = []
    for n in args.attendees:
        print(f"class of {n} ...", file=sys.stderr, flush=True)
        rows.append(one_class(n))
    print("| class | join p50 / max | whole talk per attendee, p50 | failed checks "
          "| typist's echo p50 / p99 / p99.9 / max | new group |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        e = r["echo"]
        print(f"| {r['n']} | {r['join_p50']:.2f} / {r['join_max']:.2f} s | {r['talk_p50']:.1f} s "
              f"| {r['failed']} | {pct(e, .5):.1f} / {pct(e, .99):.1f} / {pct(e, .999):.1f} / "
              f"{max(e) if e else float('nan'):.0f} ms | {r['new_group']:.2f} s, "
              f"{r['left']} lab hosts left |")
        for f in r["failures"]:
            print(f"  failed: {f}")
    print()
    print("| class | lab host ready after joining, p50 / max |")
    print("| --- | --- |")
    for r in rows:
        print(f"| {r['n']} | {r['ready_p50']:.2f} / {r['ready_max']:.2f} s |")
    print()
    print("| class | CPU per attendee, whole talk | lab host memory after the talk, mean "
          "| server memory per attendee (idle server) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['n']} | {r['cpu_per_attendee']:.2f} core-s | {r['lab_mib']:.1f} MiB "
              f"| {r['server_mib']:.2f} MiB ({r['server_idle_mib']:.0f} MiB) |")
    print("goals (issue 15, 100 attendees): echo p99 <= 20 ms, p99.9 <= 50 ms, join p50 <= 1 s, "
          "no failed check, new group <= 2 s with nothing left")


if __name__ == "__main__":
    main()
