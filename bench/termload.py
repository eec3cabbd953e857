"""Load on the terminal: nslab beside a raw pty (and another revision), as a browser uses it.

    sudo .venv/bin/python bench/termload.py [--tests echo,throughput,concurrency]
        [--repeat 3] [--clients 40] [--baseline REV]

Targets, side by side in one run:
  nslab      an `nslab serve` of this checkout (bench/labserver.py: free port, own state
             folder, lab hosts swept when it stops)
  REV        with --baseline REV: the same for a git revision, checked out in a temporary
             work tree (its libnslab-pump.so built from that revision's pump.c into a
             temporary lib folder), run with this same Python
  raw pty    `bash --norc --noprofile` on a pty in this process, keys written to the master
             and echo read from it: the limit, with no server in between

Every nslab terminal is a new attendee (POST /api/join) on /ws/terminal/1 with its cookie
and the server's own Origin; output is acknowledged as a browser does ({"type": "ack"}).
Tests, each repeated --repeat times, the order of the targets rotated every time so that
the machine's drift hits all alike; the tables show medians over the repetitions:
  echo         one key at a time at an idle prompt, timed until its echo comes back
  throughput   MB/s of a command's known output (--mbytes) until its end marker, and the
               server's CPU seconds (its own processes, not the lab hosts') per 100 MB
  concurrency  --clients attendees each typing a key every 1/--rate s for --seconds,
               every echo timed, while one more attendee floods its terminal with `yes`
Then the goals against the raw pty and the baseline, met or not. Asserts nothing; only
servers of its own on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib.metadata
import json
import math
import multiprocessing
import os
import pty
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import tomllib
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.labserver import lab_server  # noqa: E402

now = time.perf_counter
KEYS = b"abcdefghijklmnopqrstuvwxyz"  # typed keys; the idle prompt prints none of them alone
CTRL_C, CTRL_U = b"\x03", b"\x15"
COLS, ROWS = 200, 50  # wide enough that a typist's line never wraps
RAW = "raw pty"
ACK_EVERY = 64 * 1024  # as static/terminal.js; the server pauses beyond 512 KiB unacknowledged
ACK_QUIET = 1.0  # seconds of quiet before the rest is acknowledged, as static/terminal.js


# --------------------------------------------------------------------------- terminals

class Terminal:
    """One shell. Output goes to self.on_output(data) as it arrives."""

    def __init__(self) -> None:
        self.on_output: Callable[[bytes], None] = lambda data: None

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class WsTerminal(Terminal):
    """An nslab terminal over its websocket, acknowledging output as xterm.js renders it."""

    def __init__(self, ws) -> None:
        super().__init__()
        self.ws, self.received, self.acked = ws, 0, 0
        self._quiet: asyncio.TimerHandle | None = None
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str, cookie: str) -> WsTerminal:
        ws = await connect(base.replace("http://", "ws://") + "/ws/terminal/1",
                           additional_headers={"Cookie": cookie}, origin=base,
                           compression=None, max_size=None, ping_interval=None,
                           open_timeout=30, close_timeout=3)
        term = cls(ws)
        await ws.send(json.dumps({"type": "resize", "cols": COLS, "rows": ROWS}))
        return term

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.ws:
                if isinstance(message, str):
                    continue  # events (command marks, exit): not measured here
                self.received += len(message)
                self.on_output(message)
                # As static/terminal.js does: every ACK_EVERY bytes, else after a quiet spell.
                if self.received - self.acked >= ACK_EVERY:
                    await self._ack()
                elif self._quiet is None:
                    self._quiet = asyncio.get_running_loop().call_later(
                        ACK_QUIET, lambda: asyncio.ensure_future(self._ack()))

    async def _ack(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self.received > self.acked:
            self.acked = self.received
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"type": "ack", "bytes": self.acked}))

    async def send(self, data: bytes) -> None:
        await self.ws.send(data)  # bytes: a binary frame, raw input

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()


class PtyTerminal(Terminal):
    """bash on a pty of this process: keys to the master fd, output read from it."""

    def __init__(self) -> None:
        super().__init__()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.environ["TERM"] = "xterm-256color"
                os.execvp("bash", ["bash", "--norc", "--noprofile"])
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.set_blocking(self.fd, False)
        asyncio.get_running_loop().add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        # A pty hands out at most a few KiB a read: gather what is there, so that Python's
        # cost per callback does not make the limit look lower than a server's batches.
        parts, size, gone = [], 0, False
        while size < 1 << 18:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError:  # EIO: the shell is gone
                data = b""
            if not data:
                gone = True
                break
            parts.append(data)
            size += len(data)
        if parts:
            self.on_output(b"".join(parts))
        if gone:
            asyncio.get_running_loop().remove_reader(self.fd)

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                return
            await asyncio.sleep(0.01)


class Output:
    """An output sink that keeps the recent tail and tells when something came."""

    def __init__(self) -> None:
        self.tail, self.last, self.came = bytearray(), now(), asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.tail += data
        del self.tail[:-65536]
        self.last = now()
        self.came.set()

    async def until(self, marker: bytes, timeout: float) -> bool:
        deadline = now() + timeout
        while marker not in self.tail:
            self.came.clear()
            left = deadline - now()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.came.wait(), left)
        return True

    async def quiet(self, gap: float, cap: float) -> None:
        """Until no output came for gap seconds (cap seconds at most)."""
        end = now() + cap
        while now() < end and now() - self.last < gap:
            await asyncio.sleep(gap / 4)


async def ready(term: Terminal) -> None:
    """Until the shell has run a first command and its prompt is drawn."""
    out = Output()
    term.on_output = out
    tag = os.urandom(4).hex()
    for _ in range(6):  # a shell still starting may miss the first line: type it again
        await term.send(CTRL_U + f"printf '%s_%s\\n' READY {tag}\r".encode())
        if await out.until(f"READY_{tag}".encode(), 5):
            await out.quiet(0.2, 3)
            return
    raise RuntimeError(f"no shell: {bytes(out.tail[-200:])!r}")


async def readied(term: Terminal) -> Terminal:
    """term, once its prompt is there; closed if it never comes."""
    try:
        await ready(term)
    except BaseException:
        await term.close()
        raise
    return term


async def settle(term: Terminal, keys: bytes, gap: float = 0.2, cap: float = 5) -> None:
    out = Output()
    term.on_output = out
    if keys:
        await term.send(keys)
    await out.quiet(gap, cap)


# --------------------------------------------------------------------------- targets

def join(base: str, name: str) -> str:
    req = urllib.request.Request(base + "/api/join", data=json.dumps({"name": name}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return "; ".join(c.split(";")[0] for c in res.headers.get_all("Set-Cookie") or [])
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"join {name}: {e.code} {e.read()[:300].decode(errors='replace')}"
                           ) from None


class Target:
    name: str

    async def terminal(self, role: str) -> Terminal:
        raise NotImplementedError

    def flood_spec(self) -> tuple:
        """What a flood process needs to open its own terminal."""
        raise NotImplementedError

    def cpu(self) -> float | None:
        """CPU seconds the server's own processes have used so far."""
        return None


class Nslab(Target):
    """An nslab server. Each role (echo, a typist, the flood) is one attendee, joined once
    and reconnected in later repetitions: the shell outlives its websocket."""

    def __init__(self, name: str, base: str, server: subprocess.Popen) -> None:
        self.name, self.base, self.server, self.cookies = name, base, server, {}
        self.exe = os.readlink(f"/proc/{server.pid}/exe")

    async def cookie(self, role: str) -> str:
        if role not in self.cookies:
            self.cookies[role] = await asyncio.to_thread(join, self.base, role)
        return self.cookies[role]

    async def terminal(self, role: str) -> Terminal:
        return await readied(await WsTerminal.open(self.base, await self.cookie(role)))

    def flood_spec(self) -> tuple:
        return ("nslab", self.base, self.cookies["bench-flood"])

    def pids(self) -> list[int]:
        """The server and its descendants that run its Python (the lab hosts do not)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(
                        int(entry))
        found, todo = [], [self.server.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/exe") == self.exe:
                    found.append(pid)
                    todo.extend(children.get(pid, []))
        return found

    def cpu(self) -> float:
        ticks = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


class RawPty(Target):
    name = RAW

    async def terminal(self, role: str) -> Terminal:
        return await readied(PtyTerminal())

    def flood_spec(self) -> tuple:
        return ("pty",)


# --------------------------------------------------------------------------- tests

def stats(seconds: list[float]) -> dict:
    v = sorted(seconds)
    if not v:
        return {}

    def at(q: float) -> float:
        return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))] * 1000

    return {"p50": at(0.5), "p99": at(0.99), "max": v[-1] * 1000, "n": len(v)}


async def test_echo(target: Target, args) -> dict:
    term = await target.terminal("bench-echo")
    loop = asyncio.get_running_loop()
    times, lost = [], 0
    try:
        for i in range(args.keys + 10):  # the first ten warm up
            if i % 50 == 0:
                await settle(term, CTRL_U, 0.1, 2)  # keep the line short
            key = KEYS[i % 26:i % 26 + 1]
            echoed = loop.create_future()

            def seen(data: bytes, key=key, echoed=echoed) -> None:
                if key in data and not echoed.done():
                    echoed.set_result(now())

            term.on_output = seen
            t0 = now()
            await term.send(key)
            try:
                t1 = await asyncio.wait_for(echoed, 2)
            except TimeoutError:
                lost += 1
                continue
            if i >= 10:
                times.append(t1 - t0)
        await settle(term, CTRL_U, 0.1, 2)
    finally:
        await term.close()
    return {**stats(times), "lost": lost}


async def test_throughput(target: Target, args) -> dict:
    term = await target.terminal("bench-throughput")
    size = args.mbytes * 1_000_000
    tag = os.urandom(4).hex()
    marker = f"END_{tag}".encode()
    got = {"bytes": 0, "tail": b""}
    done = asyncio.get_running_loop().create_future()

    def count(data: bytes) -> None:
        got["bytes"] += len(data)
        window = got["tail"] + data[:len(marker)]
        if not done.done() and (marker in data or marker in window):
            done.set_result(now())
        got["tail"] = (data if len(data) >= len(marker) else got["tail"] + data)[-len(marker):]

    term.on_output = count
    # 100 zeros and a newline a line; the marker is printed in two parts, so its echo differs.
    command = f"yes $(printf %0100d 0) | head -c {size}; printf '%s_%s\\n' END {tag}\r"
    try:
        cpu0, t0 = target.cpu(), now()
        await term.send(command.encode())
        try:
            t1, complete = await asyncio.wait_for(done, args.time_cap), True
        except TimeoutError:
            t1, complete = now(), False
        cpu1 = target.cpu()
        await settle(term, b"" if complete else CTRL_C, 0.3, 10)
    finally:
        await term.close()
    nbytes = got["bytes"]
    return {"mb_s": nbytes / (t1 - t0) / 1e6, "complete": complete, "bytes": nbytes,
            "cpu_100mb": (cpu1 - cpu0) / nbytes * 1e8 if cpu0 is not None and nbytes else None}


def flood(spec: tuple, seconds: float, flowing, stop, results) -> None:
    """A process of its own: one terminal running `yes`, read as fast as it comes, so the
    flood's reading does not share the typists' event loop (nor their GIL)."""

    async def main() -> dict:
        if spec[0] == "nslab":
            term = await WsTerminal.open(spec[1], spec[2])
        else:
            term = PtyTerminal()
        try:
            await ready(term)
            got = [0, False]  # bytes, told the parent

            def count(data: bytes) -> None:
                got[0] += len(data)
                if got[0] > 1_000_000 and not got[1]:
                    got[1] = True
                    flowing.set()

            term.on_output = count
            await term.send(f"timeout {seconds:.0f} yes\r".encode())  # ends even if we do not
            end = now() + seconds
            while not flowing.is_set() and now() < end:
                await asyncio.sleep(0.02)
            t0, b0 = now(), got[0]
            while not stop.is_set() and now() < end:
                await asyncio.sleep(0.02)
            t1, b1 = now(), got[0]
            await settle(term, CTRL_C, 0.3, 10)
            return {"flood_mb_s": (b1 - b0) / max(t1 - t0, 1e-6) / 1e6}
        finally:
            await term.close()

    try:
        results.put(asyncio.run(main()))
    except Exception as e:  # the parent waits for a result: always give one
        results.put({"flood_error": repr(e)[:200]})
        flowing.set()


async def typist(term: Terminal, start: float, args) -> tuple[list[float], int]:
    """Keys on a fixed schedule, whether or not earlier echoes came back (open loop)."""
    waiting: deque[tuple[bytes, float]] = deque()
    times: list[float] = []

    def seen(data: bytes) -> None:
        pos = 0
        while waiting:
            pos = data.find(waiting[0][0], pos)
            if pos < 0:
                return
            times.append(now() - waiting.popleft()[1])
            pos += 1

    term.on_output = seen
    for k in range(int(args.rate * args.seconds)):
        await asyncio.sleep(max(0.0, start + k / args.rate - now()))
        waiting.append((KEYS[k % 26:k % 26 + 1], now()))
        await term.send(KEYS[k % 26:k % 26 + 1])
    end = now() + 5
    while waiting and now() < end:
        await asyncio.sleep(0.01)
    lost = len(waiting)
    waiting.clear()
    await settle(term, CTRL_U, 0.1, 2)
    return times, lost


async def test_concurrency(target: Target, args) -> dict:
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> Terminal:
        async with gate:
            return await target.terminal(f"bench-typist-{i}")

    opened = await asyncio.gather(*(one(i) for i in range(args.clients)),
                                  return_exceptions=True)
    terms = [t for t in opened if isinstance(t, Terminal)]
    errors = [t for t in opened if not isinstance(t, Terminal)]
    if isinstance(target, Nslab):
        await target.cookie("bench-flood")
    mp = multiprocessing.get_context("spawn")
    flowing, stop, results = mp.Event(), mp.Event(), mp.Queue()
    flooder = mp.Process(target=flood, daemon=True, args=(
        target.flood_spec(), args.seconds + 60, flowing, stop, results))
    flooder.start()
    try:
        if errors:
            raise RuntimeError(f"{len(errors)} terminals did not open: {errors[0]!r}")
        await asyncio.to_thread(flowing.wait, 60)
        await asyncio.sleep(0.5)  # the flood in full swing
        start, rand = now() + 0.2, random.Random(1)
        runs = await asyncio.gather(*(typist(t, start + rand.random() / args.rate, args)
                                      for t in terms))
    finally:
        stop.set()
        try:
            result = await asyncio.to_thread(results.get, True, 30)
        except Exception as e:
            result = {"flood_error": repr(e)}
        flooder.join(10)
        if flooder.is_alive():
            flooder.kill()
        await asyncio.gather(*(t.close() for t in terms), return_exceptions=True)
    times = [x for r in runs for x in r[0]]
    return {**stats(times), "lost": sum(r[1] for r in runs), **result}


TESTS = {"echo": test_echo, "throughput": test_throughput, "concurrency": test_concurrency}


# --------------------------------------------------------------------------- a baseline revision

@contextlib.contextmanager
def baseline_tree(rev: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A work tree of rev and what its server needs: (source folder, extra environment).

    SystemExit, with what to do, when that revision cannot run with this Python."""
    work = Path(tempfile.mkdtemp(prefix="nslab-baseline-"))
    src, lib = work / "src", work / "lib"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(src), rev], check=True)
        lib.mkdir()
        for folder in (work, lib):  # lab hosts read the image as their own users
            folder.chmod(0o755)
        here = Path(os.environ.get("NSLAB_LIB_DIR") or "/usr/local/lib/nslab")
        for name in ("vorlage.tar", "nslab-init"):  # the lab host's own: taken as installed
            (lib / name).symlink_to(here / name)
        pump = next((p for p in (src / "labsteps/terminal/pump.c", src / "labsteps/pump.c")
                     if p.exists()), None)
        if pump:
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-pthread", "-o",
                            str(lib / "libnslab-pump.so"), str(pump)], check=True)
        check = subprocess.run([sys.executable, "-c", "import web, web.server, web.cli; "
                                "web.create_app; print(web.__file__)"],
                               cwd=src, capture_output=True, text=True)
        if check.returncode:
            missing = _missing(src)
            sys.exit(f"{rev} does not import with {sys.executable}:\n"
                     f"{check.stderr.strip().splitlines()[-1]}\n"
                     + (f"fix: {sys.executable} -m pip install {' '.join(missing)}"
                        if missing else "(no missing package found in its pyproject.toml)"))
        if not check.stdout.strip().startswith(str(src)):
            sys.exit(f"{rev}'s server would run {check.stdout.strip()}, not its own code")
        yield src, {"NSLAB_LIB_DIR": str(lib)}
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(src)],
                       capture_output=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _missing(src: Path) -> list[str]:
    """The requirements of src's pyproject.toml that are not installed here."""
    try:
        wanted = tomllib.loads((src / "pyproject.toml").read_text())["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return []
    missing = []
    for req in wanted:
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"'{req}'")
    return missing


# --------------------------------------------------------------------------- run and report

COLUMNS = {  # test: (heading, key, format) per column
    "echo": [("p50 ms", "p50", "{:.3f}"), ("p99 ms", "p99", "{:.3f}"),
             ("max ms", "max", "{:.2f}"), ("lost", "lost", "{:.0f}")],
    "throughput": [("MB/s", "mb_s", "{:.1f}"), ("CPU s/100MB", "cpu_100mb", "{:.2f}"),
                   ("complete", "complete", "{}")],
    "concurrency": [("p50 ms", "p50", "{:.2f}"), ("p99 ms", "p99", "{:.2f}"),
                    ("max ms", "max", "{:.1f}"), ("lost", "lost", "{:.0f}"),
                    ("flood MB/s", "flood_mb_s", "{:.1f}")],
}


def median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    if values and all(isinstance(v, bool) for v in values):
        return all(values)
    return statistics.median(values) if values else None


HEADLINE = {"echo": "p50", "throughput": "mb_s", "concurrency": "p99"}


def table(test: str, names: list[str], results: dict, baseline: str | None) -> None:
    """Medians per target, and the headline figure's ratio to the raw pty and the baseline."""
    cols = COLUMNS[test]
    refs = [r for r in (RAW, baseline) if r in names]
    width = max(len(n) for n in names) + 2
    head = HEADLINE[test]
    print(f"\n{test} (median of {max(len(results[test][n]) for n in names)}; "
          f"ratios of {head})")
    print(f"{'target':<{width}}" + "".join(f"{h:>13}" for h, _, _ in cols)
          + "".join(f"{'/ ' + r:>13}" for r in refs))
    for name in names:
        runs = results[test][name]
        cells = [median(runs, key) for _, key, _ in cols]
        ours = median(runs, head)
        ratios = [median(results[test][r], head) for r in refs]
        print(f"{name:<{width}}" + "".join(
            f"{'-' if v is None else fmt.format(v):>13}" for v, (_, _, fmt) in zip(cells, cols))
            + "".join(f"{'-' if ours is None or not r else f'{ours / r:.2f}x':>13}"
                      for r in ratios))
        for r in runs:
            if "error" in r or "flood_error" in r:
                print(f"  error: {r.get('error') or r.get('flood_error')}")


GOALS = [  # test, key, against, kind, bound, text
    ("echo", "p50", "baseline", "plus", 0.05, "echo p50 within 0.05 ms of the baseline's"),
    ("throughput", "mb_s", "baseline", "at least", 0.85, "output >= 0.85x the baseline's"),
    ("concurrency", "p99", "baseline", "times", 1.1, "typists' p99 <= 1.1x the baseline's"),
    ("echo", "p50", RAW, "plus", 0.1, "echo p50 <= raw pty + 0.1 ms"),
    ("throughput", "mb_s", RAW, "at least", None, "output against the raw pty (no goal)"),
    ("concurrency", "p99", RAW, "times", 1.6, "typists' p99 <= 1.6x the raw pty's"),
]


def goals(results: dict, baseline: str | None) -> None:
    print("\ngoals (nslab = this checkout)")
    for test, key, against, kind, bound, text in GOALS:
        ref = baseline if against == "baseline" else against
        if test not in results or ref not in results[test]:
            continue
        ours, theirs = (median(results[test]["nslab"], key),
                        median(results[test][ref], key))
        if ours is None or not theirs:
            print(f"  {text}: no figures")
            continue
        if kind == "plus":
            met = ours - theirs <= bound
            figure = f"{ours:.3f} vs {theirs:.3f} ms ({ours - theirs:+.3f} ms)"
        else:
            ratio = ours / theirs
            met = bound is None or (ratio >= bound if kind == "at least" else ratio <= bound)
            figure = f"{ours:.3g} vs {theirs:.3g} ({ratio:.2f}x)"
        verdict = "" if bound is None else ("  met" if met else "  NOT met")
        print(f"  {text}: {figure}{verdict}")


async def run(targets: list[Target], args) -> dict:
    results: dict = {t: {x.name: [] for x in targets} for t in args.tests}
    for rep in range(args.repeat):
        for test in args.tests:
            turn = rep % len(targets)
            for target in targets[turn:] + targets[:turn]:
                print(f"[{rep + 1}/{args.repeat}] {test:<11} {target.name}", end="", flush=True)
                t0 = now()
                try:
                    res = await asyncio.wait_for(TESTS[test](target, args), args.test_cap)
                except Exception as e:
                    res = {"error": repr(e)[:300]}
                print(f"  {now() - t0:.1f} s  " + (res.get("error") or json.dumps(
                    {k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()
                     if k in ("p50", "p99", "mb_s", "cpu_100mb", "flood_mb_s", "lost")})),
                      flush=True)
                results[test][target.name].append(res)
                await asyncio.sleep(args.pause)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--tests", default="echo,throughput,concurrency",
                   help="comma-separated, from echo, throughput, concurrency")
    p.add_argument("--repeat", type=int, default=3, help="repetitions (medians are shown)")
    p.add_argument("--baseline", metavar="REV", help="also a server of this git revision")
    p.add_argument("--no-raw", dest="raw", action="store_false", help="leave out the raw pty")
    p.add_argument("--keys", type=int, default=500, help="echo: keys timed per repetition")
    p.add_argument("--mbytes", type=int, default=100, help="throughput: MB of output")
    p.add_argument("--time-cap", type=float, default=60, help="throughput: seconds at most")
    p.add_argument("--clients", type=int, default=40, help="concurrency: typing attendees")
    p.add_argument("--rate", type=float, default=10, help="concurrency: keys a second each")
    p.add_argument("--seconds", type=float, default=10, help="concurrency: seconds of typing")
    p.add_argument("--pause", type=float, default=1, help="seconds between tests")
    args = p.parse_args()
    args.tests = [t for t in args.tests.split(",") if t]
    if set(args.tests) - set(TESTS):
        p.error(f"unknown tests: {sorted(set(args.tests) - set(TESTS))}")
    if not (1 <= args.repeat <= 20 and 1 <= args.keys <= 10_000 and 1 <= args.mbytes <= 2000
            and 1 <= args.clients <= 200 and 0.1 <= args.rate <= 50
            and 1 <= args.seconds <= 120):
        p.error("sizes out of bounds (repeat <= 20, keys <= 10000, mbytes <= 2000, "
                "clients <= 200, rate 0.1-50, seconds <= 120)")
    if os.geteuid() != 0:
        sys.exit("run as root: the servers create lab hosts")
    args.test_cap = max(args.time_cap + 60, args.keys * 0.5, args.seconds + 240)
    capacity = str(args.clients + 8)  # typists, the flood, echo and throughput, spare
    try:
        with contextlib.ExitStack() as stack:
            base, _, server = stack.enter_context(lab_server(
                os.urandom(16).hex(), NSLAB_CAPACITY=capacity))
            targets: list[Target] = [Nslab("nslab", base, server)]
            baseline = None
            if args.baseline:
                src, env = stack.enter_context(baseline_tree(args.baseline))
                base2, _, server2 = stack.enter_context(lab_server(
                    os.urandom(16).hex(), source=src, NSLAB_CAPACITY=capacity, **env))
                baseline = args.baseline
                targets.append(Nslab(baseline, base2, server2))
            if args.raw:
                targets.append(RawPty())
            print(f"targets: {', '.join(t.name for t in targets)}; tests: "
                  f"{', '.join(args.tests)}; {args.repeat} repetitions; {os.cpu_count()} cpus, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            results = asyncio.run(run(targets, args))
            names = [t.name for t in targets]
            for test in args.tests:
                table(test, names, results, baseline)
            goals(results, baseline)
            print(f"\nload at the end {os.getloadavg()[0]:.2f}", flush=True)
    except (RuntimeError, subprocess.CalledProcessError, KeyboardInterrupt) as e:
        print(e or "interrupted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
