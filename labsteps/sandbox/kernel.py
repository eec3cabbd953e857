"""The few system calls a lab host is built from, called through libc.

Python 3.11 has no os.unshare/os.setns, and nothing for mount or pivot_root, so
these thin wrappers raise OSError with the call's name, like the os module does.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

MNT_DETACH = 2

# mount_setattr(2), Linux 5.12: the one call that makes a whole bind tree read-only.
_SYS_MOUNT_SETATTR = 442
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace open at fd (nstype: a CLONE_NEW* or 0)."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    res = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(res, f"mount {fstype or 'bind'} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(155, new_root.encode(), put_old.encode()), "pivot_root")


def set_child_subreaper() -> None:
    """Orphans below this process come back to it instead of going to the host's init."""
    _check(_libc.prctl(ctypes.c_int(36), ctypes.c_ulong(1), 0, 0, 0), "prctl(SUBREAPER)")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_readonly(target: str) -> None:
    """Make the mount at target and every mount below it read-only."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    res = _libc.syscall(_SYS_MOUNT_SETATTR, -100, target.encode(), AT_RECURSIVE,
                        ctypes.byref(attr), ctypes.sizeof(attr))
    if res < 0 and ctypes.get_errno() == 38:  # ENOSYS: older kernel, top mount only
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        return
    _check(res, f"mount_setattr {target}")


# openat2(2), Linux 5.6: open a path inside a directory as if it were the root, so that
# "..", absolute paths and symlinks never leave it (a lab host's files are its root's).
_SYS_OPENAT2 = 437
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str, flags: int = os.O_RDONLY) -> int:
    """An fd for path resolved with root_fd as its root (see RESOLVE_IN_ROOT)."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT)
    return _check(_libc.syscall(_SYS_OPENAT2, root_fd, path.encode(), ctypes.byref(how),
                                ctypes.sizeof(how)), f"open {path}")
