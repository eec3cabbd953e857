"""One terminal shown to many read-only viewers: the trainer presenting to the room.

    show = Broadcast(terminal)       # one subscriber of the terminal, which it never pauses
    Bridge(sock, conn, show, read_only=True, resizes=False, role="viewer").run()
    show.close({"type": "presenter", "presenting": False}, Close.NORMAL, "...")

The terminal's reader hands each chunk to this one subscriber, which only queues it and
wakes a thread of its own: the sends to a hundred viewers never happen on the reader, so
the trainer's echo does not wait for them. That thread keeps a screen of its own (exactly
what it has handed on, so that a late viewer's replay joins the stream without a gap or a
doubled byte) and gives each chunk to every viewer's bridge (labsteps/terminal/bridge.py),
which frames and sends it: a small one at once, a flood's from the bridge's own thread.

Flow control is each viewer's own. A viewer acknowledges what it rendered, as on any
terminal; one more than BEHIND bytes behind is handed nothing more until it has
acknowledged all it was sent, and then a fresh screen ("\\x1bc", a full reset, and the
replay) instead of the backlog. Viewers never count toward the terminal's pause (this
subscriber's unacked is always 0): only the terminal's own tabs hold its output back.
"""

from __future__ import annotations

import logging
import threading

from labsteps.errors import TerminalGone
from labsteps.terminal.bridge import CHUNK, Close
from labsteps.terminal.screen import Screen

BEHIND = 256 * 1024  # unacknowledged bytes past which a viewer gets a fresh screen instead
SCROLLBACK = 128 * 1024  # what a viewer that joins, or catches up, is replayed: below BEHIND
FORWARDED = ("kernel", "size")  # the terminal's events its viewers hear (not Run's progress)
RESET = b"\x1bc"  # RIS: the viewer's terminal starts from a clean screen
log = logging.getLogger("nslab")


class Broadcast:
    """Verbs for the presenting side: close. For viewers' bridges it is their terminal
    (attach, detach, acked; keys and resizes from viewers are dropped)."""

    role = "presenter"  # what Terminal.roles() says of it: the lab host is being looked at
    unacked = 0  # never pauses the terminal

    def __init__(self, terminal):
        self.terminal = terminal  # labsteps.terminal.pty.Terminal
        self.closed_why: str | None = None  # as Terminal's: "reset", "stopping" or "ended"
        self.screen = Screen(SCROLLBACK)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[bytes | dict | tuple] = []  # output, events, the end, in order
        self._viewers: list = []  # bridges
        self._behind: set = set()  # viewers handed nothing until they have caught up
        self._acked = False  # a viewer acknowledged something: one behind may have caught up
        self.screen.feed(terminal.attach(self))  # TerminalGone when it was closed meanwhile
        threading.Thread(target=self._run, daemon=True, name="terminal-broadcast").start()

    @property
    def cols(self) -> int:
        return self.terminal.cols

    @property
    def rows(self) -> int:
        return self.terminal.rows

    @property
    def closed(self) -> bool:
        return self.closed_why is not None

    def close(self, message: dict, code: int, reason: str, why: str = "ended") -> None:
        """End it: after what is queued, every viewer hears message and is closed with
        code. A viewer that comes later is refused as by a closed terminal."""
        with self._lock:
            if self.closed_why is not None:
                return
            self.closed_why = why
            self._pending.append((message, code, reason))
            self._wake.notify()
        self.terminal.detach(self)

    # -- the terminal's side (its reader thread): queue and wake, nothing more -------------

    def output(self, data: bytes) -> None:
        with self._lock:
            self._pending.append(data)
            self._wake.notify()

    def event(self, message: dict) -> None:
        kind = message.get("type")
        if kind in ("closed", "exit"):  # a fresh shell follows: viewers reconnect to it
            why = "stopping" if message.get("why") == "stopping" else "reset"
            self.close({"type": "closed", "why": why},
                       Close.GOING_AWAY if why == "stopping" else Close.RESTARTED,
                       "the presenter's terminal was closed", why)
        elif kind in FORWARDED:
            with self._lock:
                self._pending.append(message)
                self._wake.notify()

    # -- the viewers' side (their bridges' threads) --------------------------------------------

    def attach(self, viewer) -> bytes:
        """Register viewer; the replay it shows before the output that follows."""
        with self._lock:
            if self.closed_why is not None:
                raise TerminalGone("the presenter's terminal was closed")
            self._viewers.append(viewer)
            return self.screen.replay()

    def detach(self, viewer) -> None:
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
            self._behind.discard(viewer)

    def acked(self) -> None:
        with self._lock:
            if self._behind:
                self._acked = True
                self._wake.notify()

    def write_some(self, data: bytes) -> int:
        return len(data)  # a viewer's keys go nowhere (its bridge is read-only anyway)

    def resize(self, rows: int, cols: int) -> None:
        pass  # the presenter's window decides the size

    # -- the broadcast's thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug: say so, and let the viewers go rather than stall them
            log.exception("presenting a terminal")
            with self._lock:
                viewers, self._viewers = list(self._viewers), []
            for viewer in viewers:
                viewer.close(Close.NO_TERMINAL, "the lab server failed; reload the page")

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._acked:
                    self._wake.wait()
                batch, self._pending, self._acked = self._pending, [], False
                for item in batch:  # the screen is what the viewers were handed, so that
                    if isinstance(item, bytes):  # a replay taken now continues it exactly
                        self.screen.feed(item)
                viewers = list(self._viewers)
            for item in _joined(batch):
                if isinstance(item, bytes):
                    self._hand_on(item, viewers)
                elif isinstance(item, dict):
                    for viewer in viewers:
                        viewer.event(item)
                else:
                    self._end(viewers, *item)
                    return
            self._catch_up()

    def _hand_on(self, data: bytes, viewers: list) -> None:
        for viewer in viewers:
            if viewer in self._behind:
                continue
            if viewer.unacked > BEHIND:  # too far behind: it misses this and what follows
                with self._lock:
                    self._behind.add(viewer)
                continue
            viewer.output(data)

    def _catch_up(self) -> None:
        """A viewer behind that has acknowledged all it was sent gets a fresh screen."""
        with self._lock:
            ready = [v for v in self._behind if v.unacked == 0]
            self._behind.difference_update(ready)
            replay = self.screen.replay() if ready else b""
        fresh = RESET + replay
        for viewer in ready:
            for i in range(0, len(fresh), CHUNK):  # frames of 64 KiB at most, as ever
                viewer.output(fresh[i:i + CHUNK])

    def _end(self, viewers: list, message: dict, code: int, reason: str) -> None:
        """Said and closed to every viewer: none attached after the end was queued."""
        with self._lock:
            self._viewers.clear()
            self._behind.clear()
        for viewer in viewers:
            viewer.event(message)
            viewer.close(code, reason)


def _joined(batch: list) -> list:
    """Runs of output joined into chunks of up to 64 KiB: one send per viewer for what the
    reader read in many, and no frame larger than a terminal's own."""
    out: list = []
    run: list[bytes] = []
    size = 0
    for item in batch:
        if isinstance(item, bytes) and size + len(item) <= CHUNK:
            run.append(item)
            size += len(item)
            continue
        if run:
            out.append(b"".join(run))
            run, size = [], 0
        if isinstance(item, bytes):
            run, size = [item], len(item)
        else:
            out.append(item)
    if run:
        out.append(b"".join(run))
    return out
