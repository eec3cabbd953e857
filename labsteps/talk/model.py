"""The kernel model: what is in a lab host now, read from outside, as the lab host sees it.

    read(view, ttys) -> {"labhost", "processes", "netns", "mounts", "cgroups"}

The page draws it (static/kernel/); ../shared/api.md, "Kernel model", is its shape.
Everything comes from /proc, the cgroup tree and netlink, never from the attendee's
shell, and nothing forks: the network and hostname are read by one short-lived thread
that enters each namespace in turn (namespaces are per thread).

Pids and paths are the lab host's own. The lab's plumbing is left out, so that what the
attendee made stands out: the lab host's init, commands the lab runs in it (checks), the
mounts a fresh lab host has (LabHost.own_mounts) and its cgroup for plumbing.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from labsteps.errors import LabHostError
from labsteps.sandbox import kernel
from labsteps.sandbox.cgroup import INIT, LAB
from labsteps.talk.inspect import NAMESPACES, LabView, Proc, mounts

MAX_PROCESSES = 2000  # a fork bomb stops at pids.max; the page groups what it lays out
MAX_NETNS = 64
MAX_CGROUPS = 256
NETNS_DIR = "/var/run/netns"  # where `ip netns` names namespaces (iproute2's path)
_NS_LINK = re.compile(r"^/proc/(\d+)/ns/net$")
_NSFS_DEV = os.stat("/proc/self/ns/net").st_dev  # the file system of every namespace file
PLUMBING = INIT.removeprefix(f"{LAB}/")  # the lab's own cgroup, below the attendee's top


def read(view: LabView, ttys: dict[int, int] | None = None) -> dict:
    """The model of view's lab host. ttys: a pty's tty_nr -> its terminal number."""
    if view.init is None:
        raise LabHostError(f"lab host {view.host.name} is not running")
    procs = _attendees_processes(view)
    by_host = {p.pid: p for p in procs}
    ns = {p.pid: _namespaces(p) for p in procs}
    init_ns = _namespaces(view.init)
    roots = {p.pid: _root(p) for p in procs}
    nets, hostnames = _in_namespaces(view, procs, ns, init_ns)
    cgroups, cgroup_of = _cgroups(view, {p.pid: p.labpid for p in procs})
    ttys = ttys or {}
    return {
        "labhost": {"hostname": hostnames.get(init_ns.get("uts"), view.host.hostname),
                    "root": "/", "namespaces": init_ns},
        "processes": [{
            "pid": p.labpid, "ppid": _labppid(p, by_host), "command": p.comm,
            "args": " ".join(p.cmdline) or p.comm, "terminal": ttys.get(p.tty_nr),
            "hostname": hostnames.get(ns[p.pid].get("uts")), "root": roots[p.pid],
            "cgroup": cgroup_of.get(p.pid), "namespaces": ns[p.pid]} for p in procs],
        "netns": nets,
        "mounts": _mounts(view, procs, ns, roots, init_ns.get("mnt")),
        "cgroups": cgroups,
    }


# -- processes -------------------------------------------------------------------------

def _attendees_processes(view: LabView) -> list[Proc]:
    """The lab host's processes but its init and what the lab runs in it: a check's
    command comes in through nsenter from outside, so as the lab host sees it, its parent
    is no process of its own (ppid 0); nor is any of its children the attendee's."""
    procs = [p for p in view.processes() if p.labpid != 1]
    parents = {p.pid: p.ppid for p in procs}
    inside = {p.pid for p in procs} | {view.init.pid}
    kept: list[Proc] = []
    ok: dict[int, bool] = {}

    def attendees(pid: int, depth: int = 0) -> bool:
        if pid == view.init.pid:
            return True
        if pid not in ok:
            parent = parents.get(pid)
            ok[pid] = parent in inside and depth < 64 and attendees(parent, depth + 1)
        return ok[pid]

    for p in procs:
        if attendees(p.pid):
            kept.append(p)
    return kept[:MAX_PROCESSES]


def _labppid(p: Proc, by_host: dict[int, Proc]) -> int:
    parent = by_host.get(p.ppid)
    return parent.labpid if parent else 1


def _namespaces(p: Proc | None) -> dict[str, int]:
    found = {}
    for kind in NAMESPACES:
        link = p.ns(kind) if p else None
        if link:
            found[kind] = int(link[link.index("[") + 1:-1])
    return found


def _root(p: Proc) -> str:
    """The process's root (a chroot) as the lab host sees it; the kernel shows it so."""
    try:
        return os.readlink(f"/proc/{p.pid}/root")
    except OSError:
        return "/"


# -- network and hostnames: one thread that enters namespaces ---------------------------

def _in_namespaces(view: LabView, procs: list[Proc], ns: dict[int, dict],
                   init_ns: dict[str, int]) -> tuple[list[dict], dict[int, str]]:
    """Network namespaces (with their interfaces) and hostnames by uts inode."""
    net_fds: dict[int, str] = {}  # inode -> a path to open it by
    uts_fds: dict[int, str] = {}
    members: dict[int, list[int]] = {}
    for p in [view.init, *procs]:
        kinds = ns.get(p.pid) or init_ns
        if "net" in kinds:
            net_fds.setdefault(kinds["net"], f"/proc/{p.pid}/ns/net")
            if p is not view.init:
                members.setdefault(kinds["net"], []).append(p.labpid)
        if "uts" in kinds:
            uts_fds.setdefault(kinds["uts"], f"/proc/{p.pid}/ns/uts")
    names, extra_fds = _named_netns(view, {p.labpid: ns[p.pid].get("net") for p in procs})
    result: dict = {}

    def work() -> None:
        opened = []
        try:
            for inode, path in uts_fds.items():
                with _ns_fd(path) as fd:
                    if fd is not None:
                        kernel.setns(fd, kernel.CLONE_NEWUTS)
                        result.setdefault("hostnames", {})[inode] = os.uname().nodename
            wanted = list(net_fds.items())[:MAX_NETNS]
            for inode, fd in extra_fds.items():
                if inode not in net_fds and len(wanted) + len(opened) < MAX_NETNS:
                    opened.append((inode, fd))
            links = {}
            for inode, where in [*wanted, *opened]:
                with _ns_fd(where) as fd:
                    if fd is None:
                        continue
                    try:
                        kernel.setns(fd, kernel.CLONE_NEWNET)
                    except OSError:  # a name that is no network namespace
                        continue
                    links[inode] = _links()
            result["links"] = links
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e
        finally:
            for _inode, fd in extra_fds.items():
                os.close(fd)

    t = threading.Thread(target=work, name="nslab-model")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    links = result.get("links", {})
    _pair_veths(links)
    nets = [{"id": inode, "names": sorted(names.get(inode, [])),
             "processes": members.get(inode, []), "interfaces": interfaces}
            for inode, interfaces in links.items()]
    return nets, result.get("hostnames", {})


class _ns_fd:
    """Open a namespace by path (or take an fd already open); None when it has gone."""

    def __init__(self, where: str | int):
        self.where, self.fd, self.own = where, None, isinstance(where, str)

    def __enter__(self) -> int | None:
        if not self.own:
            return self.where
        try:
            self.fd = os.open(self.where, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        return self.fd

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _named_netns(view: LabView, net_of: dict[int, int | None],
                 ) -> tuple[dict[int, list[str]], dict[int, int]]:
    """Names `ip netns` gave (inode -> names), and fds of named namespaces no process is in.

    The names are read inside the lab host's root (openat2 with RESOLVE_IN_ROOT), so a
    symlink the attendee planted there never leads out into the real host. A name is a
    mounted namespace file (`ip netns add`) or, as in the talk, a symlink to
    /proc/<pid>/ns/net, read as text and resolved by the lab host's pid."""
    names: dict[int, list[str]] = {}
    fds: dict[int, int] = {}
    try:
        root = os.open(f"/proc/{view.init.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return names, fds
    try:
        try:
            folder = kernel.open_in_root(root, NETNS_DIR, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return names, fds
        try:
            for name in sorted(os.listdir(folder))[:MAX_NETNS]:
                inode = _netns_by_name(root, folder, name, net_of, fds)
                if inode is not None:
                    names.setdefault(inode, []).append(name)
        finally:
            os.close(folder)
    finally:
        os.close(root)
    return names, fds


def _netns_by_name(root: int, folder: int, name: str, net_of: dict[int, int | None],
                   fds: dict[int, int]) -> int | None:
    try:
        target = os.readlink(name, dir_fd=folder)
    except OSError:  # not a symlink: a mounted namespace file, or nothing of the kind
        target = None
    if target is not None:
        m = _NS_LINK.match(target)
        return net_of.get(int(m.group(1))) if m else None
    # O_PATH first: opening whatever the attendee put there for reading could block (a
    # FIFO) or mean something (a device); only a namespace file is opened for real.
    try:
        path_fd = kernel.open_in_root(root, f"{NETNS_DIR}/{name}", os.O_PATH)
    except OSError:
        return None
    try:
        if os.fstat(path_fd).st_dev != _NSFS_DEV:
            return None
        fd = os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    finally:
        os.close(path_fd)
    inode = os.fstat(fd).st_ino
    if inode in fds:
        os.close(fd)
    else:
        fds[inode] = fd
    return inode


def _links() -> list[dict]:
    """Interfaces of the calling thread's network namespace."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        addrs: dict[int, list[str]] = {}
        for a in ipr.get_addr():
            if a.get_attr("IFA_ADDRESS") and a["family"] in (2, 10) and \
                    not str(a.get_attr("IFA_ADDRESS")).startswith("fe80:"):
                addrs.setdefault(a["index"], []).append(
                    f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        links = list(ipr.get_links())
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
    found = []
    for link in links:
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info else None
        if kind is None:
            kind = "loopback" if link["flags"] & 8 else "device"
        found.append({
            "name": link.get_attr("IFLA_IFNAME"), "kind": kind,
            "up": bool(link["flags"] & 1), "addresses": addrs.get(link["index"], []),
            "peer": None, "master": names.get(link.get_attr("IFLA_MASTER")),
            "_index": link["index"], "_link": link.get_attr("IFLA_LINK"),
            "_elsewhere": link.get_attr("IFLA_LINK_NETNSID") is not None,
        })
    return found


def _pair_veths(links: dict[int, list[dict]]) -> None:
    """Find each veth's other end: ends name each other's index, in this namespace or
    (link-netnsid set) in another."""
    ends = [(inode, i) for inode, found in links.items() for i in found if i["kind"] == "veth"]
    for inode, a in ends:
        for other, b in ends:
            if a is b or a["_link"] != b["_index"] or b["_link"] != a["_index"]:
                continue
            if (other != inode) == a["_elsewhere"]:
                a["peer"] = {"netns": other, "name": b["name"]}
                break
    for found in links.values():
        for i in found:
            for key in ("_index", "_link", "_elsewhere"):
                del i[key]


# -- mounts ----------------------------------------------------------------------------

def _mounts(view: LabView, procs: list[Proc], ns: dict[int, dict],
            roots: dict[int, str], init_mnt: int | None) -> list[dict]:
    """What the attendee mounted, per mount namespace, at paths the lab host sees."""
    own = set(view.host.own_mounts)
    labs = mounts(view.init.pid)
    base = {(m.dev, m.root): m.point for m in labs}
    # A new mount namespace starts as a copy of the lab host's: the copies are no news.
    copies = {f"{m.dev} {m.root} {m.point}" for m in labs}
    seen: dict[int, tuple[str, Proc | None]] = {}
    if init_mnt:
        seen[init_mnt] = ("/", None)
    for p in procs:
        mnt = ns[p.pid].get("mnt")
        root = roots[p.pid]
        # One reader per namespace, with the shortest root: a chroot sees only its part.
        if mnt and (mnt not in seen or len(root) < len(seen[mnt][0])):
            seen[mnt] = (root, p)
    found = []
    for mnt, (root, p) in seen.items():
        for m in labs if p is None else view.mounts(p):  # the lab host's: read above
            point = m.point if root == "/" else root.rstrip("/") + m.point.rstrip("/")
            point = point or "/"
            key = f"{m.dev} {m.root} {point}"
            if key in own or (p is not None and (key in copies or m.fstype == "nsfs")):
                continue
            options = dict(o.partition("=")[::2] for o in m.options.split(","))
            bound = base.get((m.dev, m.root))
            found.append({
                "mntns": mnt, "target": point, "fstype": m.fstype, "source": m.source,
                "lower": [x for x in options.get("lowerdir", "").split(":") if x],
                "upper": options.get("upperdir") or None,
                "work": options.get("workdir") or None,
                "bind_of": bound if m.fstype != "overlay" and bound not in (None, point)
                else None})
    return found


# -- cgroups ---------------------------------------------------------------------------

def _cgroups(view: LabView, labpid: dict[int, int]) -> tuple[list[dict], dict[int, str]]:
    """The attendee's cgroup tree (paths as mounted in the lab host) and each process's."""
    layout = view.hosts.layout
    labs = view.hosts.cgroup_of(view.host).dirs(LAB)
    pids_dir = memory_dir = None
    for h, lab in zip(layout.hierarchies, labs):
        if layout.version == "v2":
            pids_dir = memory_dir = lab
        elif h.name == "pids":
            pids_dir = lab
        elif h.name == "memory":
            memory_dir = lab
    paths: dict[str, dict] = {}
    for top, kind in ((pids_dir, "pids"), (memory_dir, "memory")):
        if top is None:
            continue
        for path in _walk(top):
            rel = "/" + str(path.relative_to(top)).strip(".").strip("/")
            if rel == f"/{PLUMBING}" or rel.startswith(f"/{PLUMBING}/"):
                continue  # the lab's own: its processes count as the top's below
            entry = paths.setdefault(rel, {"path": rel, "pids": None, "memory": None,
                                           "procs": []})
            if kind == "pids" or layout.version == "v2":
                entry["pids"] = _pair(path, "pids.current", "pids.max")
                entry["procs"] = _procs(path, labpid)
                if rel == "/":
                    entry["procs"] = sorted(entry["procs"] + _procs(path / PLUMBING, labpid))
            if kind == "memory" or layout.version == "v2":
                entry["memory"] = _pair(path, "memory.current", "memory.max") or \
                    _pair(path, "memory.usage_in_bytes", "memory.limit_in_bytes")
    if "/" in paths:  # the limits the lab set on the parent, which the attendee cannot lift
        paths["/"]["outer"] = {
            "pids": _pair(pids_dir.parent, "pids.current", "pids.max") if pids_dir else None,
            "memory": (_pair(memory_dir.parent, "memory.current", "memory.max") or
                       _pair(memory_dir.parent, "memory.usage_in_bytes",
                             "memory.limit_in_bytes")) if memory_dir else None}
    of = {host: entry["path"] for entry in paths.values()
          for host, lab in labpid.items() if lab in entry["procs"]}
    return sorted(paths.values(), key=lambda e: e["path"]), of


def _walk(top: Path) -> list[Path]:
    """top and the cgroups below it, parents first (at most MAX_CGROUPS)."""
    found, todo = [], [top]
    while todo and len(found) < MAX_CGROUPS:
        path = todo.pop(0)
        found.append(path)
        try:
            todo += sorted(Path(e.path) for e in os.scandir(path)
                           if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return found


def _pair(path: Path, current: str, limit: str) -> dict | None:
    try:
        now = int((path / current).read_text())
        cap = (path / limit).read_text().strip()
    except (OSError, ValueError):
        return None
    value: int | str = "max" if cap == "max" or int(cap) >= 1 << 62 else int(cap)
    return {"current": now, "max": value}


def _procs(path: Path, labpid: dict[int, int]) -> list[int]:
    try:
        text = (path / "cgroup.procs").read_text()
    except OSError:
        return []
    return sorted(labpid[int(x)] for x in text.split() if int(x) in labpid)
