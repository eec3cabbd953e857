"""The terminal's data path in C (labsteps/pump.c) under the websocket bridge: a real pty
with a shell, the real pump and inlet, and a socket pair for the websocket whose server
end takes a few KiB at a time, so that the pump's sends come out partial again and again
and the bridge must finish each frame before anything else goes out."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import struct
import threading
import time

import pytest

from labsteps.terminal import pump
from labsteps.terminal.pty import Terminal
from tests.wsclient import RawSocket
from web import wsframe
from web.terminal import _ACK, Bridge


@pytest.fixture
def shell(lib_dir):
    env = {"PATH": os.environ["PATH"], "TERM": "xterm", "PS1": "$ ", "LANG": "C.UTF-8"}
    term = Terminal(["bash", "--norc", "--noprofile", "-i"], env,
                    pump_lib=lib_dir / "libnslab-pump.so")
    yield term
    term.close(grace=0)


class Viewer:
    """A browser tab, as the bridge sees it: frames over a socket pair, no handshake."""

    def __init__(self, term: Terminal, *, sndbuf: int = 4096, **options):
        ours, theirs = socket.socketpair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.raw = RawSocket.over(ours)
        self.done = threading.Event()

        def bridge():  # made and run in one thread: the bridge's own
            try:
                Bridge(theirs, term, max_input=1 << 20, **options).run()
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


def test_more_viewers_than_the_pump_sends_to_all_see_the_output(shell):
    tabs = [Viewer(shell, sndbuf=1 << 16) for _ in range(20)]  # the pump takes 16
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
    time.sleep(0.5)  # the pump's sends are partial by now, the rest queued
    tab.raw.sock.close()
    assert tab.done.wait(10), "the bridge did not end"
    other = Viewer(shell, sndbuf=1 << 16)
    other.keys(b"\x03")
    other.keys(b"echo noch-''da\r")
    assert b"noch-da\r\n" in other.output_until(b"noch-da\r\n")


def test_an_ack_that_overtakes_the_output_it_acknowledges_still_counts(shell):
    # The pump sends a chunk before the bridge counts it, so the browser's ack can come
    # first.
    ours, theirs = socket.socketpair()
    bridge = Bridge(theirs, shell, max_input=1024)
    bridge._ack(17)
    bridge.output(b"echo hallo-welt\r\n")
    assert bridge.unacked == 0
    ours.close()
    theirs.close()


def test_closing_a_terminal_mid_flood_tells_its_tab_of_the_reset(shell):
    tab = Viewer(shell, sndbuf=1 << 16)
    tab.keys(b"yes nslab-flut\r")
    tab.output_until(b"nslab-flut\r\nnslab-flut\r\n" * 100)
    shell.close(grace=0)  # a reset: the page is to reconnect, not to offer a new shell
    codes = [struct.unpack("!H", payload[:2])[0] for op, payload in tab.raw.frames(10)
             if op == 0x8]
    assert codes == [1012]


# -- the inlet against the frame reader it stands in front of ------------------------

MAX_INPUT = 1500


def _frame(rng: random.Random) -> bytes:
    """One client frame: mostly what browsers send, sometimes what they must not."""
    kind = rng.choice(["key"] * 6 + ["long key", "ack", "spaced ack", "resize", "text", "ping",
                                     "fragments", "unmasked", "reserved", "too big", "garbage"])
    if kind == "key":
        return RawSocket.encode(0x2, rng.randbytes(rng.randint(0, 40)))
    if kind == "long key":  # 16-bit length, sometimes over the limit
        return RawSocket.encode(0x2, rng.randbytes(rng.randint(126, 2000)))
    if kind in ("ack", "spaced ack"):
        n = rng.randint(0, 10**12)
        body = {"type": "ack", "bytes": n}
        return RawSocket.encode(0x1, json.dumps(body, separators=(",", ":") if kind == "ack"
                                                else None).encode())
    if kind == "resize":
        return RawSocket.encode(0x1, b'{"type":"resize","cols":80,"rows":24}')
    if kind == "text":
        return RawSocket.encode(0x1, rng.choice([b'{"type":"ack"}', b'{"type":"ack","bytes":1x}',
                                                 b"\xff\xfe", b"hallo"]))
    if kind == "ping":
        return RawSocket.encode(0x9, b"p")
    if kind == "fragments":
        first = bytearray(RawSocket.encode(0x2, b"ab"))
        first[0] &= 0x7F  # no FIN: a continuation follows
        return bytes(first) + RawSocket.encode(0x0, b"cd")
    if kind == "unmasked":
        return bytes([0x82, 3]) + b"abc"
    if kind == "reserved":
        frame = bytearray(RawSocket.encode(0x2, b"x"))
        frame[0] |= 0x40
        return bytes(frame)
    if kind == "too big":
        return RawSocket.encode(0x2, b"z" * (MAX_INPUT + 1))
    return rng.randbytes(rng.randint(1, 8))


def _by_the_reader(stream: bytes) -> tuple[bytes, list, int, int | None]:
    """Keys, other messages, the largest ack and the close code, as Python's reader alone
    would make of the stream."""
    keys, messages, ack, code = bytearray(), [], 0, None
    try:
        received = wsframe.Reader(MAX_INPUT).feed(stream)
    except wsframe.ProtocolError as e:
        received, code = e.before, e.code
    for opcode, payload in received:
        ack = _sort(opcode, payload, keys, messages, ack)
    return bytes(keys), messages, ack, code


def _sort(opcode: int, payload: bytes, keys: bytearray, messages: list, ack: int) -> int:
    if opcode == wsframe.BINARY:
        keys += payload
    elif opcode == wsframe.TEXT and (m := _ACK.fullmatch(payload)):
        return max(ack, int(m[1]))
    else:
        messages.append((opcode, payload))
    return ack


def _through_the_inlet(lib, stream: bytes, cuts: list[int]) -> tuple[bytes, list, int, int | None]:
    """The same, with the inlet in front: the stream arrives in pieces cut at cuts. A pipe
    stands in for the pty (the inlet writes the keys into it)."""
    ours, theirs = socket.socketpair()
    keys_r, keys_w = os.pipe2(os.O_NONBLOCK)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK)
    try:
        inlet = pump.Inlet(pump.Pump(lib, keys_w, wake_r, 1024), theirs.fileno(), wake_r,
                           max_frame=MAX_INPUT, keys=True)
        reader, keys, messages, ack = wsframe.Reader(MAX_INPUT), bytearray(), [], 0
        for a, b in zip([0, *cuts], [*cuts, len(stream)]):
            ours.sendall(stream[a:b])
            got = inlet.wait(5, False, reader.idle)
            assert got.came and not got.gone
            with contextlib.suppress(BlockingIOError):
                keys += os.read(keys_r, 1 << 20)
            keys += got.unwritten
            ack = max(ack, got.ack)
            try:
                received, code = reader.feed(got.data), None
            except wsframe.ProtocolError as e:
                received, code = e.before, e.code
            for opcode, payload in received:
                ack = _sort(opcode, payload, keys, messages, ack)
            if code is not None:
                return bytes(keys), messages, ack, code
        return bytes(keys), messages, ack, None
    finally:
        for fd in (keys_r, keys_w, wake_r, wake_w):
            os.close(fd)
        ours.close()
        theirs.close()


def test_the_inlet_makes_of_any_stream_what_the_frame_reader_makes_of_it(lib_dir):
    lib = pump.load(lib_dir / "libnslab-pump.so")
    rng = random.Random(6455)
    for _ in range(400):
        stream = b"".join(_frame(rng) for _ in range(rng.randint(1, 12)))
        cuts = sorted(rng.sample(range(1, len(stream)), min(rng.randint(0, 4), len(stream) - 1)))
        assert _through_the_inlet(lib, stream, cuts) == _by_the_reader(stream), (stream, cuts)
