"""The terminal websocket: a bridge between one browser tab and one lab host terminal.

Protocol (../shared/api.md): binary frames are raw bytes both ways; text frames are JSON
control messages from the client (resize, ack) and events from the server (hello, command,
exit, error). The bridge thread polls the socket. Output leaves from the terminal's
pump (labsteps/pump.c), which sends each chunk the pty gives straight onto every
socket with nothing waiting, without Python's GIL; the chunk then comes to output()
here, which only counts it, or queues the rest of a frame the socket did not take all
of. What waits (that rest, output while something waits, events) is sent by the bridge
thread, in order; the pump sends again once the queue is empty. Output the pump did not
send (the replay, viewers beyond what it takes) goes from output() itself: small chunks
at once, big ones (a flood's) through the queue. Nothing blocks. Output is acknowledged
by the client after xterm.js rendered it; see labsteps/terminal.py for the flow control
that rests on that.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice

from flask import Blueprint, current_app, request
from flask_sock import Sock

from labsteps.terminal import pump
from labsteps.terminal.pty import CHUNK, TerminalGone, WakeUp
from web import current_lab, wsframe
from web.errors import ApiError
from web.session import current_attendee

MAX_PENDING = 4 * 1024 * 1024  # a client that acks what it never read is cut off here
DEFER = 8 * 1024  # output chunks from this size on are sent by the bridge thread
# An ack as browsers (JSON.stringify) and Python clients (json.dumps) write it; anything
# else that is an ack still parses as JSON in _control, only slower.
_ACK = re.compile(rb"[ \t\r\n]*".join(  # JSON's whitespace between the tokens
    [rb"\{", rb'"type"', b":", rb'"ack"', b",", rb'"bytes"', b":", rb"([0-9]{1,18})", rb"\}"]))


class NoThread:
    """Given to simple-websocket as its thread class: the bridge reads the socket itself."""

    def __init__(self, target=None, **_):
        self.name = "nslab-websocket"

    def start(self) -> None:
        pass


class _SendLock:
    """The bridge's lock: the mutex of its sink, which the pump holds around its sends.
    Unlocking tells the pump whether it may send: only while nothing waits here."""

    def __init__(self, bridge: Bridge):
        self.bridge, self.sink, self.fields = bridge, bridge.sink, bridge.sink.fields

    def __enter__(self) -> None:
        self.sink.__enter__()

    def __exit__(self, *exc) -> None:
        b, f = self.bridge, self.fields
        f.clear = not (b._backlog or b._dead or b._held is not None or f.partial)
        self.sink.__exit__()


class Bridge:
    def __init__(self, sock: socket.socket, terminal, *, max_input: int, read_only=False,
                 ping_every: float = 20.0, role: str = "attendee", resizes: bool = True,
                 on_attach: Callable[[], None] | None = None):
        self.sock, self.terminal, self.read_only = sock, terminal, read_only
        self.role = role  # "attendee", "watch" or "takeover": Terminal.roles() tells
        # A peer silent for 2.5 pings is gone (Wi-Fi dropped, laptop asleep).
        self.ping_every, self.dead_after = ping_every, ping_every * 2.5
        self.reader = wsframe.Reader(max_input)
        self.sent = 0  # output bytes queued for the client
        # The largest ack. The pump sends a chunk before output() counts it, so an ack can
        # run ahead of sent for a moment: acked is what of it sent covers.
        self._claimed = 0
        self.sink = terminal.sink(sock.fileno())  # the pump sends output to it directly
        self._sink = self.sink.fields  # read and written under _lock
        self._lock = _SendLock(self)
        # What waits for the bridge thread: framed bytes (the queue), then output not yet
        # framed (loose), which it sends as one frame of up to CHUNK bytes.
        self._queue: deque[bytes | memoryview] = deque()
        self._queued = 0
        self._loose: list[bytes] = []
        self._loose_size = 0
        self._closing: tuple[int, str] | None = None
        self._dead = False
        # Live output during the replay: (None, output) or (header, body) of an event.
        self._held: list[tuple[bytes | None, bytes]] | None = None
        self.resizes = resizes  # False for a trainer: the attendee's window decides the size
        self.on_attach = on_attach  # called once the bridge sees the terminal (watch notices)
        self._wakeup = WakeUp()  # the reader thread's output and closes reach run() by it
        self._owner = threading.current_thread()
        sock.setblocking(False)
        # Keys come in through C: see labsteps/pump.c. The rest goes to self.reader.
        self._inlet = terminal.inlet(sock.fileno(), self._wakeup.fd, max_frame=max_input,
                                     keys=not read_only)

    @property
    def acked(self) -> int:
        """Output bytes the client says it has rendered."""
        return min(self._claimed, self.sent)

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    # -- called by the terminal's reader thread ------------------------------------

    def output(self, data: bytes) -> None:
        """Output for the browser, which the pump may have sent already (all or part)."""
        with self._lock:
            self.sent += len(data)
            premade, self._sink.sent = self._sink.sent, -1
            if premade >= 0:
                wake = self._rest_of_frame(data, premade)
            elif premade == -2:  # the pump's send failed: the peer is gone
                self._dead = wake = True
            elif self._held is not None and threading.current_thread() is not self._owner:
                self._held.append((None, data))
                return
            else:
                wake = self._output_locked(data, len(data) >= DEFER)
        if wake:
            self._wakeup.wake()

    def _rest_of_frame(self, data: bytes, sent: int) -> bool:
        """The pump sent the first `sent` bytes of data's frame: queue the rest first."""
        head = wsframe.header(wsframe.BINARY, len(data))
        if sent >= len(head) + len(data):
            return False
        self._sink.partial = 0
        rest = (head + data)[sent:]
        self._queue.appendleft(rest)  # it was sent while nothing waited: it goes first
        self._queued += len(rest)
        return True

    def event(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self._send(wsframe.header(wsframe.TEXT, len(body)), body)
        if message.get("type") == "exit":
            self.close(1000, "the shell has exited")
        elif message.get("type") == "closed":
            self._gone(message.get("why"))

    def _gone(self, why: str | None) -> None:
        """The terminal was closed: by a stop of the server, or a reset (a new one follows)."""
        if why == "stopping":
            self.close(1001, "the lab server is stopping")
        else:
            self.close(1012, "the lab host was restarted")

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = (code, reason)
            self._wakeup.wake()

    # -- the bridge thread -------------------------------------------------------

    def run(self) -> None:
        self._held = []  # live output the reader hands over before the replay is queued
        try:
            replay = self.terminal.attach(self)
        except TerminalGone:  # a reset or a stop closed it while this connection opened
            self._gone(self.terminal.closed_why)
            self._finish()
            return
        try:
            self.event({"type": "hello", "cols": self.terminal.cols, "rows": self.terminal.rows,
                        "replay": len(replay), "read_only": self.read_only})
            for i in range(0, len(replay), CHUNK):
                self.output(replay[i:i + CHUNK])
            with self._lock:  # what came live meanwhile goes out next, before anything newer
                held, self._held = self._held, None
                for head, body in held:
                    if head is None:
                        self._output_locked(body, True)
                    else:
                        self._send_locked(head, body)
            if self.on_attach:
                self.on_attach()
            self._loop()
        finally:
            self.terminal.detach(self)
            self._finish()

    def _loop(self) -> None:
        last_seen = last_ping = time.monotonic()
        while not self._dead and self._closing is None:
            # While the pump's part of a frame waits for output() to queue the rest,
            # nothing else may be sent; output() wakes this thread when it is queued.
            waiting = self._backlog and not self._sink.partial
            timeout = max(0.0, last_ping + self.ping_every - time.monotonic())
            got = self._inlet.wait(timeout, bool(waiting), self.reader.idle)
            now = time.monotonic()
            if got.events & (select.POLLOUT | pump.WOKEN):  # woken for queued output too
                self._flush()
            if got.data is None:
                self._dead = True
                return
            if got.gone:
                self.close(1000, "the shell has exited")
            elif got.unwritten:  # a paste the shell has not read yet: wait for it here
                self._keys(got.unwritten)
            if got.data:
                self._received(got.data)
            if got.ack:
                self._ack(got.ack)
            if got.came:
                # A paste into a busy shell can hold this thread in write() for a while;
                # the peer could not be heard meanwhile, so that is no silence.
                last_seen = now = time.monotonic()
            if now - last_seen > self.dead_after:
                self._dead = True
            elif now - last_ping >= self.ping_every:
                self._send(wsframe.header(wsframe.PING, 0), b"")
                last_ping = now

    def _received(self, data: bytes) -> None:
        """Bytes for the frame reader. The messages before a protocol error still count
        (keys typed before it reach the shell); the first error in the stream closes."""
        try:
            messages, error = self.reader.feed(data), None
        except wsframe.ProtocolError as e:
            messages, error = e.before, e
        try:
            self._messages(messages)
        except wsframe.ProtocolError as e:  # in a message before the reader's error
            error = e
        if error:
            self.close(error.code, error.reason)

    def _messages(self, messages: list[tuple[int, bytes]]) -> None:
        # A client acknowledges the echo of one key just before it sends the next, so both
        # often come in one read: the keys go to the shell first, the acks are counted after.
        acks = 0
        for opcode, payload in messages:
            if opcode == wsframe.TEXT and (m := _ACK.fullmatch(payload)):
                acks = max(acks, int(m[1]))
            else:
                self._message(opcode, payload)
        if acks:
            self._ack(acks)

    def _ack(self, total: int) -> None:
        before = self.unacked
        self._claimed = max(self._claimed, total)
        if self.unacked < before:
            self.terminal.acked()

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == wsframe.BINARY:
            if not self.read_only and payload:
                self._keys(payload)
        elif opcode == wsframe.TEXT:
            self._control(payload)
        elif opcode == wsframe.PING:
            self._send(wsframe.header(wsframe.PONG, len(payload)), payload)
        elif opcode == wsframe.CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
            self.close(code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000, "")

    def _keys(self, data: bytes) -> None:
        try:
            self.terminal.write(data)
        except TerminalGone:
            self.close(1000, "the shell has exited")

    def _control(self, payload: bytes) -> None:
        try:
            message = json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise wsframe.ProtocolError(1007, "text frames must be UTF-8") from None
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ack" and _count(message.get("bytes")):
            self._ack(message["bytes"])
        elif kind == "resize" and _count(message.get("cols"), 2, 1000) and \
                _count(message.get("rows"), 1, 500):
            if not self.read_only and self.resizes:
                try:
                    self.terminal.resize(message["rows"], message["cols"])
                except TerminalGone:
                    self.close(1012, "the lab host was restarted")
        else:
            self.event({"type": "error", "message": "ignored a control message: expected "
                        "{\"type\": \"resize\", \"cols\": C, \"rows\": R} or "
                        "{\"type\": \"ack\", \"bytes\": N}"})

    # -- sending -----------------------------------------------------------------

    def _send(self, head: bytes, body: bytes) -> None:
        """Send one frame (an event, a ping, a close) after any output before it."""
        with self._lock:
            if self._held is not None and threading.current_thread() is not self._owner:
                self._held.append((head, body))
                return
            wake = self._send_locked(head, body)
        if wake:
            self._wakeup.wake()

    @property
    def _backlog(self) -> bool:
        """Output or frames wait for the bridge thread."""
        return bool(self._queue or self._loose)

    def _send_locked(self, head: bytes, body: bytes) -> bool:
        """Send now, or queue behind what waits (the caller holds the lock). True when the
        bridge thread must be woken: it had nothing to send, or the connection died."""
        if self._dead:
            return False
        if self._backlog or self._sink.partial:
            self._frame_loose()
            return self._enqueue(head, body)
        try:
            n = self.sock.sendmsg([head, body])
        except BlockingIOError:
            n = 0
        except OSError:
            self._dead = True
            return True
        if n == len(head) + len(body):
            return False
        return self._enqueue((head + body)[n:])

    def _output_locked(self, data: bytes, bulk: bool) -> bool:
        """Send data now, or add it to the loose output (bulk, or something waits already)."""
        if not bulk and not self._backlog:
            return self._send_locked(wsframe.header(wsframe.BINARY, len(data)), data)
        if self._dead:
            return False
        wake = not self._backlog
        if self._loose_size + len(data) > CHUNK:
            self._frame_loose()
        self._loose.append(data)
        self._loose_size += len(data)
        return self._over_limit() or wake

    def _frame_loose(self) -> None:
        if self._loose:
            # One header, the chunks as they are: sendmsg gathers them, nothing is copied.
            self._enqueue(wsframe.header(wsframe.BINARY, self._loose_size), *self._loose)
            self._loose, self._loose_size = [], 0

    def _enqueue(self, *parts: bytes) -> bool:
        wake = not self._backlog
        for part in parts:
            if part:
                self._queue.append(part)
                self._queued += len(part)
        return self._over_limit() or wake

    def _over_limit(self) -> bool:
        if self._queued + self._loose_size > MAX_PENDING:
            self._dead = True
        return self._dead

    def _flush(self) -> None:
        """Send what waits, as much as the socket takes (the bridge thread only).

        The send runs outside the lock, so the reader thread can add output meanwhile: it
        only appends, and what was sent leaves the queue's front afterwards."""
        with self._lock:
            if self._dead or self._sink.partial:
                return
            self._frame_loose()
            if not self._queue:
                return
            parts = list(islice(self._queue, 0, 64))
        try:
            n = self.sock.sendmsg(parts)
        except BlockingIOError:
            return
        except OSError:
            with self._lock:
                self._dead = True
            return
        with self._lock:
            self._queued -= n
            while n:
                first = self._queue[0]
                if len(first) > n:
                    self._queue[0] = memoryview(first)[n:]
                    break
                n -= len(first)
                self._queue.popleft()

    def _finish(self) -> None:
        """Send the close frame (best effort) and release the pipe; the server closes the socket."""
        deadline = time.monotonic() + 0.5
        while self._sink.partial and not self._dead and time.monotonic() < deadline:
            time.sleep(0.005)  # the reader is about to queue the rest of the pump's frame
        if self._sink.partial:  # it never will (it no longer saw this bridge): the frame
            self._dead = True  # cannot be finished, so no close frame can follow it
        if not self._dead:
            code, reason = self._closing or (1000, "")
            payload = wsframe.close_payload(code, reason)
            self._send(wsframe.header(wsframe.CLOSE, len(payload)), payload)
            deadline = time.monotonic() + 2
            while self._backlog and not self._dead and \
                    time.monotonic() < deadline:
                select.select([], [self.sock], [], 0.1)
                self._flush()
        with self._lock:
            self._dead = True
        self._wakeup.close()  # the reader thread may still try to wake this bridge: a no-op


def _count(value: object, lo: int = 0, hi: int = 1 << 62) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


bp = Blueprint("terminal", __name__)
sock = Sock()


@bp.before_request
def _only_websockets():
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "not_websocket", "This address is a websocket; open it from the "
                       "lab page.")
    if request.view_args and request.view_args.get("n") not in (1, 2):
        raise ApiError(404, "no_terminal", "Terminals are numbered 1 and 2.")


@sock.route("/ws/terminal/<int:n>", bp=bp)
def terminal_ws(ws, n: int):
    attendee = current_attendee()
    serve(ws, lambda: current_lab().terminal(attendee, n), f"{attendee.name}'s terminal {n}")


def serve(ws, terminal: Callable[[], object], what: str, **options) -> None:
    """Bridge the open websocket ws to terminal() until either ends; options go to Bridge.

    A terminal that cannot be had closes the websocket with 1011 and the reason; what names
    it in the log."""
    lab = current_lab()
    try:
        term = terminal()
    except Exception as e:  # reported to the page, logged for the trainer
        current_app.logger.warning("no terminal for %s: %s", what, e,
                                   exc_info=not isinstance(e, LookupError))
        code = 1001 if lab.stopping.is_set() else 1011
        payload = wsframe.close_payload(code, f"no terminal: {e}"[:120])
        ws.sock.sendall(wsframe.header(wsframe.CLOSE, len(payload)) + payload)
    else:
        try:
            Bridge(ws.sock, term, max_input=lab.config.max_input, ping_every=lab.config.ws_ping,
                   **options).run()
        except Exception:  # the websocket is open: no HTTP error page can follow now
            current_app.logger.exception("bridge to %s", what)
    ws.connected = False  # the bridge closed the websocket; flask-sock must not again
