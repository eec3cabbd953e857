"""The terminal's data path in C (pump.c, built by `make install` as libnslab-pump.so).

A Pump reads a terminal's pty and sends each chunk straight to the sockets of the
attached Sinks as a websocket binary frame, without Python's GIL, so a keystroke's echo
leaves the server in C; the chunk then comes back to Python for the screen, the shell
marks and whatever a socket did not take. A Sink is one websocket's side of that: its
mutex is the websocket bridge's send lock too (web/terminal.py). An Inlet is the way in:
it waits for a websocket's bytes and writes the keys in them to the pty in C, handing
everything else to the bridge's frame reader.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

_VP, _I64 = ctypes.c_void_p, ctypes.c_int64
ABI = 1  # pump.c's: a library built from another version is refused

WOKEN = 0x10000  # Inlet.wait's events: the wake-up pipe fired


class _SinkFields(ctypes.Structure):
    _fields_ = [("fd", _I64), ("clear", _I64), ("partial", _I64), ("sent", _I64),
                ("mu", ctypes.c_char * 64)]


class _InletResult(ctypes.Structure):
    _fields_ = [(name, _I64) for name in ("events", "received", "consumed", "ack",
                                          "write_off", "write_len", "gone")]


@functools.cache
def load(path: Path) -> ctypes.CDLL:
    """The library at path; OSError with the cause if it cannot be loaded."""
    try:
        lib = ctypes.CDLL(str(path), use_errno=True)  # not PyDLL: calls release the GIL
    except OSError as e:
        raise OSError(f"cannot load {path} ({e}): run `make install`") from None
    stale = OSError(f"{path} was built from another version of labsteps/pump.c: "
                    "run `make install`")
    try:
        lib.nslab_abi.restype = _I64
        if lib.nslab_abi() != ABI:
            raise stale
    except AttributeError:
        raise stale from None
    for name, args, result in [
            ("nslab_sink_size", [], _I64), ("nslab_pump_size", [], _I64),
            ("nslab_sink_init", [_VP, ctypes.c_int], None),
            ("nslab_lock", [_VP], None), ("nslab_unlock", [_VP], None),
            ("nslab_pump_init", [_VP, ctypes.c_int, ctypes.c_int], None),
            ("nslab_pump_add", [_VP, _VP], ctypes.c_int),
            ("nslab_pump_remove", [_VP, _VP], None),
            ("nslab_pump_read", [_VP, ctypes.c_int, _VP, _I64], _I64),
            ("nslab_pump_close", [_VP], None),
            ("nslab_inlet_wait", [_VP, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_int, _I64, _VP, _I64, _VP], None)]:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
    if lib.nslab_sink_size() != ctypes.sizeof(_SinkFields):
        raise stale
    return lib


class Sink:
    """One websocket the pump may send to. `with sink:` holds its send lock.

    Under the lock: `clear` says the pump may send (the owner sets it before unlocking),
    `partial` that the pump sent part of a frame whose rest the owner must send before
    anything else, `sent` what the pump sent of the last chunk's frame (-1: nothing,
    -2: the socket failed)."""

    def __init__(self, lib: ctypes.CDLL, fd: int):
        self.fields = _SinkFields()
        self.address = ctypes.addressof(self.fields)
        lib.nslab_sink_init(self.address, fd)
        self._lock, self._unlock = lib.nslab_lock, lib.nslab_unlock

    def __enter__(self) -> _SinkFields:
        self._lock(self.address)
        return self.fields

    def __exit__(self, *exc) -> None:
        self._unlock(self.address)


class Pump:
    """Reads one pty for its terminal's reader thread. Verbs: read, add, remove."""

    def __init__(self, lib: ctypes.CDLL, pty: int, wake: int, chunk: int):
        self.lib = lib
        self._state = ctypes.create_string_buffer(lib.nslab_pump_size())
        self.address = ctypes.addressof(self._state)
        lib.nslab_pump_init(self.address, pty, wake)
        self._buf = ctypes.create_string_buffer(chunk)
        self._buf_address, self._chunk = ctypes.addressof(self._buf), chunk
        self._sinks: list[Sink] = []  # kept alive while the C side points at them

    def read(self, watch_pty: bool) -> bytes | None:
        """The next chunk, already sent to the clear sinks; b"" when woken (or when the
        pty is not watched); None when every process has closed the pty."""
        n = self.lib.nslab_pump_read(self.address, watch_pty, self._buf_address, self._chunk)
        if n > 0:
            return ctypes.string_at(self._buf_address, n)
        if n == -1:
            return None
        if n == -2:
            raise OSError(ctypes.get_errno(), "reading the terminal failed")
        return b""

    def add(self, sink: Sink) -> bool:
        """Send to sink from now on; False when the pump has as many as it takes."""
        if self.lib.nslab_pump_add(self.address, sink.address) != 0:
            return False
        self._sinks.append(sink)
        return True

    def remove(self, sink: Sink) -> None:
        self.lib.nslab_pump_remove(self.address, sink.address)
        if sink in self._sinks:
            self._sinks.remove(sink)

    def close(self) -> None:
        """No more reading, and no more keys from any Inlet: call it before closing the
        pty or the wake-up pipe (their numbers may then be reused)."""
        self.lib.nslab_pump_close(self.address)


class Received:
    """What one Inlet.wait brought. events: the socket's poll flags, | WOKEN. came: bytes
    came. data: those for the frame reader (b"": none, None: the peer is gone),
    unwritten: keys the pty did not take yet, ack: the largest acknowledgement handled,
    gone: the pty is closed."""

    __slots__ = ("ack", "came", "data", "events", "gone", "unwritten")


class Inlet:
    """A websocket's way into a pump's pty. One verb: wait."""

    RECV = 65536

    def __init__(self, pump: Pump, sock: int, wake: int, *, max_frame: int, keys: bool):
        self._pump = pump
        self._args = (sock, wake)
        self._keys, self._max_frame = int(keys), min(max_frame, 65535)
        self._buf = ctypes.create_string_buffer(self.RECV)
        self._buf_address = ctypes.addressof(self._buf)
        self._result = _InletResult()
        self._result_address = ctypes.addressof(self._result)

    def wait(self, timeout: float, want_out: bool, fast: bool) -> Received:
        """Wait up to timeout seconds for the socket (readable, or writable if want_out)
        or the wake-up pipe. With fast (the frame reader holds nothing unfinished), the
        whole short key frames and acks at the start of what came are handled here."""
        r, got = self._result, Received()
        ms = min(int(timeout * 1000) + 1, 2**31 - 1)
        self._pump.lib.nslab_inlet_wait(self._pump.address, *self._args, ms,
                                   want_out, fast, self._keys, self._max_frame,
                                   self._buf_address, self.RECV, self._result_address)
        got.events, got.ack, got.gone, got.came = r.events, r.ack, r.gone, r.received > 0
        got.unwritten = ctypes.string_at(self._buf_address + r.write_off, r.write_len) \
            if r.write_len else b""
        if r.received > 0:
            got.data = ctypes.string_at(self._buf_address + r.consumed, r.received - r.consumed)
        else:
            got.data = b"" if r.received == -1 else None
        return got
