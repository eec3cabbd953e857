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

from labsteps.talk.inspect import LabView, Proc, in_netns


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


# -- the chapter "deeper" ------------------------------------------------------------

# The capabilities by number (capabilities(7)); a set in /proc/PID/status is a bit mask.
CAPABILITIES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore")


def _status(c: Proc) -> dict[str, str]:
    try:
        text = open(f"/proc/{c.pid}/status").read()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _capabilities(c: Proc, which: str = "CapBnd") -> set[str]:
    mask = int(_status(c).get(which, "0").strip() or "0", 16)
    return {name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}


def _pivoted(view: LabView, c: Proc, root_dev: str | None = None) -> bool:
    """c's / is a mount of its own (root_dev, when given), and the lab host's / is nowhere
    in its mount table: pivot_root, then the old root unmounted."""
    try:
        if os.readlink(f"/proc/{c.pid}/root") != "/":
            return False  # a chroot: the old root is still there, above it
    except OSError:
        return False
    mine = view.mounts(c)
    roots = [m for m in mine if m.point == "/"]
    lab_root = [m for m in view.mounts() if m.point == "/"]
    if not roots or not lab_root or roots[-1].dev == lab_root[-1].dev:
        return False
    if root_dev is not None and roots[-1].dev != root_dev:
        return False
    return lab_root[-1].dev not in {m.dev for m in mine}


def pivoted(view: LabView, path: str) -> bool:
    """A container whose root is the lab host's mount at path, after pivot_root, with the
    lab host's own root unmounted in it."""
    at = [m for m in view.mounts() if m.point == path]
    return bool(at) and any(_pivoted(view, c, at[-1].dev) for c in view.containers())


def file_owner(view: LabView, path: str, uid: int) -> bool:
    """path exists in the lab host and belongs to uid, as the lab host counts uids."""
    return view.test(f'test "$(stat -c %u {shlex.quote(path)})" = {int(uid)}')


def user_namespace_map(view: LabView, inside: int, outside: int) -> bool:
    """A process in a user namespace of its own (nested in the lab host's) that maps uid
    inside to uid outside, as the lab host counts uids."""
    def first_line(pid: int) -> list[int]:
        fields = open(f"/proc/{pid}/uid_map").read().split()
        return [int(x) for x in fields[:3]]

    base = first_line(view.init.pid)  # the lab host's map, read from the real host
    for p in view.processes():
        if p.ns("user") in (None, view.init.ns("user")):
            continue
        try:
            lines = open(f"/proc/{p.pid}/uid_map").read().splitlines()
        except OSError:
            continue
        for line in lines:  # read from outside: the second field is a real host uid
            start, real, count = (int(x) for x in line.split())
            if start <= inside < start + count and real + inside - start - base[1] == outside:
                return True
    return False


def container_capabilities(view: LabView, dropped: list, kept: list = ()) -> bool:
    """A container whose bounding set lacks every capability in dropped and holds kept."""
    for c in view.containers():
        bounding = _capabilities(c)
        if bounding and not bounding & set(dropped) and set(kept) <= bounding:
            return True
    return False


def _cgroup_values(view: LabView, group: str, name: str) -> dict[str, str] | None:
    path = view.cgroup(group)
    if path is None or not (path / name).exists():
        return None
    return dict(line.split(None, 1) for line in (path / name).read_text().splitlines()
                if " " in line)


def _cgroup_file(view: LabView, group: str, *names: str) -> str | None:
    path = view.cgroup(group)
    for name in names:  # the v1 name, then the v2 one
        if path is not None and (path / name).exists():
            return (path / name).read_text().strip()
    return None


def memory_oom(view: LabView, group: str, limit: int) -> bool:
    """A memory cgroup with limit (bytes) whose limit has OOM-killed a process."""
    if _cgroup_file(view, group, "memory.limit_in_bytes", "memory.max") != str(limit):
        return False
    for name in ("memory.oom_control", "memory.events"):  # v1, v2
        events = _cgroup_values(view, group, name)
        if events is not None:
            return int(events.get("oom_kill", "0")) > 0
    return False


def cpu_throttled(view: LabView, group: str, quota: int, period: int) -> bool:
    """A cpu cgroup with quota per period (microseconds) that has throttled its processes."""
    v2 = _cgroup_file(view, group, "cpu.max")
    if v2 is not None:
        if v2.split() != [str(quota), str(period)]:
            return False
    elif (_cgroup_file(view, group, "cpu.cfs_quota_us"),
          _cgroup_file(view, group, "cpu.cfs_period_us")) != (str(quota), str(period)):
        return False
    stat = _cgroup_values(view, group, "cpu.stat") or {}
    return int(stat.get("nr_throttled", "0")) > 0


def bridge_ports(view: LabView, bridge: str, count: int) -> bool:
    """A bridge in the lab host that is up, with at least count interfaces plugged in."""
    def ports(ipr):
        found = ipr.link_lookup(ifname=bridge)
        if not found or not ipr.get_links(found[0])[0]["flags"] & 1:
            return -1
        return sum(1 for link in ipr.get_links() if link.get_attr("IFLA_MASTER") == found[0])

    return in_netns(f"/proc/{view.init.pid}/ns/net", ports) >= count


def nft_rule(view: LabView, contains: str) -> bool:
    """The lab host's nftables rule set (what the kernel holds, listed by nft) has a rule
    with contains in it, e.g. "masquerade"."""
    return view.test(f"nft list ruleset | grep -qF -- {shlex.quote(contains)}")


def http_from_netns(view: LabView, netns: str, url: str, contains: str) -> bool:
    """From the named network namespace, GET url answers with contains in the page."""
    return view.test(f"ip netns exec {shlex.quote(netns)} /usr/bin/wget -qO- -T 3 -t 1 "
                     f"{shlex.quote(url)} | grep -qF -- {shlex.quote(contains)}")


def handmade_container(view: LabView, hostname: str, address: str) -> bool:
    """A container as `docker run` makes one: pivoted into a root of its own, without
    cap_sys_admin, with hostname, and eth0 up with address."""
    for c in view.containers():
        if not _pivoted(view, c) or "sys_admin" in _capabilities(c) or \
                not _capabilities(c):
            continue
        if not any(e["name"] == "eth0" and e["up"] and address in e["addresses"]
                   for e in view.links(c)):
            continue
        if view.test(f'test "$(nsenter -t {c.labpid} -u hostname)" = '
                     f'{shlex.quote(hostname)}'):
            return True
    return False


CHECKS: dict[str, Callable[..., bool]] = {f.__name__: f for f in (
    lab_host_running, file_exists, container_running, container_volume, cgroup_limit,
    cgroup_holds_container, cgroup_refused_fork, cgroup_limit_hit, overlay_mounts,
    layers_differ, link, named_netns, container_without_network, container_file, pivoted,
    file_owner, user_namespace_map, container_capabilities, memory_oom, cpu_throttled,
    bridge_ports, nft_rule, http_from_netns, handmade_container)}


def run_check(view: LabView, name: str, args: dict) -> tuple[bool, str | None]:
    """(passed, why it could not be checked)."""
    try:
        return bool(CHECKS[name](view, **args)), None
    except Exception as e:  # a failing check is an answer, never an exception
        return False, f"{type(e).__name__}: {e}"
