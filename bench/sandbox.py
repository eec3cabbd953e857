"""How fast lab hosts come and go, and what an idle one costs.

    sudo .venv/bin/python bench/sandbox.py [--count 30] [--rounds 20]

Prints create-to-ready (create returns, then a first command answers) and destroy
times, p50 and max, for one lab host at a time and for a class of --count; the
wall time to make the whole class, one after another and four at a time; and memory
per idle lab host, as its memory cgroup counts it and as the machine's available
memory drops. Goals: create p50 < 150 ms, destroy < 200 ms, 30 in < 3 s, idle < 8 MiB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labsteps.config import Config
from labsteps.sandbox.labhost import LabHosts


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def summary(label: str, values: list[float]) -> None:
    print(f"  {label:<28} p50 {ms(statistics.median(values))}   max {ms(max(values))}")


def available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def create_ready(hosts: LabHosts, name: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    hosts.create(name)
    t1 = time.perf_counter()
    code, _ = hosts.run(name, "true")
    assert code == 0
    return t1 - t0, time.perf_counter() - t0


def timed_destroy(hosts: LabHosts, name: str) -> float:
    t0 = time.perf_counter()
    hosts.destroy(name)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as state:
        hosts = LabHosts(Config.from_env(state_dir=Path(state), capacity=args.count + 10))
        print(f"cgroup {hosts.layout.version}, {args.rounds} rounds, class of {args.count}")

        creates, readies, destroys = [], [], []
        for i in range(args.rounds):
            c, r = create_ready(hosts, f"one{i}")
            creates.append(c)
            readies.append(r)
            destroys.append(timed_destroy(hosts, f"one{i}"))
        print("one lab host at a time:")
        summary("create", creates)
        summary("create to ready", readies)
        summary("destroy", destroys)

        before = available()
        t0 = time.perf_counter()
        results = [create_ready(hosts, f"kurs{i}") for i in range(args.count)]
        wall = time.perf_counter() - t0
        time.sleep(1)  # let the first commands' memory settle before measuring idle cost
        idle = [hosts.memory(hosts.get(f"kurs{i}")) for i in range(args.count)]
        dropped = (before - available()) / args.count
        print(f"a class of {args.count}, one after another: {wall:.2f} s")
        summary("create to ready", [r for _, r in results])
        print(f"  idle memory per lab host      cgroup {statistics.mean(idle) / 2**20:.2f} MiB"
              f"   machine {dropped / 2**20:.2f} MiB")
        destroys = [timed_destroy(hosts, f"kurs{i}") for i in range(args.count)]
        summary("destroy", destroys)

        with ThreadPoolExecutor(4) as pool:
            t0 = time.perf_counter()
            list(pool.map(lambda i: create_ready(hosts, f"par{i}"), range(args.count)))
            wall = time.perf_counter() - t0
            print(f"a class of {args.count}, four at a time: {wall:.2f} s")
            t0 = time.perf_counter()
            list(pool.map(lambda i: hosts.destroy(f"par{i}"), range(args.count)))
            print(f"  destroyed four at a time in {time.perf_counter() - t0:.2f} s")
        hosts.sweep()


if __name__ == "__main__":
    main()
