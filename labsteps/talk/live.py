"""The kernel model, live: read again when a lab host's terminals show activity.

    watch = KernelWatch(read, announce, wanted)
    terminal output -> watch.poke(name)   # cheap: the terminal's reader calls it
    watch.model(name) -> (version, model)  # what the page fetches
    watch.latest(name) -> (version, model)  # the last one read: what a room of viewers fetches

A prompt or any output (a job started with & changes state without a prompt) asks for a
read; such reads come at most once per EVERY seconds per lab host, a moment after the
activity (SETTLE), on one thread for the whole lab, so that a busy class never turns
model reads into more than one core's worth of batch work. A lab host nobody looks at is
not read until someone asks. When a read finds something new, the version goes up and
announce(name, {"type": "kernel", "version": v}) tells the lab host's terminal viewers;
the page then fetches the model. Such a read is followed by one more look, EVERY later: the
change may not have finished when the output came (a job prints "[1] 42" before it has
exec'd its program), and nothing may be printed after it. Looks go on, once per EVERY, while
each finds something new (memory filling up without a word), and stop at the first that
finds nothing: no activity, no reads. A look does not hold up the read that the next
command's output asks for.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable

EVERY = 1.0  # seconds between two reads of one lab host, at least
SETTLE = 0.1  # after activity, wait this long: output tends to come in bursts

log = logging.getLogger("nslab")


class KernelWatch:
    """Verbs: poke (a terminal was active), model (the latest model), forget (a lab host
    was made afresh or went)."""

    def __init__(self, read: Callable[[str], dict], announce: Callable[[str, dict], None],
                 wanted: Callable[[str], bool] = lambda name: True,
                 identity: Callable[[str], object] = lambda name: None, *,
                 every: float = EVERY, settle: float = SETTLE):
        self._read, self._announce, self._wanted = read, announce, wanted
        self._identity = identity  # which lab host has the name now: a reset makes another
        self.every, self.settle = every, settle
        self.reads = 0  # model reads so far, for the benches and /healthz
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._due: dict[str, float] = {}  # lab host -> when its read is due
        self._heap: list[tuple[float, str]] = []
        self._last: dict[str, float] = {}  # lab host -> when its last read began
        # ... and its last read that activity asked for: the next one waits EVERY after
        # it (a look again does not hold up the read of the next command)
        self._asked: dict[str, float] = {}
        self._stale: set[str] = set()  # activity since the last read
        self._again: set[str] = set()  # due to look once more after a read found a change
        self._looked: dict[str, int] = {}  # the version this thread last saw of a lab host
        # version, model, its JSON, the identity of the lab host it is of
        self._models: dict[str, tuple[int, dict, str, object]] = {}
        self._versions: dict[str, int] = {}  # never reset: a page must never see one go back
        self._reading: dict[str, threading.Lock] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    def poke(self, name: str) -> None:
        self._stale.add(name)  # at once (a set's add is atomic): a model() after this reads
        if name in self._due:  # already due: the common case in a flood, without the lock
            return
        with self._lock:
            if name in self._due or self._stopped:
                return
            self._schedule(name, max(time.monotonic() + self.settle,
                                     self._asked.get(name, 0.0) + self.every))

    def _schedule(self, name: str, due: float) -> None:
        """A read of name at due (monotonic time); the caller holds the lock."""
        self._due[name] = due
        heapq.heappush(self._heap, (due, name))
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="nslab-kernel-watch")
            self._thread.start()
        self._wake.notify()

    def model(self, name: str) -> tuple[int, dict]:
        """The lab host's model and its version, read now unless nothing happened since."""
        if self._fresh(name):
            cached = self._models[name]
            return cached[0], cached[1]
        version, model, *_ = self._refresh(name)
        return version, model

    def latest(self, name: str) -> tuple[int, dict]:
        """The model as last read (and announced), read now only if there is none of this
        lab host: for a room of viewers who all fetch the version they were told of at once,
        which must not make a read each."""
        cached = self._models.get(name)
        if cached is not None and cached[3] == self._identity(name):
            return cached[0], cached[1]
        return self.model(name)

    def _fresh(self, name: str) -> bool:
        cached = self._models.get(name)
        return cached is not None and name not in self._stale and \
            cached[3] == self._identity(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)
            self._stale.discard(name)
            self._again.discard(name)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify()

    # -- the watch's thread --------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and (not self._heap or
                                             self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, name = heapq.heappop(self._heap)
                self._due.pop(name, None)
                if name in self._stale:  # activity asked for this read (not only a look)
                    self._asked[name] = time.monotonic()
                if name in self._again:
                    self._again.discard(name)
                    self._stale.add(name)
            try:
                if self._wanted(name):
                    # New since this thread last looked, whoever read it (a page may have)
                    version = self._refresh(name)[0]
                    if self._looked.get(name) != version:
                        self._looked[name] = version
                        self._look_again(name)
            except Exception as e:  # the lab host went meanwhile, or was never there
                log.debug("kernel model of %s: %s", name, e)

    def _look_again(self, name: str) -> None:
        with self._lock:
            if name in self._due or self._stopped:  # activity has asked for a read already
                return
            self._schedule(name, self._last.get(name, time.monotonic()) + self.every)
            self._again.add(name)

    def _refresh(self, name: str) -> tuple[int, dict, str, object]:
        """Read name's model; announce a new version when it changed."""
        with self._lock:
            gate = self._reading.setdefault(name, threading.Lock())
        with gate:  # one read of a lab host at a time; a second caller gets its result
            if self._fresh(name):
                return self._models[name]
            identity = self._identity(name)
            with self._lock:
                self._stale.discard(name)
                self._last[name] = time.monotonic()
                self.reads += 1
            model = self._read(name)
            text = json.dumps(model, sort_keys=True)
            with self._lock:
                old = self._models.get(name)
                changed = old is None or old[2] != text
                version = self._versions.get(name, 0) + changed
                self._versions[name] = version
                self._models[name] = (version, model, text, identity)
            if changed:
                self._announce(name, {"type": "kernel", "version": version})
            return self._models[name]


def watch_lab(hosts, terminals) -> KernelWatch:
    """A KernelWatch on every lab host of hosts (LabHosts), cued by terminals (Terminals)."""
    from labsteps.talk import model
    from labsteps.talk.inspect import LabView

    def read(name: str) -> dict:
        ttys = {t.tty_nr: n for n, t in terminals.of(name).items()}
        return model.read(LabView(hosts, name), ttys)

    def identity(name: str) -> tuple | None:
        host = hosts.get(name)
        return (host.pid, host.started) if host else None

    watch = KernelWatch(read, terminals.announce, terminals.watched, identity)
    terminals.on_output = watch.poke
    return watch
