"""Checks: is the lab host in the state a step meant? Each reads state, never typing.

A step file names a check by function name, with arguments (see CHECKS). A check
returns True or False; if it raises, the failure is reported as a failed check with
the reason, never as an error of the page.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

from labsteps.talk.inspect import LabView, Proc


def lab_host_running(view: LabView) -> bool:
    return view.host.alive()


def file_exists(view: LabView, path: str) -> bool:
    return view.test(f"test -e {shlex.quote(path)}")


def container_running(view: LabView, proc_mounted: bool = False,
                      isolated: tuple = ("pid", "mnt", "uts", "ipc", "net"),
                      root: str | None = None, listens: int | None = None) -> bool:
    """A container started inside the lab host: pid 1 of its own namespaces, and (when
    asked) with its own /proc mounted, so `ps` in it shows only its processes; with root
    as its `/` (a lab host path); with a TCP socket listening on port listens in its
    network namespace."""
    for c in view.containers():
        if not all(c.ns(kind) != view.init.ns(kind) for kind in isolated):
            continue
        if root is not None and _root(c) != os.path.normpath(root):
            continue
        if listens is not None and not _listening(c, listens):
            continue
        if not proc_mounted or any(m.fstype == "proc" and m.point == "/proc"
                                   for m in _mounts_seen_from_its_root(view, c)):
            return True
    return False


def _root(c: Proc) -> str | None:
    """c's root (a chroot) as a path of the lab host: the kernel shows it so from outside."""
    try:
        return os.readlink(f"/proc/{c.pid}/root")
    except OSError:
        return None


TCP_LISTEN = "0A"  # the state column of /proc/net/tcp


def _listening(c: Proc, port: int) -> bool:
    """A TCP socket in LISTEN on port in c's network namespace. /proc/PID/net/tcp, read
    here on the real host, lists the sockets of PID's network namespace (not the
    reader's); local addresses are hex ADDR:PORT."""
    suffix = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{c.pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 3 and f[3] == TCP_LISTEN and f[1].endswith(suffix):
                return True
    return False


def container_volume(view: LabView, source: str, target: str) -> bool:
    """A container with source (a lab host folder, itself a mount point) bound at target,
    while the lab host sees nothing mounted there."""
    origin = [m for m in view.mounts() if m.point == source]
    if not origin:
        return False
    for c in view.containers():
        for m in _mounts_seen_from_its_root(view, c):
            if m.point == target and (m.dev, m.root) == (origin[-1].dev, origin[-1].root):
                return not [x for x in view.mounts() if x.point.endswith(target)]
    return False


def _mounts_seen_from_its_root(view: LabView, c: Proc):
    """c's mounts, with mount points relative to c's root (a chroot sees /proc, not
    /tmp/container/proc)."""
    try:
        root = os.readlink(f"/proc/{c.pid}/root")
    except OSError:
        return []
    seen = []
    for m in view.mounts(c):
        point = m.point
        if root != "/" and point.startswith(root):
            point = point[len(root):] or "/"
        seen.append(type(m)(m.dev, m.root, point, m.fstype, m.source, m.options))
    return seen


def cgroup_limit(view: LabView, group: str, pids_max: int) -> bool:
    path = view.cgroup(group)
    return path is not None and (path / "pids.max").exists() and \
        (path / "pids.max").read_text().strip() == str(pids_max)


def cgroup_holds_container(view: LabView, group: str) -> bool:
    path = view.cgroup(group)
    if path is None or not (path / "cgroup.procs").exists():
        return False
    inside = {int(p) for p in (path / "cgroup.procs").read_text().split()}
    return any(c.pid in inside for c in view.containers())


def cgroup_refused_fork(view: LabView, group: str) -> bool:
    """pids.events counts the forks the limit refused."""
    path = view.cgroup(group)
    if path is None or not (path / "pids.events").exists():
        return False
    events = dict(line.split() for line in (path / "pids.events").read_text().splitlines())
    return int(events.get("max", "0")) > 0


def cgroup_limit_hit(view: LabView, group: str, pids_max: int) -> bool:
    """A cgroup whose pids.max is pids_max and which has refused a fork at that limit."""
    return cgroup_limit(view, group, pids_max) and cgroup_refused_fork(view, group)


def overlay_mounts(view: LabView, lower: str, count: int = 2) -> bool:
    found = [m for m in view.mounts() if m.fstype == "overlay" and f"lowerdir={lower}" in m.options]
    return len(found) >= count


def layers_differ(view: LabView, upper_a: str, upper_b: str, lower: str) -> bool:
    """Each container wrote into its own layer: a file in one upper dir is missing in the
    other and in the shared lower dir."""
    # Looked at from inside the lab host: paths there are the attendee's, and a symlink
    # they planted must resolve in their file system, never in the real host's.
    a, b, low = (shlex.quote(p) for p in (upper_a, upper_b, lower))
    return view.test(f"""cd {a} || exit 1
find . -xdev -type f 2>/dev/null | head -n 10000 | while read -r f; do
  [ -e {b}/"$f" ] || [ -e {low}/"$f" ] || exit 7
done
[ $? = 7 ]""")


def link(view: LabView, name: str, address: str, where: str = "lab") -> bool:
    """Interface name is up with address, in the lab host ("lab") or in a container."""
    places = [None] if where == "lab" else view.containers()
    for p in places:
        for entry in view.links(p):
            if entry["name"] == name and entry["up"] and address in entry["addresses"]:
                return True
    return False


def named_netns(view: LabView, name: str) -> bool:
    """/var/run/netns/<name> resolves (the talk's symlink to /proc/<pid>/ns/net, or the
    bind mount of `ip netns add`) and is the network namespace of a running container,
    one of its own: a dangling link, or one to any other namespace, is not the talk's.

    The name is followed inside the lab host (its /proc, its symlinks), where `stat -L`
    gives the namespace file's device and inode; a running container's namespace is
    stat'ed from outside. Namespace files live on one file system (nsfs), so the pair
    names one namespace of the kernel."""
    path = shlex.quote(f"/var/run/netns/{name}")
    code, out = view.hosts.run(view.host.name, f"test -e {path} && stat -L -c '%d %i' {path}",
                               timeout=10)
    lines = out.decode(errors="replace").split("\n") if code == 0 else []
    found = [line.split() for line in lines if line.strip()]
    if not found or len(found[-1]) != 2 or not all(x.isdigit() for x in found[-1]):
        return False
    named = tuple(int(x) for x in found[-1])
    own = view.init.ns("net")
    for c in view.containers():
        if c.ns("net") not in (None, own):
            try:
                st = os.stat(f"/proc/{c.pid}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == named:
                return True
    return False


def container_without_network(view: LabView) -> bool:
    """A container in a network namespace of its own with nothing but a loopback."""
    for c in view.containers():
        if c.ns("net") != view.init.ns("net"):
            names = [entry["name"] for entry in view.links(c)]
            if names == ["lo"]:
                return True
    return False


def container_file(view: LabView, path: str) -> bool:
    """path exists in a container's file system (seen through /proc/PID/root inside the
    lab host, so it resolves in the container, never on the real host)."""
    tests = " || ".join(f"test -e /proc/{c.labpid}/root/{shlex.quote(path.lstrip('/'))}"
                        for c in view.containers())
    return bool(tests) and view.test(tests)


CHECKS: dict[str, Callable[..., bool]] = {f.__name__: f for f in (
    lab_host_running, file_exists, container_running, container_volume, cgroup_limit,
    cgroup_holds_container, cgroup_refused_fork, cgroup_limit_hit, overlay_mounts,
    layers_differ, link, named_netns, container_without_network, container_file)}


def run_check(view: LabView, name: str, args: dict) -> tuple[bool, str | None]:
    """(passed, why it could not be checked)."""
    try:
        return bool(CHECKS[name](view, **args)), None
    except Exception as e:  # a failing check is an answer, never an exception
        return False, f"{type(e).__name__}: {e}"
