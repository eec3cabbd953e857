"""Turns for batch work: at most N Runs, Checks and Catch-ups at work at once, the rest in a
queue, first come first served (but for lab hosts named ahead: the trainer's, whose Run the
room is watching, goes next); each lab host's page is told where its request is.

    turns = Turns(4, announce)
    with turns.turn(lab, "run", step_id, block=1, blocks=3) as work:  # waits its turn
        work.report(block=2)                        # while working: where it is now

A waiter's place, or a worker's step and block, is its lab host's progress; every change of
it goes out once as announce(lab, {"type": "progress", ...}) (the terminals' event to the
page) and stays readable by state(lab) for a page that was not listening. A lab host with
two requests shows the one furthest along: the one at work, else the one nearest the front.
When a lab host has nothing left it hears {"type": "progress", "state": "done"} and its
entries go: nothing grows with the number of requests.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import count

log = logging.getLogger("nslab")
IDLE = {"state": "idle"}  # what state() says of a lab host with nothing queued or at work


class Work:
    """One request's ticket: queued until its turn comes, then at work."""

    def __init__(self, turns: Turns, lab: str, what: str, step: str, number: int,
                 fields: dict):
        self._turns, self.lab, self.what, self.step = turns, lab, what, step
        self.number = number  # arrival order: the lower, the earlier
        self.working = False
        self.go = threading.Event()
        self.fields = fields  # where the work is: block, blocks, step_no...

    def report(self, **fields) -> None:
        """Where the work is now (the fields given replace those of the same name)."""
        self._turns._report(self, fields)


class Turns:
    """Verbs: turn (wait for one, then work), state (a lab host's progress now)."""

    def __init__(self, at_once: int, announce: Callable[[str, dict], None] = lambda lab, m: None,
                 ahead: Iterable[str] = ()):
        self.at_once = at_once
        self.ahead = frozenset(ahead)  # lab hosts whose requests go before everyone else's
        self._announce = announce
        self._lock = threading.Lock()
        self._queue: deque[Work] = deque()  # waiting, in arrival order
        self._busy = 0  # tickets at work
        self._labs: dict[str, list[Work]] = {}  # lab host -> its tickets, queued or at work
        self._told: dict[str, dict] = {}  # lab host -> the progress it last heard
        self._outbox: list[tuple[str, dict]] = []  # said under _lock, sent by _flush
        self._telling = threading.Lock()  # one sender at a time: a page hears them in order
        self._numbers = count()

    @contextmanager
    def turn(self, lab: str, what: str, step: str, **fields) -> Iterator[Work]:
        """Wait for a turn (at once when there is room and nobody waits), then hold it for
        the block's duration; an error, here or while waiting, gives it back. fields: where
        the work starts, said with "working" (one message, not two)."""
        work = self._enter(lab, what, step, fields)
        try:
            work.go.wait()
            yield work
        finally:
            self._leave(work)

    def state(self, lab: str) -> dict:
        """The lab host's progress now: as announced last, without the "type"."""
        with self._lock:
            return self._progress(lab) or dict(IDLE)

    def waiting(self) -> int:
        return len(self._queue)

    # -- under the lock ----------------------------------------------------------

    def _enter(self, lab: str, what: str, step: str, fields: dict) -> Work:
        with self._lock:
            work = Work(self, lab, what, step, next(self._numbers), fields)
            self._labs.setdefault(lab, []).append(work)
            if self._busy < self.at_once and not self._queue:
                self._start(work)
            elif lab in self.ahead:  # next, behind only others ahead; the rest move back
                self._queue.insert(sum(w.lab in self.ahead for w in self._queue), work)
                self._tell({w.lab for w in self._queue})
            else:
                self._queue.append(work)
            self._tell([lab])
        self._flush()
        return work

    def _leave(self, work: Work) -> None:
        with self._lock:
            if work.working:
                self._busy -= 1
            else:  # given up while waiting (an error in the waiting thread)
                self._queue.remove(work)
            tickets = self._labs[work.lab]
            tickets.remove(work)
            if not tickets:
                del self._labs[work.lab]
            changed = {work.lab}
            while self._busy < self.at_once and self._queue:
                self._start(self._queue.popleft())
            # Everyone behind moved up one place: each of their lab hosts hears it, once.
            changed.update(w.lab for w in self._queue)
            self._tell(changed)
        self._flush()

    def _start(self, work: Work) -> None:
        self._busy += 1
        work.working = True
        work.go.set()
        self._tell([work.lab])

    def _report(self, work: Work, fields: dict) -> None:
        with self._lock:
            work.fields.update(fields)
            self._tell([work.lab])
        self._flush()

    def _progress(self, lab: str) -> dict | None:
        tickets = self._labs.get(lab)
        if not tickets:
            return None
        working = [w for w in tickets if w.working]
        if working:
            w = min(working, key=lambda w: w.number)
            return {"state": "working", "what": w.what, "step": w.step, **w.fields}
        first = min(tickets, key=lambda w: w.number)  # the queue is in arrival order too
        place = self._queue.index(first) + 1
        return {"state": "queued", "place": place, "what": first.what, "step": first.step}

    def _tell(self, labs) -> None:
        """Queue each lab host's progress for sending, if it is news to it."""
        for lab in labs:
            now = self._progress(lab)
            if now is None:
                if self._told.pop(lab, None) is not None:
                    self._outbox.append((lab, {"type": "progress", "state": "done"}))
            elif now != self._told.get(lab):
                self._told[lab] = now
                self._outbox.append((lab, {"type": "progress", **now}))

    # -- outside it ----------------------------------------------------------------

    def _flush(self) -> None:
        """Send what was said, in the order it was said: the lock is not held while sending
        (a page's socket may be slow), and one sender at a time keeps the order."""
        with self._telling:
            while True:
                with self._lock:
                    batch, self._outbox = self._outbox, []
                if not batch:
                    return
                for lab, message in batch:
                    try:
                        self._announce(lab, message)
                    except Exception:  # a page that cannot hear it: the queue goes on
                        log.exception("progress for %s", lab)
