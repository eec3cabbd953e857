"""WebSocket frames (RFC 6455) for the terminal's data path, after the handshake.

flask-sock and simple-websocket do the handshake. The frames themselves are read and
written by nslab, in the thread that polls the socket, because a keystroke's round trip
through simple-websocket's reader thread, its event and wsproto's generators costs more
than the whole rest of the echo. Keys and acks in whole short frames are taken in C
before they get here (labsteps/pump.c, the inlet); this reader gets everything else, and
the tests hold the two to the same results. Compression is not negotiated (see
web/terminal.py).
"""

from __future__ import annotations

import struct

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class ProtocolError(Exception):
    """The peer broke the protocol; close with code and reason. before: the messages that
    came whole before the offending frame, which are as good as any."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason
        self.before: list[tuple[int, bytes]] = []


def header(opcode: int, length: int) -> bytes:
    """A server frame's header (FIN set, unmasked) for a payload of length bytes."""
    if length < 126:
        return struct.pack("!BB", 0x80 | opcode, length)
    if length < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, length)
    return struct.pack("!BBQ", 0x80 | opcode, 127, length)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[:120]


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class Reader:
    """Turns received bytes into whole messages: (opcode, payload) with TEXT, BINARY,
    CLOSE, PING or PONG; fragments are joined. Raises ProtocolError."""

    def __init__(self, max_message: int):
        self.max_message = max_message
        self._buf = bytearray()
        self._frag_op: int | None = None
        self._frag = bytearray()

    @property
    def idle(self) -> bool:
        """Nothing half-received: the next byte starts a frame of a new message."""
        return not self._buf and self._frag_op is None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out = []
        if not self._buf and self._frag_op is None:
            # Whole short text or binary frames, as keystrokes and acks come (often a key
            # and the ack of the last echo in one read): skip the general parser, the
            # echo's round trip waits for them.
            pos, end, limit = 0, len(data), min(125, self.max_message)
            while pos + 6 <= end and data[pos] in (0x81, 0x82) and data[pos + 1] & 0x80:
                n = data[pos + 1] & 0x7F
                if n > limit or pos + 6 + n > end:
                    break
                out.append((data[pos] & 0x0F, _unmask(data[pos + 6:pos + 6 + n],
                                                      data[pos + 2:pos + 6])))
                pos += 6 + n
            if pos == end:
                return out
            data = data[pos:]
        self._buf += data
        while True:
            try:
                frame = self._next_frame()
            except ProtocolError as e:
                e.before = out
                raise
            if frame is None:
                return out
            out.extend(frame)

    def _next_frame(self) -> list[tuple[int, bytes]] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, opcode, masked, length = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if b0 & 0x70:
            raise ProtocolError(1002, "reserved bits set (no extension was agreed)")
        if not masked:
            raise ProtocolError(1002, "client frames must be masked")
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, pos = struct.unpack_from("!H", buf, 2)[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
        if opcode >= 0x8:
            if length > 125 or not fin:
                raise ProtocolError(1002, "bad control frame")
        elif length + len(self._frag) > self.max_message:
            raise ProtocolError(1009, f"message larger than {self.max_message} bytes")
        if len(buf) < pos + 4 + length:
            return None
        mask = bytes(buf[pos:pos + 4])
        payload = _unmask(bytes(buf[pos + 4:pos + 4 + length]), mask)
        del buf[:pos + 4 + length]
        if opcode >= 0x8:
            if opcode not in (CLOSE, PING, PONG):
                raise ProtocolError(1002, f"unknown opcode {opcode}")
            return [(opcode, payload)]
        if opcode == CONT:
            if self._frag_op is None:
                raise ProtocolError(1002, "continuation without a first frame")
            self._frag += payload
            if not fin:
                return []
            op, payload = self._frag_op, bytes(self._frag)
            self._frag_op, self._frag = None, bytearray()
            return [(op, payload)]
        if opcode not in (TEXT, BINARY):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if self._frag_op is not None:
            raise ProtocolError(1002, "new message inside a fragmented one")
        if not fin:
            self._frag_op, self._frag = opcode, bytearray(payload)
            return []
        return [(opcode, payload)]
