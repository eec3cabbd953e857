"""The websocket bridge on a real pty with a shell: frames over a socket pair whose server
end takes a few KiB at a time, so that sends come out partial again and again and the
bridge must finish each frame before anything else goes out."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest
from wsproto.connection import Connection, ConnectionType

from labsteps.errors import HandshakeError
from labsteps.terminal import bridge
from labsteps.terminal.bridge import MAX_PENDING, Bridge, Close, handshake
from labsteps.terminal.pty import Terminal
from tests.wsclient import RawSocket


@pytest.fixture
def shell():
    env = {"PATH": os.environ["PATH"], "TERM": "xterm", "PS1": "$ ", "LANG": "C.UTF-8"}
    term = Terminal(["bash", "--norc", "--noprofile", "-i"], env)
    yield term
    term.close(grace=0)


class Viewer:
    """A browser tab, as the bridge sees it: frames over a socket pair, the handshake done."""

    def __init__(self, term: Terminal, *, sndbuf: int = 4096, **options):
        ours, theirs = socket.socketpair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.raw = RawSocket.over(ours)
        self.done = threading.Event()
        # Pings far apart: a bridge that misses a wake-up stalls until its next ping, and
        # the tests' waits run out long before that.
        options = {"max_input": 1 << 20, "ping_every": 600.0, **options}
        self.bridge = Bridge(theirs, Connection(ConnectionType.SERVER), term, **options)

        def bridge():
            try:
                self.bridge.run()
                # What gunicorn's graceful close, which comes next, would find: b"" (shut
                # for reading, nothing to wait for), or nothing yet (it would wait 2 s).
                theirs.setblocking(False)
                try:
                    self.left = theirs.recv(1)
                except BlockingIOError:
                    self.left = None
            finally:
                theirs.close()
                self.done.set()

        threading.Thread(target=bridge, daemon=True).start()
        self.received = self.acked = 0

    def keys(self, data: bytes) -> None:
        self.raw.frame(0x2, data)

    def output_until(self, marker: bytes, timeout: float = 30) -> bytes:
        """The output up to marker, acknowledged as xterm.js would after rendering."""
        out = bytearray()
        for op, payload in self.raw.frames(timeout):
            assert op in (0x1, 0x2, 0x9, 0xA), (op, payload[:80])  # text, binary, ping, pong
            if op == 0x2:
                out += payload
                self.received += len(payload)
                if self.received - self.acked >= 64 * 1024:
                    self.acked = self.received
                    self.raw.frame(0x1, json.dumps({"type": "ack",
                                                    "bytes": self.acked}).encode())
                if marker in out:
                    return bytes(out)
        raise AssertionError(f"{marker!r} not seen; last output {bytes(out[-200:])!r}")

    def close_code(self, timeout: float = 10) -> int | None:
        for op, payload in self.raw.frames(timeout):
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0]
        return None


def test_output_stays_whole_and_framed_when_the_socket_takes_little_at_a_time(shell):
    tab = Viewer(shell)
    tab.keys(b"seq 1 200000; echo zu-''ende\r")
    for i in range(200):  # not reading: the socket fills, sends come out partial, output
        tab.raw.frame(0x9, b"%d" % i)  # queues; each ping's pong must wait for a whole frame
        time.sleep(0.005)
    out = tab.output_until(b"zu-ende\r\n")
    numbers = "\r\n".join(str(i) for i in range(1, 200001)).encode()
    assert numbers in out  # every frame parsed, nothing lost, nothing doubled, in order


def test_keys_a_resize_and_acks_in_one_write_all_take_effect_in_order(shell):
    tab = Viewer(shell)
    tab.output_until(b"$ ")
    long_line = b"echo " + b"x" * 1000 + b" | wc -c\r"  # a frame with a 16-bit length
    tab.raw.sock.sendall(tab.raw.encode(0x1, b'{"type":"ack","bytes":1}') +
                         tab.raw.encode(0x2, b"echo vor-''dem\r") +
                         tab.raw.encode(0x1, b'{"type": "resize", "cols": 100, "rows": 30}') +
                         tab.raw.encode(0x2, b"stty size\r") +
                         tab.raw.encode(0x2, long_line) +
                         tab.raw.encode(0x1, b'{"type": "ack", "bytes": 2}'))
    out = tab.output_until(b"1001\r\n")
    assert out.index(b"vor-dem\r\n") < out.index(b"30 100\r\n") < out.index(b"1001\r\n")


def test_keys_split_across_frames_and_reads_arrive_whole(shell):
    tab = Viewer(shell)
    tab.output_until(b"$ ")
    first = bytearray(tab.raw.encode(0x2, b"echo geteilt-"))
    first[0] &= 0x7F  # no FIN: a continuation follows
    stream = bytes(first) + tab.raw.encode(0x0, b"''angekommen\r")
    for i in range(len(stream)):  # one byte at a time
        tab.raw.sock.sendall(stream[i:i + 1])
    assert b"geteilt-angekommen\r\n" in tab.output_until(b"geteilt-angekommen\r\n")


def test_many_viewers_all_see_the_output(shell):
    tabs = [Viewer(shell, sndbuf=1 << 16) for _ in range(20)]
    tabs[0].keys(b"echo fuer-''alle\r")
    for tab in tabs:
        assert b"fuer-alle\r\n" in tab.output_until(b"fuer-alle\r\n")


def test_a_watcher_cannot_type(shell):
    watcher = Viewer(shell, read_only=True)
    tab = Viewer(shell)
    watcher.keys(b"echo vom-''zuschauer\r")
    tab.keys(b"echo von-''anna\r")
    out = tab.output_until(b"von-anna\r\n")
    assert b"vom-zuschauer" not in out and b"vom-''zuschauer" not in out


def test_a_tab_that_goes_away_mid_flood_ends_its_bridge_and_the_shell_goes_on(shell):
    tab = Viewer(shell)
    tab.keys(b"yes nslab-flut\r")
    tab.output_until(b"nslab-flut\r\n" * 50)
    time.sleep(0.2)  # the socket is full by now and the rest queued
    tab.raw.sock.close()
    assert tab.done.wait(10), "the bridge did not end"
    other = Viewer(shell, sndbuf=1 << 16)
    other.keys(b"\x03")
    other.keys(b"echo noch-''da\r")
    assert b"noch-da\r\n" in other.output_until(b"noch-da\r\n")


def test_a_tab_that_stopped_reading_is_closed_in_its_own_thread(shell, monkeypatch):
    monkeypatch.setattr(bridge, "LINGER", 0.3)
    tab = Viewer(shell)
    tab.keys(b"yes nslab-flut\r")
    tab.output_until(b"nslab-flut\r\n" * 50)
    time.sleep(0.2)  # the socket is full by now: the close frame waits behind the output
    tab.bridge.close(Close.NORMAL, "presenting ended")
    assert tab.done.wait(10), "the bridge did not end"
    assert tab.left == b""  # gunicorn's close, on its one main thread, will not wait for it


def test_a_tab_that_answers_the_close_is_let_go_at_once(shell, monkeypatch):
    monkeypatch.setattr(bridge, "LINGER", 60.0)
    tab = Viewer(shell)
    tab.output_until(b"$ ")
    tab.bridge.close(Close.NORMAL, "presenting ended")
    assert tab.close_code() == 1000
    tab.raw.sock.settimeout(10)
    assert tab.raw.sock.recv(1) == b""  # the server's FIN follows its close frame
    tab.raw.frame(0x8, struct.pack("!H", 1000))  # as a browser answers
    tab.raw.sock.close()
    assert tab.done.wait(10), "the bridge waited for more than the peer's close"
    assert tab.left == b""


def test_a_client_that_acks_what_it_never_read_is_cut_off(shell):
    tab = Viewer(shell)
    tab.keys(b"yes nslab-flut\r")
    tab.raw.frame(0x1, json.dumps({"type": "ack", "bytes": 1 << 40}).encode())
    assert tab.done.wait(30), "the bridge did not end"
    assert tab.bridge._queued <= MAX_PENDING + 64 * 1024  # what it held stayed bounded
    other = Viewer(shell, sndbuf=1 << 16)
    other.keys(b"\x03")
    other.keys(b"echo noch-''da\r")
    assert b"noch-da\r\n" in other.output_until(b"noch-da\r\n")


def test_an_oversized_message_closes_with_1009_and_none_of_it_is_typed(shell):
    tab = Viewer(shell, max_input=1000)
    tab.output_until(b"$ ")
    tab.keys(b"echo vor-''her\r")
    tab.output_until(b"vor-her\r\n")
    tab.keys(b"echo zu-''gross " + b"x" * 1000 + b"\r")
    assert tab.close_code() == 1009
    other = Viewer(shell)  # its replay shows the screen: anything typed would be on it
    other.keys(b"echo da-''nach\r")
    out = other.output_until(b"da-nach\r\n")
    assert b"vor-her" in out and b"zu-gross" not in out and b"zu-''gross" not in out


def test_closing_a_terminal_mid_flood_tells_its_tab_of_the_reset(shell):
    tab = Viewer(shell, sndbuf=1 << 16)
    tab.keys(b"yes nslab-flut\r")
    tab.output_until(b"nslab-flut\r\nnslab-flut\r\n" * 100)
    shell.close(grace=0)  # a reset: the page is to reconnect, not to offer a new shell
    codes = [struct.unpack("!H", payload[:2])[0] for op, payload in tab.raw.frames(10)
             if op == 0x8]
    assert codes == [1012]


def test_a_tab_that_opens_on_a_closed_terminal_is_told_of_the_reset(shell):
    shell.close(grace=0)  # a reset raced the connect
    tab = Viewer(shell)
    assert tab.close_code() == 1012
    assert tab.done.wait(10), "the bridge did not end"


def test_json_nested_beyond_reason_is_answered_like_any_bad_control_message(shell):
    tab = Viewer(shell)
    tab.output_until(b"$ ")
    tab.raw.frame(0x1, b"[" * 1500 + b"]" * 1500)  # json.loads: RecursionError
    events = []
    for op, payload in tab.raw.frames(10):
        if op == 0x1:
            events.append(json.loads(payload))
            if events[-1]["type"] == "error":
                break
    tab.keys(b"echo noch-''offen\r")
    assert b"noch-offen\r\n" in tab.output_until(b"noch-offen\r\n")


def test_endless_empty_text_fragments_close_with_1009(shell):
    tab = Viewer(shell)
    empty = bytearray(tab.raw.encode(0x1, b""))
    empty[0] &= 0x7F  # no FIN: the message goes on, without growing
    cont = bytearray(tab.raw.encode(0x0, b""))
    cont[0] &= 0x7F
    tab.raw.sock.sendall(bytes(empty) + bytes(cont) * 20000)
    assert tab.close_code(timeout=20) == 1009
    assert tab.done.wait(10), "the bridge did not end"


def test_input_the_shell_does_not_read_leaves_the_tab_responsive(shell):
    # The kernel holds a few hundred KiB of input a program has not read; the rest waits
    # in the bridge, which meanwhile answers pings and hears the tab close.
    tab = Viewer(shell)
    tab.output_until(b"$ ")
    tab.keys(b"stty raw -echo; sleep 1000\r")  # raw: the kernel throttles, never drops
    time.sleep(0.3)
    for _ in range(4):
        tab.keys(b"y" * 250_000)
    tab.raw.frame(0x9, b"noch-da")
    pong = next(payload for op, payload in tab.raw.frames(10) if op == 0xA)
    assert pong == b"noch-da"
    tab.raw.frame(0x8, struct.pack("!H", 1000))
    assert tab.done.wait(10), "the bridge did not end"


UPGRADE = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
           (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
           (b"sec-websocket-version", b"13")]


def test_the_upgrade_agrees_to_no_extension():
    conn, reply = handshake([(b"host", b"lab"), *UPGRADE,
                             (b"sec-websocket-extensions", b"permessage-deflate")], "/ws/terminal/1")
    assert reply.startswith(b"HTTP/1.1 101") and b"extensions" not in reply.lower()


@pytest.mark.parametrize("headers", [
    UPGRADE,  # no Host
    [(b"host", b"xn--a"), *UPGRADE],  # a Host that is no name
    [(b"host", b"lab"), *UPGRADE[:2]],  # no key, no version
])
def test_an_upgrade_wsproto_cannot_accept_is_a_handshake_error(headers):
    with pytest.raises(HandshakeError):
        handshake(headers, "/ws/terminal/1")
