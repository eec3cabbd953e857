"""The least a Python relay between a pty and a websocket can do: a yardstick, not a product.

`bench/terminal.py --floor` runs it beside nslab and the raw pty, so the figures show how much
of nslab's distance from the pty is Python's threads and the websocket hop (which this pays
too) and how much is nslab's own work (sessions, flow control, replay, shell marks,
several viewers), which this leaves out. Per connection it starts `bash --norc --noprofile`
on a pty, like termbench's raw pty, and uses two threads as nslab does: one reads the socket
and writes keys to the pty, one reads the pty and sends frames. It accepts any request path
and cookie and answers termbench's `POST /api/join`, so termbench's `lab` protocol talks to
it as to nslab. It listens on 127.0.0.1 only and lives as long as the benchmark.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pty
import re
import select
import signal
import socket
import struct
import threading

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_KEY = re.compile(rb"(?im)^sec-websocket-key:[ \t]*(\S+)")


def start(port: int) -> socket.socket:
    """Listen on 127.0.0.1:port and serve every connection in threads of its own."""
    listener = socket.create_server(("127.0.0.1", port))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=_accept, args=(listener,), daemon=True).start()
    return listener


def _accept(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed: the benchmark is over
            return
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


def _serve(conn: socket.socket) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        data = conn.recv(4096)
        if not data:
            conn.close()
            return
        request += data
    if request.startswith(b"POST /api/join "):  # termbench joins first: any cookie will do
        conn.sendall(b"HTTP/1.1 201 Created\r\nSet-Cookie: floor=1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        conn.close()
        return
    key = _KEY.search(request)
    if key is None:
        conn.close()
        return
    accept = base64.b64encode(hashlib.sha1(key[1] + _WS_GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    pid, master = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp("bash", ["bash", "--norc", "--noprofile"])
    try:
        threading.Thread(target=_pty_to_socket, args=(master, conn), daemon=True).start()
        _socket_to_pty(conn, master)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        conn.close()


def _socket_to_pty(conn: socket.socket, master: int) -> None:
    buf = bytearray()
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while True:
            frame = _next_frame(buf)
            if frame is None:
                break
            opcode, payload = frame
            if opcode == 0x8:
                return
            if opcode == 0x2:
                os.write(master, payload)


def _next_frame(buf: bytearray) -> tuple[int, bytes] | None:
    """Take one whole masked client frame off buf; fragments do not occur here."""
    if len(buf) < 2:
        return None
    length, pos = buf[1] & 0x7F, 2
    if length == 126:
        if len(buf) < 4:
            return None
        length, pos = struct.unpack_from("!H", buf, 2)[0], 4
    elif length == 127:
        if len(buf) < 10:
            return None
        length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
    if len(buf) < pos + 4 + length:
        return None
    mask = bytes(buf[pos:pos + 4]) * (length // 4 + 1)
    body = int.from_bytes(buf[pos + 4:pos + 4 + length], "big")
    payload = (body ^ int.from_bytes(mask[:length], "big")).to_bytes(length, "big")
    opcode = buf[0] & 0x0F
    del buf[:pos + 4 + length]
    return opcode, payload


def _pty_to_socket(master: int, conn: socket.socket) -> None:
    poller = select.poll()
    poller.register(master, select.POLLIN)
    os.set_blocking(master, False)
    while True:
        poller.poll()
        parts, size = [], 0
        while size < 65536:  # a pty hands out at most 4 KiB a read: gather a frame's worth
            try:
                data = os.read(master, 65536 - size)
            except BlockingIOError:
                break
            except OSError:
                return
            if not data:
                return
            parts.append(data)
            size += len(data)
            if len(data) < 4000:
                break
        if size:
            body = b"".join(parts)
            head = (struct.pack("!BB", 0x82, size) if size < 126 else
                    struct.pack("!BBH", 0x82, 126, size) if size < 65536 else
                    struct.pack("!BBQ", 0x82, 127, size))
            try:
                conn.sendall(head + body)
            except OSError:
                return
