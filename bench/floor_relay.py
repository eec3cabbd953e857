"""The least a Python relay between a pty and a websocket can do: a yardstick, not a product.

`bench/terminal.py --floor` runs it beside nslab and the raw pty, so the figures show how much
of nslab's distance from the pty is Python's threads and the websocket hop (which this pays
too) and how much is nslab's own work (sessions, flow control, replay, shell marks,
several viewers), which this leaves out. Per connection it starts `bash --norc --noprofile`
on a pty, like termbench's raw pty, and uses two threads as nslab does: one reads the socket
and writes keys to the pty, one reads the pty and sends frames (nslab's own frame code,
web/wsframe.py, on both sides). It accepts any request path
and cookie and answers termbench's `POST /api/join`, so termbench's `lab` protocol talks to
it as to nslab. It listens on 127.0.0.1 only and lives as long as the benchmark.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import termios
import threading

from web import wsframe

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
        try:
            os.environ["TERM"] = "xterm-256color"
            os.execvp("bash", ["bash", "--norc", "--noprofile"])
        finally:
            os._exit(127)
    os.set_blocking(master, False)
    send = threading.Lock()  # both threads send frames on conn
    output = threading.Thread(target=_pty_to_socket, args=(master, conn, send), daemon=True)
    output.start()
    try:
        _socket_to_pty(conn, master, send, request.partition(b"\r\n\r\n")[2])
    except OSError:
        pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        output.join(5)  # it ends with the shell: the pty reads EIO
        os.close(master)
        conn.close()


def _socket_to_pty(conn: socket.socket, master: int, send: threading.Lock, data: bytes) -> None:
    reader = wsframe.Reader(1 << 20)
    while True:
        for opcode, payload in reader.feed(data) if data else ():
            if opcode == wsframe.CLOSE:
                return
            if opcode == wsframe.BINARY:
                _write_all(master, payload)
            elif opcode == wsframe.PING:
                with send:
                    conn.sendall(wsframe.header(wsframe.PONG, len(payload)) + payload)
            elif opcode == wsframe.TEXT and b'"resize"' in payload:
                size = json.loads(payload)
                fcntl.ioctl(master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", size["rows"], size["cols"], 0, 0))
        data = conn.recv(65536)
        if not data:
            return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:  # the shell has not read its input yet
            select.select([], [fd], [], 1)


def _pty_to_socket(master: int, conn: socket.socket, send: threading.Lock) -> None:
    try:
        _relay_output(master, conn, send)
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)  # the shell is gone: end the socket side too
        except OSError:
            pass


def _relay_output(master: int, conn: socket.socket, send: threading.Lock) -> None:
    poller = select.poll()
    poller.register(master, select.POLLIN)
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
            try:
                with send:
                    conn.sendall(wsframe.header(wsframe.BINARY, size) + b"".join(parts))
            except OSError:
                return
