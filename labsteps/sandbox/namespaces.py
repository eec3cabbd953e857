"""Start a lab host: what the helper forked by the start-up process (starter.py) does, as
real root.

The start-up process is single-threaded, so forking here is safe where forking the
threaded web server would not be. Three processes take part, as in the talk's
``unshare -p -f``::

    helper (real root)           writes the uid/gid maps, moves the child into its cgroups
      └─ child                   unshare(user), then unshare(mount uts ipc net cgroup pid)
           └─ lab init (pid 1)   builds the file system, hostname, lo; execs nslab-init

Given a spec, answers ``{"pid": <host pid of the lab's pid 1>}`` or ``{"error": "..."}``.
The child and the helper exit; pid 1 stays.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import traceback

from labsteps.sandbox import kernel as k
from labsteps.sandbox.mounts import build_root

NAMESPACES = (k.CLONE_NEWNS | k.CLONE_NEWUTS | k.CLONE_NEWIPC | k.CLONE_NEWNET
              | k.CLONE_NEWCGROUP | k.CLONE_NEWPID)


def _say(fd: int, msg: dict) -> None:
    os.write(fd, (json.dumps(msg) + "\n").encode())


def _hear(fd: int) -> dict | None:
    """The next message, or None at end-of-file."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf)


GONE = {"error": "the lab host's start-up process ended early"}


def _join(files: list[str], pid: int) -> None:
    for path in files:
        with open(path, "w") as f:
            f.write(str(pid))


def _loopback_up() -> None:
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, req))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _lab_init(spec: dict, report: int, image_fd: int, init_fd: int) -> None:
    """pid 1 of the new pid namespace: make the lab host, then become nslab-init."""
    build_root(spec, image_fd, init_fd)
    k.sethostname(spec["hostname"])
    _loopback_up()
    os.close(image_fd)
    os.close(init_fd)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):  # let go of the helper's pipes, or its caller waits forever
        os.dup2(null, fd)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    # report is close-on-exec: the helper reads end-of-file once the exec succeeded.
    os.execve("/lab/bin/nslab-init", ["nslab-init"], env)


def _child(spec: dict, to_helper: int, from_helper: int) -> None:
    k.unshare(k.CLONE_NEWUSER)
    _say(to_helper, {"step": "userns"})
    if "error" in (_hear(from_helper) or GONE):
        os._exit(1)
    os.setgroups([0])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    k.unshare(NAMESPACES)
    _say(to_helper, {"step": "namespaces"})
    if "error" in (_hear(from_helper) or GONE):
        os._exit(1)
    image_fd = os.open(spec["image"], os.O_PATH | os.O_CLOEXEC)
    init_fd = os.open(spec["init"], os.O_PATH | os.O_CLOEXEC)
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _lab_init(spec, w, image_fd, init_fd)
        except BaseException as e:
            _say(w, {"error": f"{e}", "trace": traceback.format_exc(limit=3)})
        os._exit(1)
    os.close(w)
    # End-of-file without a message: the exec of nslab-init went through.
    _say(to_helper, _hear(r) or {"pid": pid})
    os._exit(0)


def start(spec: dict) -> dict:
    """Run in the helper process; returns the message to print."""
    # Opened before the child gives up real root: the state folder may be closed to it.
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(down_w)
        os.close(up_r)
        try:
            _child(spec, up_w, down_r)
        except BaseException as e:
            _say(up_w, {"error": str(e)})
        os._exit(1)
    os.close(down_r)
    os.close(up_w)
    try:
        msg = _hear(up_r) or GONE
        if "error" in msg:
            return msg
        mapping = f"0 {spec['uid']} {spec['count']}\n"
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(mapping)
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(f"0 {spec['gid']} {spec['count']}\n")
        # The cgroup namespace is rooted where the child is when it unshares: "lab".
        _join(spec["cgroup_lab"], pid)
        _say(down_w, {"go": True})
        msg = _hear(up_r) or GONE
        if "error" in msg:
            return msg
        _join(spec["cgroup_init"], pid)  # ...and processes live in the leaf below it
        _say(down_w, {"go": True})
        return _hear(up_r) or GONE
    except Exception as e:  # the child waits to hear: tell it, or both wait forever
        try:
            _say(down_w, {"error": str(e)})
        except OSError:
            pass
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        os.waitpid(pid, 0)
