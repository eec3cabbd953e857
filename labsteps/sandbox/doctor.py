"""nslab doctor: can this machine run lab hosts? Every finding comes with its fix."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labsteps.config import Config
from labsteps.errors import CgroupError, LabHostError
from labsteps.sandbox import cgroup, features, proc

# command -> Debian/Ubuntu package, for the tools the talk and the lab host use
TOOLS = {
    "unshare": "util-linux", "nsenter": "util-linux", "setsid": "util-linux",
    "mount": "mount", "chroot": "coreutils", "env": "coreutils", "ip": "iproute2",
    "pstree": "psmisc", "ps": "procps", "ping": "iputils-ping", "tar": "tar", "bash": "bash",
    "nft": "nftables", "wget": "wget", "man": "man-db", "setpriv": "util-linux",
}


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"[{mark}] {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n       fix: {self.fix}"


def _kernel() -> Finding:
    release = platform.release()
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        return Finding("kernel", False, f"cannot read version {release!r}")
    ok = (major, minor) >= (5, 12)
    return Finding("kernel", ok, f"{release} (overlayfs in a user namespace needs 5.11, "
                   "mount_setattr 5.12)", "boot a kernel 5.12 or newer (Debian 12 has 6.1)")


def _userns() -> list[Finding]:
    out = []
    limit = Path("/proc/sys/user/max_user_namespaces")
    n = int(limit.read_text()) if limit.exists() else 0
    out.append(Finding("user namespaces", n > 0, f"max_user_namespaces = {n}",
                       "sysctl -w user.max_user_namespaces=15000"))
    if apparmor_restricts():
        # The restriction applies to processes without CAP_SYS_ADMIN; nslab creates every
        # user namespace as real root, so lab hosts are unaffected. A user namespace made
        # *inside* a lab host is another matter: the probe tries one.
        out.append(Finding("AppArmor", True, "restricts unprivileged user namespaces; nslab "
                           "creates lab hosts as root, so they are not affected; the probe "
                           "tries a user namespace inside one"))
    return out


APPARMOR = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


def apparmor_restricts(sysctl: Path = APPARMOR) -> bool:
    try:
        return sysctl.read_text().strip() == "1"
    except OSError:
        return False


def nested_userns(works: bool, sysctl: Path = APPARMOR) -> Finding:
    """What a user namespace made inside a lab host can do (the user-namespaces step's)."""
    if works:
        return Finding("nested user namespaces", True, "a lab host's root can make a user "
                       "namespace with its own capabilities (the user-namespaces step runs)")
    why = ("AppArmor takes the capabilities of user namespaces made by unprivileged "
           "processes (kernel.apparmor_restrict_unprivileged_userns=1), and a lab host's root "
           "is nobody special to the real host") if apparmor_restricts(sysctl) else \
        "the kernel refused it"
    return Finding("nested user namespaces", False,
                   f"a user namespace made inside a lab host has no capabilities: {why}; in "
                   "the user-namespaces step attendees will see 'Operation not permitted'",
                   "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 for the "
                   "workshop (and in /etc/sysctl.d/ to keep it), or leave it and tell the room")


def _cgroups() -> Finding:
    try:
        layout = cgroup.detect()
    except (CgroupError, OSError) as e:
        return Finding("cgroups", False, str(e),
                       "enable the pids and memory controllers (cgroup v2: boot with "
                       "systemd.unified_cgroup_hierarchy=1; v1: mount them)")
    detail = f"{layout.version}, controllers {', '.join(layout.controllers())}"
    first = str(layout.hierarchies[0].path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == first and fields[3] != "/":
            # In a container the cgroup tree is the container's own subtree: lab hosts of
            # another lab on the same machine cannot see this one's uid ranges.
            detail += (f"; the cgroup tree is a subtree ({fields[3]}): if other labs run on "
                       "this machine, give each its own NSLAB_UID_BASE")
    return Finding("cgroups", True, detail)


def _tools() -> list[Finding]:
    missing = {pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None}
    out = [Finding("tools", not missing, "all present" if not missing else
                   f"missing packages {', '.join(sorted(missing))}",
                   f"apt-get install {' '.join(sorted(missing))}")]
    if shutil.which("env"):
        res = subprocess.run(["env", "--default-signal", "true"], capture_output=True)
        out.append(Finding("env --default-signal", res.returncode == 0,
                           "coreutils can reset inherited signal dispositions" if
                           res.returncode == 0 else "coreutils is older than 8.31",
                           "upgrade coreutils (Debian 12 and Ubuntu 24.04 have it)"))
    return out


def _subids(config: Config) -> Finding:
    lo = config.uid_base
    hi = lo + config.uid_slots * 65536
    clashes = []
    for f in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(f).read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                start, count = int(parts[1]), int(parts[2])
                if start < hi and lo < start + count:
                    clashes.append(f"{f}: {line}")
    return Finding("subordinate ids", not clashes,
                   f"lab hosts use ids {lo}-{hi - 1}" if not clashes else
                   "overlap with " + "; ".join(clashes),
                   "set NSLAB_UID_BASE to a range no /etc/subuid or /etc/subgid entry uses")


def _files(config: Config) -> list[Finding]:
    return [Finding(path.name, path.exists(), str(path), "make install")
            for path in (config.image_path, config.init_path)]


def _modules() -> list[Finding]:
    """overlay, veth and bridge: the lab host cannot load kernel modules itself (nslab
    serve loads them at start where they are missing)."""
    out = []
    builtin = Path("/lib/modules", platform.release(), "modules.builtin")
    builtin_text = builtin.read_text() if builtin.exists() else ""
    for name, present in (("overlay", "\toverlay\n" in Path("/proc/filesystems").read_text()),
                          ("veth", Path("/sys/module/veth").exists()),
                          ("bridge", Path("/sys/module/bridge").exists())):
        if present or f"/{name}.ko" in builtin_text:
            out.append(Finding(f"module {name}", True, "available"))
        elif builtin.exists():
            out.append(Finding(f"module {name}", False, "not loaded",
                               f"modprobe {name}; echo {name} >> /etc/modules-load.d/nslab.conf"))
        else:  # no module list to read (a VM kernel or a container): the probe tells
            out.append(Finding(f"module {name}", True, "cannot tell; the probe below tries it"))
    return out


def _features(config: Config) -> list[Finding]:
    """Kernel features steps need that lab hosts cannot load (see features.py)."""
    off = features.names(config.features_off)
    out = []
    for name, (_, modules) in features.KNOWN.items():
        if name in off:
            out.append(Finding(name, True, "turned off (NSLAB_FEATURES_OFF): the steps that "
                               "need it show their commands only"))
        elif features.available(name):
            out.append(Finding(name, True, "in the kernel (built in or loaded): the steps "
                               "that need it run; docs/security.md says what it adds"))
        else:
            out.append(Finding(name, True, "not in the kernel, and nslab never loads it itself: "
                               "the steps that need it show their commands only",
                               f"to offer them, load it on purpose (NSLAB_LOAD_MODULES="
                               f"{','.join(modules)}); read docs/security.md first"))
    return out


def _unowned() -> Finding:
    """Lab hosts whose server is gone: only the state folder that made them can sweep them."""
    try:
        layout = cgroup.detect()
    except (CgroupError, OSError):
        return Finding("lab hosts left", True, "cannot tell without cgroups")
    count = 0
    for cg in cgroup.claimed(layout):
        try:
            pids = cg.procs_files(cgroup.INIT)[0].read_text().split()
        except OSError:  # that lab host went meanwhile (or is being made)
            continue
        for pid in pids:
            stat = proc.stat(int(pid))
            if stat is None or stat.comm != "nslab-init":
                continue
            try:
                parent = Path(f"/proc/{stat.ppid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # A server adopts its lab hosts' pid 1 (it is a subreaper); when it is
            # gone, whoever adopts them instead is not an `nslab serve`.
            serving = b"serve" in parent and any(b"nslab" in a or b"web.cli" in a
                                                 for a in parent)
            if not serving:
                count += 1
    return Finding("lab hosts left", True, "none without their server" if not count else
                   f"{count} lab host(s) run without a server (left by one that was killed, "
                   "or made with `nslab sandbox create`); `nslab --state-dir DIR sandbox "
                   "destroy --all` with the state folder that made them ends them")


def _root() -> Finding:
    return Finding("root", os.geteuid() == 0, f"running as uid {os.geteuid()}",
                   "run nslab as root (it creates user namespaces and cgroups)")


def check(config: Config) -> list[Finding]:
    """Every finding, cheapest first; none of them changes the machine."""
    return [_root(), _kernel(), *_userns(), _cgroups(), *_modules(), *_features(config),
            *_tools(), _subids(config), *_files(config), _unowned()]


def problems(config: Config) -> list[Finding]:
    return [f for f in check(config) if not f.ok]


# What a lab host must be able to do, in a few lines of the talk's own commands.
PROBE = """set -e
mkdir -p /tmp/container /tmp/u /tmp/w /tmp/m
tar xf /lab/images/vorlage.tar -C /tmp/container
mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/u,workdir=/tmp/w /tmp/m
unshare -p -f -m -u -n -i chroot /tmp/m sh -c 'mount -t proc proc /proc; ps' >/dev/null
ip link add hostende type veth peer name containerende
ip netns add probe
if [ -d /sys/fs/cgroup/pids ]; then mkdir /sys/fs/cgroup/pids/lala; \
else mkdir /sys/fs/cgroup/lala; test -e /sys/fs/cgroup/lala/pids.max; fi
echo probe-ok
unshare -U -r sh -c 'unshare -u hostname innen' 2>/dev/null && echo nested-ok || true
"""


def probe(hosts) -> list[Finding]:  # hosts: labsteps.sandbox.labhost.LabHosts
    """Make a real lab host, run the talk's kernel operations in it, destroy it."""
    name = "doctor-probe"
    try:
        hosts.create(name)
        code, out = hosts.run(name, PROBE, timeout=30)
    except (LabHostError, OSError) as e:
        return [Finding("probe", False, str(e), "see the findings above")]
    finally:
        hosts.destroy(name)
    ok = code == 0 and b"probe-ok" in out
    text = out.decode(errors="replace").strip().splitlines()
    found = Finding("probe", ok, "a lab host ran tar, overlay, unshare, veth, netns and a "
                    "pids cgroup" if ok else f"exit {code}: {' | '.join(text[-3:])}",
                    "the failing command is named above")
    return [found, nested_userns(b"nested-ok" in out)] if ok else [found]
