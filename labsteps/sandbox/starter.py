"""The start-up process: one small interpreter that forks a helper per new lab host.

A lab host is started from a single-threaded process, because the threaded web server
must not fork (namespaces.py says why). Starting a fresh interpreter for each one cost
about 30 ms of CPU, most of a lab host's start: with a class of 100 joining at once
that alone kept two cores busy for 1.5 s. So the server starts this interpreter once;
for each lab host it forks, which costs about a millisecond, and the fork does what the
one-off helper did (namespaces.start).

Requests and replies are JSON lines on the process's stdin and stdout, tagged with a
number so that replies may come back in any order. The process ends when its stdin
closes, so it never outlives the server. It is not a subreaper: a lab host's pid 1,
orphaned by the helper, still goes to the server, which reaps it on destroy.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
# -I keeps the caller's environment and user site out, -S the site module (nothing here
# needs a third-party package), so it is told where this package lives.
_SERVE = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from labsteps.sandbox.starter import serve; serve()")
_PIPE_BUF = 4096  # a reply up to this size is written at once, never torn by another


class Starter:
    """Start lab hosts through the start-up process; safe to call from many threads.

    Dropping a Starter closes the process's stdin, so it ends: the thread that reads its
    replies holds the list of waiters, never the Starter, and a finalizer closes the pipe."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = 0  # pid of the process that started it: a fork must start its own
        self._numbers = itertools.count(1)
        self._waiting: _Waiting | None = None

    def start(self, spec: dict, timeout: float = 30.0) -> dict:
        """The helper's reply for spec: {"pid": ...} or {"error": ...}."""
        done = threading.Event()
        with self._lock:
            number = next(self._numbers)
            try:
                proc, waiting = self._running()
                waiting.add(number, done)
                proc.stdin.write(json.dumps({"n": number, "spec": spec}).encode() + b"\n")
                proc.stdin.flush()
            except OSError as e:
                return {"error": f"the start-up process is gone: {e}"}
        if not done.wait(timeout):
            waiting.take(number)
            return {"error": f"no lab host after {timeout:g} s (the machine is very busy)"}
        return waiting.take(number) or {"error": "the lab host start-up process ended early"}

    def close(self) -> None:
        """End the start-up process (it exits when its stdin closes)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and self._owner == os.getpid():
            proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _running(self) -> tuple[subprocess.Popen, _Waiting]:
        """The start-up process, started now if this process has none alive."""
        if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SERVE, str(_PACKAGE_PARENT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env)
            self._owner = os.getpid()
            # Dropped without close(), the Popen lives on in subprocess's list of children
            # to reap, its stdin open: closing the pipe with the Starter ends the process.
            weakref.finalize(self, self._proc.stdin.close)
            self._waiting = _Waiting()
            threading.Thread(target=self._waiting.read, args=(self._proc.stdout,),
                             daemon=True, name="nslab-starter").start()
        return self._proc, self._waiting


class _Waiting:
    """The requests one start-up process has not answered yet, and their replies."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: dict[int, threading.Event] = {}
        self._replies: dict[int, dict] = {}

    def add(self, number: int, done: threading.Event) -> None:
        with self._lock:
            self._events[number] = done

    def take(self, number: int) -> dict | None:
        with self._lock:
            self._events.pop(number, None)
            return self._replies.pop(number, None)

    def read(self, stdout) -> None:
        for line in stdout:
            try:
                msg = json.loads(line)
                number, reply = msg["n"], msg["reply"]
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                done = self._events.get(number)
                if done is not None:
                    self._replies[number] = reply
            if done is not None:
                done.set()
        stdout.close()
        # The process ended: whoever still waits on it hears so now, not at its timeout.
        with self._lock:
            left = list(self._events.values())
        for done in left:
            done.set()


def serve() -> None:
    """The start-up process: a request per line on stdin, a forked helper for each."""
    import signal

    from labsteps.sandbox.namespaces import start

    # Helpers are reaped by the kernel; each resets this, for it waits for its own child.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin.buffer:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                reply = start(msg["spec"])
            except BaseException as e:  # said to the server, which tells the attendee
                reply = {"error": f"{type(e).__name__}: {e}"}
            out = json.dumps({"n": msg["n"], "reply": reply}).encode() + b"\n"
            if len(out) > _PIPE_BUF:
                out = json.dumps({"n": msg["n"], "reply": {
                    "error": str(reply.get("error", "start-up failed"))[:2000]}}).encode() + b"\n"
            os.write(1, out)
            os._exit(0)
