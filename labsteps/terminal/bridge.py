"""The websocket bridge: one browser tab on one terminal, framed by wsproto.

    conn, reply = handshake(headers, "/ws/terminal/1")  # no extensions are agreed
    sock.sendall(reply)
    Bridge(sock, conn, terminal, max_input=262144).run()  # until either side ends

Protocol (../shared/api.md): binary frames are raw bytes both ways; text frames are JSON,
control messages from the client (resize, ack) and events from the server (hello,
command, exit, closed, error). wsproto does every byte of the framing; this module only
moves bytes between it, the socket and the terminal.

Two threads touch a bridge. The bridge's own thread runs run(): it polls the socket and
a wake-up pipe, feeds what comes to wsproto, writes keys into the pty, counts acks, pings
a quiet peer and sends whatever waits. The terminal's reader thread calls output() and
event(): a small frame (an echo, an event) is sent at once if nothing waits before it,
else it joins the queue; a flood's chunks are left to the bridge's thread to frame and
send, so that the reader goes straight back to the pty, which the shell is waiting on.
One lock keeps the two in order around wsproto and the socket. The client acknowledges
output after xterm.js rendered it; labsteps/terminal/pty.py pauses the reader on that.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from labsteps.errors import HandshakeError, LabError

CHUNK = 64 * 1024  # the largest output frame, and how much is read from the socket at once
DEFER = 8 * 1024  # output chunks from this size on (a flood's) are sent by the bridge's thread
MAX_PENDING = 4 * 1024 * 1024  # queued for a client that does not read: it is cut off
MAX_CONTROL = 4096  # a JSON control message is a few dozen bytes
RETRY = 0.01  # seconds between tries to type input the shell has not read yet
LINGER = 1.0  # seconds a closing connection waits for the peer's close and FIN, at most


class Close:
    """Close codes (RFC 6455 and the ones the page acts on)."""

    NORMAL = 1000  # also "the shell has exited": the page offers a new shell
    GOING_AWAY = 1001  # the lab server is stopping: the page retries
    PROTOCOL = 1002  # this one and the next come from wsproto, as a frame breaks the rules
    BAD_DATA = 1007  # a text frame that is not UTF-8
    TOO_BIG = 1009
    NO_TERMINAL = 1011
    RESTARTED = 1012  # the lab host was made fresh: the page reconnects to a new shell


def handshake(headers: list[tuple[bytes, bytes]], path: str) -> tuple[WSConnection, bytes]:
    """Accept an upgrade whose HTTP request was parsed already (by the WSGI server).

    Returns the connection and the 101 response to send. No extension is agreed, so a
    browser's permessage-deflate offer is declined: terminal output on a LAN is cheap to
    send and costly to compress."""
    conn = WSConnection(ConnectionType.SERVER)
    try:
        conn.initiate_upgrade_connection(headers, path)
        if not any(isinstance(e, Request) for e in conn.events()):
            raise HandshakeError("not a websocket upgrade")
        return conn, conn.send(AcceptConnection(extensions=[]))
    except (RemoteProtocolError, LocalProtocolError, h11.ProtocolError, ValueError) as e:
        # ValueError: a Host that is no name (h11 decodes it as IDNA)
        raise HandshakeError(f"not a websocket upgrade: {e}") from None


class Attachable(Protocol):  # what a bridge needs of labsteps.terminal.pty.Terminal
    cols: int
    rows: int
    closed_why: str | None

    def attach(self, sub: Bridge) -> bytes: ...

    def detach(self, sub: Bridge) -> None: ...

    def write_some(self, data: bytes) -> int: ...

    def resize(self, rows: int, cols: int) -> None: ...

    def acked(self) -> None: ...


class Bridge:
    """One websocket on one terminal. Verbs: run (the bridge's thread), output and event
    (the terminal's reader), close (anyone)."""

    def __init__(self, sock: socket.socket, conn: WSConnection, terminal: Attachable, *,
                 max_input: int, ping_every: float = 20.0, role: str = "attendee",
                 read_only: bool = False, resizes: bool = True,
                 on_attach: Callable[[], None] | None = None):
        self.sock, self.conn, self.terminal = sock, conn, terminal
        self.max_input = max_input
        self.role = role  # "attendee", "watch" or "takeover": Terminal.roles() tells
        self.read_only = read_only  # keys and resizes are dropped (a trainer watching)
        self.resizes = resizes  # False for a trainer: the attendee's window decides the size
        self.on_attach = on_attach  # called once the replay is queued (watch notices)
        # A peer silent for 2.5 pings is gone (Wi-Fi dropped, laptop asleep).
        self.ping_every, self.dead_after = ping_every, ping_every * 2.5
        self.sent = 0  # output bytes framed for the client
        self.acked = 0  # output bytes the client says it has rendered
        self._lock = threading.Lock()  # wsproto's state, the socket's sends, the queue
        self._queue: deque[memoryview] = deque()  # framed, waiting for the socket
        self._queued = 0
        self._loose: list[bytes] = []  # a flood's output, not framed yet
        self._loose_size = 0
        self._dead = False  # the socket failed or the client fell too far behind
        self._closing: tuple[int, str] | None = None
        self._message = bytearray()  # the binary message being received, for its size
        self._text: list[str] = []  # the text message being received, in fragments
        self._text_size = 0  # its characters, and one for each fragment (some are empty)
        self._input = bytearray()  # keys the shell has not read yet
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        sock.setblocking(False)

    @property
    def unacked(self) -> int:
        return self.sent - min(self.acked, self.sent)

    # -- the terminal's side -------------------------------------------------------

    def output(self, data: bytes) -> None:
        with self._lock:
            self.sent += len(data)
            if len(data) < DEFER and not self._loose:
                self._send_locked(BytesMessage(data))
                return
            if self._dead:
                return
            if self._loose_size + len(data) > CHUNK:
                self._frame_loose_locked()
            first = not (self._queue or self._loose)
            self._loose.append(data)
            self._loose_size += len(data)
            if self._queued + self._loose_size > MAX_PENDING:
                self._dead = True  # the client does not read what it acknowledges
            if first or self._dead:
                self._wake_locked()

    def event(self, message: dict) -> None:
        with self._lock:
            self._send_locked(TextMessage(json.dumps(message)))
        kind = message.get("type")
        if kind == "exit":
            self.close(Close.NORMAL, "the shell has exited")
        elif kind == "closed":
            self._gone(message.get("why"))

    def close(self, code: int, reason: str) -> None:
        """End the connection with code (the first close asked for wins)."""
        with self._lock:
            if self._closing is None:
                self._closing = (code, reason)
                self._wake_locked()

    # -- the bridge's thread -------------------------------------------------------

    def run(self) -> None:
        try:
            try:
                if self._attach():
                    if self.on_attach:
                        self.on_attach()
                    self._loop()
                else:  # a reset or a stop closed it while this connection opened
                    self._gone(self.terminal.closed_why)
            except Exception:
                self.close(Close.NO_TERMINAL, "the lab server failed; reload the page")
                raise  # for the log
            finally:
                self.terminal.detach(self)
                self._finish()
        finally:
            os.close(self._wake_r)
            with self._lock:
                os.close(self._wake_w)
                self._wake_w = -1

    def _attach(self) -> bool:
        """Attach to the terminal and queue the hello and the replay; False if it is closed."""
        with self._lock:  # the reader's output waits until the replay is queued
            try:
                replay = self.terminal.attach(self)
            except LabError:
                return False
            self._send_locked(TextMessage(json.dumps({
                "type": "hello", "cols": self.terminal.cols, "rows": self.terminal.rows,
                "replay": len(replay), "read_only": self.read_only,
                "max_input": self.max_input})))
            for i in range(0, len(replay), CHUNK):
                part = replay[i:i + CHUNK]
                self.sent += len(part)
                self._send_locked(BytesMessage(part))
            return True

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        last_seen = last_ping = time.monotonic()
        while not self._dead and self._closing is None:
            # A sender appends to the queue before it wakes this thread, so a wake-up
            # drained below never hides a queue that is not seen here.
            waiting = self._queue or self._loose
            poller.register(self.sock, select.POLLIN | (select.POLLOUT if waiting else 0))
            timeout = max(0.0, last_ping + self.ping_every - time.monotonic())
            if self._input:  # the shell has not read all that was typed: try again soon
                timeout = min(timeout, RETRY)
            ready = dict(poller.poll(timeout * 1000 + 1))
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 512)
                except BlockingIOError:
                    pass
            events = ready.get(self.sock.fileno(), 0)
            if events & select.POLLOUT:
                with self._lock:
                    self._flush_locked()
            if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                try:
                    data = self.sock.recv(CHUNK)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    self._dead = True  # the peer went without a close frame
                    return
                if data:
                    self._received(data)
                    last_seen = time.monotonic()
            if self._input:  # again, also after a read of acks alone: the shell may be
                self._type()  # waiting for its output's acks before it reads more
            now = time.monotonic()
            if now - last_seen > self.dead_after:
                self._dead = True
            elif now - last_ping >= self.ping_every:
                with self._lock:
                    self._send_locked(Ping(b""))
                last_ping = now

    def _received(self, data: bytes) -> None:
        """Keys go to the shell in order; acks are counted once the read is done."""
        ack = 0
        with self._lock:
            self.conn.receive_data(data)
            events = list(self.conn.events())
        for event in events:
            if isinstance(event, BytesMessage):
                self._keys(event)
            elif isinstance(event, TextMessage):
                self._text.append(event.data)
                self._text_size += len(event.data) + 1
                if self._text_size > MAX_CONTROL:
                    self.close(Close.TOO_BIG, "control messages are small JSON objects")
                elif event.message_finished:
                    text, self._text, self._text_size = "".join(self._text), [], 0
                    ack = max(ack, self._control(text))
            elif isinstance(event, Ping):
                with self._lock:
                    self._send_locked(event.response())
            elif isinstance(event, CloseConnection):
                # The peer's close, or wsproto's word on a frame that broke the protocol
                # (1002, 1007): either way the first one closes, with its code.
                self.close(_closing_code(event.code), event.reason or "")
            if self._closing is not None:
                break
        if ack > self.acked:
            before, self.acked = self.unacked, ack
            if self.unacked < before:
                self.terminal.acked()

    def _keys(self, event: BytesMessage) -> None:
        if event.message_finished and not self._message:
            keys = bytes(event.data)  # the usual case: a key or a paste in one piece
        else:
            self._message += event.data
            if not event.message_finished and len(self._message) <= self.max_input:
                return
            keys, self._message = bytes(self._message), bytearray()
        if len(keys) > self.max_input:
            self.close(Close.TOO_BIG, f"input larger than {self.max_input} bytes")
            return
        if keys and not self.read_only:
            self._input += keys
            if len(self._input) > 4 * self.max_input:
                self.close(Close.TOO_BIG, "typed far ahead of what the shell reads")
            else:
                self._type()

    def _type(self) -> None:
        """Write what the shell will take of the typed input now. The rest waits, and this
        thread goes on reading acks, pings and closes: a program that does not read its
        input may be waiting for its output to be acknowledged."""
        try:
            del self._input[:self.terminal.write_some(self._input)]
        except LabError:
            self._input.clear()
            if self.terminal.closed_why:
                self._gone(self.terminal.closed_why)
            else:
                self.close(Close.NORMAL, "the shell has exited")

    def _control(self, text: str) -> int:
        """Act on a control message; the acknowledged byte count it carries, or 0."""
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested beyond reason
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ack" and _count(message.get("bytes")):
            return message["bytes"]
        if kind == "resize" and _count(message.get("cols"), 2, 1000) and \
                _count(message.get("rows"), 1, 500):
            if not self.read_only and self.resizes:
                try:
                    self.terminal.resize(message["rows"], message["cols"])
                except LabError:
                    self.close(Close.RESTARTED, "the lab host was restarted")
            return 0
        self.event({"type": "error", "message": "ignored a control message: expected "
                    "{\"type\": \"resize\", \"cols\": C, \"rows\": R} or "
                    "{\"type\": \"ack\", \"bytes\": N}"})
        return 0

    def _gone(self, why: str | None) -> None:
        """The terminal was closed: by a stop of the server, or a reset (a new one follows)."""
        if why == "stopping":
            self.close(Close.GOING_AWAY, "the lab server is stopping")
        else:
            self.close(Close.RESTARTED, "the lab host was restarted")

    def _finish(self) -> None:
        """Send the close frame after what waits (best effort, 2 s at most)."""
        code, reason = self._closing or (Close.NORMAL, "")
        with self._lock:
            self._send_locked(CloseConnection(code, reason[:120]))
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        deadline = time.monotonic() + 2
        while (self._queue or self._loose) and not self._dead and time.monotonic() < deadline:
            poller.poll(100)
            with self._lock:
                self._flush_locked()
        with self._lock:
            gone, self._dead = self._dead, True  # the reader's output is dropped from now
        linger(self.sock, 0 if gone else LINGER)

    # -- sending (under the lock) --------------------------------------------------

    def _send_locked(self, event) -> None:
        """Frame event and send it now, or queue it behind what waits."""
        if self._dead:
            return
        self._frame_loose_locked()  # output before this frame goes first
        try:
            data = memoryview(self.conn.send(event))
        except LocalProtocolError:  # closing: nothing but the close frame goes out now
            return
        first = not self._queue
        if first:
            try:
                data = data[self.sock.send(data):]
            except BlockingIOError:
                pass
            except OSError:
                self._dead = True
                self._wake_locked()
                return
            if not data:
                return
        self._queue.append(data)
        self._queued += len(data)
        if self._queued > MAX_PENDING:
            self._dead = True  # the client does not read what it acknowledges
        if first or self._dead:  # the bridge's thread sends the rest, or ends
            self._wake_locked()

    def _frame_loose_locked(self) -> None:
        if self._loose:
            data = self._loose[0] if len(self._loose) == 1 else b"".join(self._loose)
            self._loose, self._loose_size = [], 0
            try:
                framed = memoryview(self.conn.send(BytesMessage(data)))
            except LocalProtocolError:  # closing: the output is dropped
                return
            self._queue.append(framed)
            self._queued += len(framed)

    def _flush_locked(self) -> None:
        self._frame_loose_locked()
        while self._queue and not self._dead:
            first = self._queue[0]
            try:
                n = self.sock.send(first)
            except BlockingIOError:
                return
            except OSError:
                self._dead = True
                return
            self._queued -= n
            if n < len(first):
                self._queue[0] = first[n:]
                return
            self._queue.popleft()

    def _wake_locked(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):  # full (a wake-up is pending) or closed
            pass


def linger(sock: socket.socket, timeout: float) -> None:
    """End a websocket's TCP connection once its close frame is sent: our FIN, then the
    peer's close frame and FIN, for timeout seconds at most; then shut both ways.

    In this connection's own thread. gunicorn closes the socket afterwards on its one main
    thread, and waits up to 2 s there for a peer that has not closed (a graceful close):
    every other connection's close, and every new connection, would wait behind a tab that
    stopped reading. Shut both ways, the socket leaves gunicorn nothing to wait for."""
    try:
        if timeout > 0:
            sock.shutdown(socket.SHUT_WR)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0 and poller.poll(left * 1000):
                try:
                    if not sock.recv(CHUNK):  # what comes is the peer's close: dropped
                        break
                except BlockingIOError:
                    continue
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # the peer was quicker, or is gone
        pass


def _closing_code(code: int) -> int:
    """The code to close with after the peer's close (or a parse failure) said code."""
    return code if 1000 <= code < 5000 and code not in (1005, 1006, 1015) else Close.NORMAL


def _count(value: object, lo: int = 0, hi: int = 1 << 62) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
