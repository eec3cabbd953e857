"""Looking into a lab host from outside: its processes, containers, mounts, cgroups, links.

Checks and placeholders read the lab host's state here, never the attendee's typing:
/proc of its processes, its cgroup tree, its mount tables, and netlink (pyroute2) in its
network namespaces.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from labsteps.sandbox import kernel
from labsteps.sandbox.cgroup import CGROUP_ROOT, LAB
from labsteps.sandbox.proc import stat as read_stat

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


@dataclass(frozen=True)
class Proc:
    pid: int  # on the real host
    nspid: tuple[int, ...]  # the pid in each pid namespace, outermost first
    comm: str
    cmdline: tuple[str, ...]
    started: int
    ppid: int = 0  # on the real host
    tty_nr: int = 0  # its controlling terminal (0: none), as /proc/PID/stat encodes it

    @property
    def labpid(self) -> int:
        """The pid as the lab host sees it (what `ps` shows in its terminals)."""
        return self.nspid[1] if len(self.nspid) > 1 else self.nspid[0]

    def ns(self, kind: str) -> str | None:
        try:
            return os.readlink(f"/proc/{self.pid}/ns/{kind}")
        except OSError:
            return None


def proc(pid: int) -> Proc | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    stat = read_stat(pid)
    if stat is None:
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    nspid = tuple(int(x) for x in fields.get("NSpid", str(pid)).split())
    return Proc(pid=pid, nspid=nspid, comm=fields.get("Name", "").strip(),
                cmdline=tuple(a.decode(errors="replace") for a in cmdline if a),
                started=stat.started, ppid=stat.ppid, tty_nr=stat.tty_nr)


@dataclass(frozen=True)
class Mount:
    dev: str  # major:minor of the file system
    root: str  # the part of the file system mounted
    point: str  # where, as the process sees it
    fstype: str
    source: str
    options: str  # per-mount and super options together


def mounts(pid: int) -> list[Mount]:
    """The mount table of process pid, as it sees it."""
    found = []
    try:
        text = Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        fstype, source, superopts = ([*right.split(), "", ""])[:3]
        found.append(Mount(dev=f[2], root=_unescape(f[3]), point=_unescape(f[4]), fstype=fstype,
                           source=source, options=f"{f[5]},{superopts}"))
    return found


def _unescape(s: str) -> str:
    return s.encode().decode("unicode_escape") if "\\" in s else s


class LabView:
    """One lab host as seen from the real host."""

    def __init__(self, hosts, name: str):  # hosts: labsteps.sandbox.labhost.LabHosts
        self.hosts = hosts
        self.host = hosts.require(name)
        self.init = proc(self.host.pid)

    def processes(self) -> list[Proc]:
        found = (proc(pid) for pid in sorted(self.hosts.processes(self.host.name)))
        return [p for p in found if p is not None and len(p.nspid) > 1]

    def containers(self) -> list[Proc]:
        """pid 1 of every pid namespace made inside the lab host, oldest first."""
        found = [p for p in self.processes() if len(p.nspid) > 2 and p.nspid[-1] == 1]
        return sorted(found, key=lambda p: p.started)

    def newest_container(self) -> Proc | None:
        found = self.containers()
        return found[-1] if found else None

    def test(self, script: str) -> bool:
        """Whether a shell test about the lab host's files holds, run inside the lab host.

        Its files are the attendee's, symlinks included: followed from the real host they
        could point anywhere there, so file questions are asked inside, as its root."""
        code, _ = self.hosts.run(self.host.name, script, timeout=10)
        return code == 0

    def mounts(self, p: Proc | None = None) -> list[Mount]:
        return mounts((p or self.init).pid)

    def cgroup(self, relative: str) -> Path | None:
        """Host path of a cgroup the attendee made, named by its cgroup v1 path inside the
        lab host ("pids/lala"); on cgroup v2 the controller part is dropped ("lala")."""
        layout = self.hosts.layout
        controller, _, rest = relative.strip("/").partition("/")
        labs = self.hosts.cgroup_of(self.host).dirs(LAB)
        for h, lab in zip(layout.hierarchies, labs):
            if layout.version == "v2":
                return lab / rest
            if controller == h.name and rest:
                return lab / rest
        return None

    def links(self, p: Proc | None = None) -> list[dict]:
        """Network interfaces in the network namespace of p (default: the lab host's)."""
        return in_netns(f"/proc/{(p or self.init).pid}/ns/net", _links)


def _links(ipr) -> list[dict]:
    addrs: dict[int, list[str]] = {}
    for a in ipr.get_addr():
        addrs.setdefault(a["index"], []).append(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    return [{"name": link.get_attr("IFLA_IFNAME"), "up": bool(link["flags"] & 1),
             "addresses": addrs.get(link["index"], [])} for link in ipr.get_links()]


def in_netns(ns_path: str, fn):
    """Run fn(IPRoute) with a netlink socket inside the network namespace at ns_path.

    pyroute2's own netns sockets fork a helper, which a threaded server must not do; a
    network namespace is a per-thread attribute, so a short-lived thread enters it with
    setns, opens the socket there (a socket stays in the namespace it was made in), and
    is gone afterwards, leaving the server's threads where they were."""
    from pyroute2 import IPRoute

    result: dict = {}

    def work():
        try:
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                kernel.setns(fd, kernel.CLONE_NEWNET)
            finally:
                os.close(fd)
            with IPRoute() as ipr:
                result["value"] = fn(ipr)
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    t = threading.Thread(target=work, name="nslab-netns")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def cgroup_root() -> Path:
    return CGROUP_ROOT
