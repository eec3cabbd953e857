"""A terminal client for tests: what the browser page does, over a real websocket."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import time
import urllib.request
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def join(base: str, name: str, wait: bool = True) -> str:
    """POST /api/join; the Cookie header value of the new session. wait=False joins as the
    page does: the answer comes at once, the lab host starts meanwhile."""
    req = urllib.request.Request(base + "/api/join",
                                 data=json.dumps({"name": name, "wait": wait}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as res:
        assert res.status == 201
        return "; ".join(c.split(";")[0] for c in res.headers.get_all("Set-Cookie"))


class Term:
    """An attendee's terminal n; or, with path, another terminal websocket (the trainer's
    own with headers={"Authorization": ...}, the presenter's)."""

    def __init__(self, base: str, cookie: str | None, n: int = 1, origin: str | None = None,
                 ack: bool = True, path: str | None = None, headers: dict | None = None):
        url = base.replace("http://", "ws://") + (path or f"/ws/terminal/{n}")
        headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
        self._connection = connect(url, additional_headers=headers, origin=origin or base,
                                   max_size=None, max_queue=None, open_timeout=20)
        self.ws = self._connection.__enter__()
        self.ack, self.received, self.events = ack, 0, []
        self.out = bytearray()

    def send(self, keys: str | bytes) -> None:
        self.ws.send(keys.encode() if isinstance(keys, str) else keys)

    def control(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def pump(self, timeout: float) -> bool:
        """Take one message; False when none came in time."""
        try:
            msg = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return False
        if isinstance(msg, bytes):
            self.out += msg
            self.received += len(msg)
            if self.ack:
                try:
                    self.control({"type": "ack", "bytes": self.received})
                except ConnectionClosed:
                    pass  # the server said all and closed; a browser's late ack is lost too
        else:
            self.events.append(json.loads(msg))
        return True

    def until(self, marker: bytes | str, timeout: float = 10) -> bytes:
        marker = marker.encode() if isinstance(marker, str) else marker
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(left):
                raise AssertionError(f"{marker!r} not seen; last output {bytes(self.out[-300:])!r}")
        return bytes(self.out)

    def event(self, kind: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("type") == kind:
                    self.events.remove(e)
                    return e
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(left):
                raise AssertionError(f"no {kind!r} event; events {self.events}")

    def run(self, command: str, timeout: float = 10) -> str:
        """Type a command at the prompt; return its output (not the echo of the typed line)
        once the next prompt has come, so nothing of it is left for the next command."""
        tag = os.urandom(4).hex()
        self.out.clear()
        # The marker is printed in pieces, so the echo of the typed line does not match it.
        self.send(f"{command}; printf '%s-%s-%s\\n' END {tag} $?\r")
        deadline = time.monotonic() + timeout
        self.until(f"END-{tag}-", timeout)
        end = self.out.index(f"END-{tag}-".encode())
        while not re.search(rb"[0-9]+\r\n.*# ", self.out[end:], re.S):  # status, then prompt
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(left):
                raise AssertionError(f"no prompt after {command!r}: {bytes(self.out[-300:])!r}")
        echo_end = self.out.find(b"\r\n")  # Enter ends the echo of the typed line
        return self.out[echo_end + 2:end].decode(errors="replace")

    def close(self) -> None:
        self.ws.close()


class RawSocket:
    """A websocket client that speaks frames by hand, to break the protocol on purpose."""

    def __init__(self, base: str, cookie: str, n: int = 1):
        u = urlsplit(base)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws/terminal/{n} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Origin: {base}\r\nCookie: {cookie}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        self.status = int(head.split()[1])
        self._buf = b""  # frames read but not yet taken, across calls

    @classmethod
    def over(cls, sock: socket.socket) -> RawSocket:
        """One on a socket whose handshake is done (or never needed: a bridge's own)."""
        raw = cls.__new__(cls)
        raw.sock, raw.status, raw._buf = sock, 101, b""
        return raw

    @staticmethod
    def encode(opcode: int, payload: bytes) -> bytes:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def frame(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(self.encode(opcode, payload))

    def frames(self, timeout: float = 10):
        """The server's frames as (opcode, payload), until the connection ends.

        TimeoutError when it has not ended within timeout (its pings do not extend it)."""
        deadline = time.monotonic() + timeout
        while True:
            while len(self._buf) >= 2:
                op, n = self._buf[0] & 0x0F, self._buf[1] & 0x7F
                pos = 2
                if len(self._buf) < {126: 4, 127: 10}.get(n, 2):
                    break  # the rest of the length has not come yet
                if n == 126:
                    n, pos = struct.unpack("!H", self._buf[2:4])[0], 4
                elif n == 127:
                    n, pos = struct.unpack("!Q", self._buf[2:10])[0], 10
                if len(self._buf) < pos + n:
                    break
                payload, self._buf = self._buf[pos:pos + n], self._buf[pos + n:]
                yield op, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the server neither ended nor finished within {timeout} s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not data:
                return
            self._buf += data

    def output_until(self, marker: bytes, timeout: float = 10) -> bytes:
        out = b""
        try:
            for op, payload in self.frames(timeout):
                if op == 0x2:
                    out += payload
                    if marker in out:
                        return out
        except TimeoutError:
            pass
        raise AssertionError(f"{marker!r} not seen; last output {out[-300:]!r}")

    def close_code(self, timeout: float = 10) -> int | None:
        """Read until the server's close frame; its code (None: connection just ended)."""
        for op, payload in self.frames(timeout):
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return None
