"""Control groups: one delegated subtree per lab host, limits on a parent it cannot touch.

Layout, in every hierarchy the lab uses (cgroup v1: one per controller; v2: the unified tree)::

    <root>/nslab/                 shared parent of every lab host on the machine
    <root>/nslab/s<slot>/         the lab host's limits (pids, memory, cpu); owned by real root
    <root>/nslab/s<slot>/lab/     delegated: owned by the lab host's root, its cgroup namespace root
    <root>/nslab/s<slot>/lab/init the leaf the lab host's processes start in

Creating ``s<slot>`` in the first hierarchy is how a slot (and so a uid range) is claimed:
mkdir is atomic across every nslab on the machine, whatever its state folder.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from labsteps.errors import CgroupError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "nslab"
LAB = "lab"  # below s<slot>: the delegated subtree
INIT = f"{LAB}/init"  # the leaf the lab host's processes start in
_PARENT_RETRIES = 100
# What mkdir in the shared parent, or enabling its controllers, raises while another lab
# host's cleanup removes it: ENOENT once it is gone, ENODEV while it is dying (cgroup v2).
_PARENT_GONE = (errno.ENOENT, errno.ENODEV)
# cgroup v1 controllers a lab host gets its own subtree in, when the host has them.
V1_CONTROLLERS = ("pids", "memory", "cpu", "cpuacct", "freezer")
V2_CONTROLLERS = ("pids", "memory", "cpu")


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy the lab uses."""

    path: Path  # where the host has it mounted, e.g. /sys/fs/cgroup/pids
    options: str  # the mount's controller options, e.g. "pids" or "cpu,cpuacct"; "" for v2

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Layout:
    """The host's cgroup setup: version, hierarchies used, and symlinks to mirror inside."""

    version: str  # "v1" or "v2"
    hierarchies: tuple[Hierarchy, ...]
    links: tuple[tuple[str, str], ...] = ()  # v1 aliases such as ("cpu", "cpu,cpuacct")

    def controllers(self) -> list[str]:
        if self.version == "v2":
            return sorted(set(V2_CONTROLLERS) & set(_v2_available(self.hierarchies[0].path)))
        return sorted({c for h in self.hierarchies for c in h.options.split(",")})


def _mountinfo() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) for every mount the caller sees."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, superopts = [*right.split(" "), "", ""][:3]
        found.append((left.split(" ")[4], fstype, superopts))
    return found


def _v2_available(path: Path) -> list[str]:
    try:
        return (path / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def detect(root: Path = CGROUP_ROOT) -> Layout:
    """Read the host's cgroup layout; raise CgroupError when a lab host cannot be limited."""
    mounts = _mountinfo()
    for point, fstype, _ in mounts:
        if point == str(root) and fstype == "cgroup2":
            missing = {"pids", "memory"} - set(_v2_available(root))
            if missing:
                raise CgroupError(f"cgroup v2 at {root} lacks the {', '.join(sorted(missing))} "
                                  "controller(s); they may be bound to a cgroup v1 hierarchy")
            return Layout("v2", (Hierarchy(root, ""),))
    hierarchies = []
    for point, fstype, superopts in mounts:
        if fstype != "cgroup" or Path(point).parent != root:
            continue
        ctrls = [o for o in superopts.split(",") if o in V1_CONTROLLERS]
        others = [o for o in superopts.split(",") if o in _v1_all_controllers()]
        if ctrls and set(others) <= set(V1_CONTROLLERS):
            hierarchies.append(Hierarchy(Path(point), ",".join(others)))
    have = {c for h in hierarchies for c in h.options.split(",")}
    if not {"pids", "memory"} <= have:
        raise CgroupError(f"no cgroup v2 at {root} and no cgroup v1 pids and memory hierarchies")
    hierarchies.sort(key=lambda h: (h.options.split(",")[0] != "pids", h.name))
    names = {h.name for h in hierarchies}
    links = []
    for entry in sorted(root.iterdir()):
        if entry.is_symlink() and os.readlink(entry) in names:
            links.append((entry.name, os.readlink(entry)))
    return Layout("v1", tuple(hierarchies), tuple(links))


def _v1_all_controllers() -> set[str]:
    names = set()
    for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
        names.add(line.split()[0])
    return names


@dataclass(frozen=True)
class Limits:
    pids: int = 512
    memory_bytes: int = 512 * 1024 * 1024
    cpu_weight: int = 100  # v2 cpu.weight; v1 cpu.shares is this times 1024 / 100


class LabCgroup:
    """The cgroups of one lab host (slot) in every hierarchy of the layout."""

    def __init__(self, layout: Layout, slot: int, root_uid: int | None = None,
                 root_gid: int | None = None):
        self.layout = layout
        self.slot = slot
        self.root_uid = root_uid  # the lab host's root: create() needs them, looking does not
        self.root_gid = root_gid

    @property
    def name(self) -> str:
        """The lab host's cgroup below each hierarchy's root, as /proc/PID/cgroup shows it."""
        return f"/{PARENT}/s{self.slot}"

    def dirs(self, sub: str = "") -> list[Path]:
        """The lab host's top cgroup in every hierarchy, or sub (LAB, INIT) below it."""
        tops = [h.path / self.name.lstrip("/") for h in self.layout.hierarchies]
        return [top / sub for top in tops] if sub else tops

    def procs_files(self, sub: str) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs(sub)]

    # -- create ---------------------------------------------------------------

    def claim(self) -> bool:
        """Atomically take this slot for the machine; False when someone else has it."""
        first = self.layout.hierarchies[0].path / PARENT
        for _ in range(_PARENT_RETRIES):
            try:
                _mkdir(first)
                if self.layout.version == "v2":
                    _enable(self.layout.hierarchies[0].path, V2_CONTROLLERS)
                    _enable(first, V2_CONTROLLERS)
                os.mkdir(self.dirs()[0])
            except FileExistsError:
                return False
            except OSError as e:
                if e.errno not in _PARENT_GONE:
                    raise
                time.sleep(0.001)  # the last lab host's cleanup removes the empty parent now
                continue
            if self.layout.version == "v2":
                # Once our slot is in it, the parent stays; it may be a new one, made by
                # another claim after the one we enabled was removed.
                _enable(first, V2_CONTROLLERS)
            return True
        raise CgroupError(f"{first} keeps disappearing")

    def create(self, limits: Limits) -> None:
        """Build the subtree (the slot must be claimed) and set the limits on the parent."""
        for h, top in zip(self.layout.hierarchies, self.dirs()):
            if top.exists() and h != self.layout.hierarchies[0]:
                remove_tree(top)  # a stale one from a lab host that died with its owner
            _mkdir_in_parent(top)
        self._set_limits(limits)
        for lab, init in zip(self.dirs(LAB), self.dirs(INIT)):
            _mkdir(lab)
            _mkdir(init)
        self._delegate()

    def _set_limits(self, limits: Limits) -> None:
        for h, top in zip(self.layout.hierarchies, self.dirs()):
            if self.layout.version == "v2":
                _enable(top, V2_CONTROLLERS)
                _write(top / "pids.max", limits.pids)
                _write(top / "memory.max", limits.memory_bytes)
                _write_if_exists(top / "memory.swap.max", 0)
                _write_if_exists(top / "cpu.weight", limits.cpu_weight)
                continue
            ctrls = h.options.split(",")
            if "pids" in ctrls:
                _write(top / "pids.max", limits.pids)
            if "memory" in ctrls:
                _write(top / "memory.limit_in_bytes", limits.memory_bytes)
                _write_if_exists(top / "memory.memsw.limit_in_bytes", limits.memory_bytes)
            if "cpu" in ctrls:
                _write(top / "cpu.shares", limits.cpu_weight * 1024 // 100)

    def _delegate(self) -> None:
        # What the kernel's cgroup docs name for delegation: the directory and the files
        # that let its owner create children and move processes between them.
        names = ["cgroup.procs", "tasks", "cgroup.subtree_control", "cgroup.threads",
                 "cgroup.clone_children", "notify_on_release"]
        # init, where the lab's processes start, must stay a leaf: its owner may move
        # processes in and out, but not give it children with controllers.
        leaf = ["cgroup.procs", "tasks", "cgroup.threads"]
        for lab, init in zip(self.dirs(LAB), self.dirs(INIT)):
            paths = [lab, init, *(lab / n for n in names), *(init / n for n in leaf)]
            for path in paths:
                if path.exists():
                    os.chown(path, self.root_uid, self.root_gid)

    def enable_lab_controllers(self) -> None:
        """v2: let the lab host limit its own children (``mkdir /sys/fs/cgroup/lala``).

        Only possible once no process sits in ``lab`` itself (the "no internal
        processes" rule), so this runs after the lab host's first process moved to init.
        """
        if self.layout.version == "v2":
            for lab in self.dirs(LAB):
                _enable(lab, V2_CONTROLLERS)

    # -- inspect --------------------------------------------------------------

    def pids(self) -> set[int]:
        """Every process in the lab host's subtree, in every hierarchy."""
        found: set[int] = set()
        for top in self.dirs():
            for dirpath, _dirs, _files in os.walk(top):
                try:
                    text = Path(dirpath, "cgroup.procs").read_text()
                except OSError:
                    continue
                found.update(int(p) for p in text.split())
        return found

    def exists(self) -> bool:
        return any(d.exists() for d in self.dirs())

    # -- destroy --------------------------------------------------------------

    def kill(self, timeout: float = 20.0) -> None:
        """SIGKILL every process of the subtree, forks in flight included; return when none left."""
        deadline = time.monotonic() + timeout
        if self.layout.version == "v2":
            kill_file = self.dirs()[0] / "cgroup.kill"
            if kill_file.exists():
                _write(kill_file, 1)
            elif (self.dirs()[0] / "cgroup.freeze").exists():
                # Kernels before 5.14 have no cgroup.kill: freeze first, so a fork bomb
                # cannot outrun the signals. SIGKILL reaches frozen processes.
                _write(self.dirs()[0] / "cgroup.freeze", 1)
        freezer = self._freezer()
        while True:
            if freezer:
                _freeze(freezer, True)
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if freezer:
                _freeze(freezer, False)
            if not pids:
                return
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {sorted(pids)[:10]} of lab host slot {self.slot} "
                                  "do not die")
            time.sleep(0.005)

    def _freezer(self) -> Path | None:
        for h, top in zip(self.layout.hierarchies, self.dirs()):
            if self.layout.version == "v1" and "freezer" in h.options.split(",") and top.exists():
                return top
        return None

    def remove(self, timeout: float = 20.0) -> None:
        """Remove the subtree in every hierarchy, the attendee's own cgroups included."""
        # The first hierarchy holds the claim: it goes last, so the next lab host to take
        # this slot never finds the other hierarchies half removed. It goes even when they
        # fail to: the next owner's create() removes what is stale, and a slot stays usable.
        first, *others = self.dirs()
        try:
            for top in reversed(others):
                remove_tree(top, timeout)
        finally:
            remove_tree(first, timeout)
        for h in self.layout.hierarchies:
            try:
                os.rmdir(h.path / PARENT)
            except OSError as e:  # other lab hosts still live, or already gone
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY, errno.ENOENT):
                    raise


def claimed(layout: Layout) -> list[LabCgroup]:
    """Every lab host's cgroups on this machine, whichever nslab made them (to look at)."""
    slots = []
    for top in (layout.hierarchies[0].path / PARENT).glob("s*"):
        if top.name[1:].isdigit():
            slots.append(int(top.name[1:]))
    return [LabCgroup(layout, slot) for slot in sorted(slots)]


def remove_tree(top: Path, timeout: float = 20.0) -> None:
    """rmdir a cgroup and its descendants, deepest first; already gone is fine."""
    deadline = time.monotonic() + timeout
    if not top.exists():
        return
    for dirpath, dirs, _files in os.walk(top, topdown=False):
        for d in dirs:
            _rmdir(Path(dirpath, d), deadline)
    _rmdir(top, deadline)


def _rmdir(path: Path, deadline: float) -> None:
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            # EBUSY: the last processes have exited but the kernel has not let go yet.
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def _freeze(top: Path, frozen: bool) -> None:
    state = top / "freezer.state"
    try:
        _write(state, "FROZEN" if frozen else "THAWED")
        if frozen:
            for _ in range(200):
                if state.read_text().strip() == "FROZEN":
                    return
                time.sleep(0.001)
    except FileNotFoundError:  # removed meanwhile: nothing left to freeze
        pass


def _enable(path: Path, controllers: tuple[str, ...]) -> None:
    """Enable controllers for path's children; pids and memory must work, cpu may not."""
    current = (path / "cgroup.subtree_control").read_text().split()
    for c in controllers:
        if c in current or c not in _v2_available(path):
            continue
        try:
            _write(path / "cgroup.subtree_control", "+" + c)
        except OSError:
            # cpu refuses while real-time threads live outside the root cgroup; the
            # lab then shares cpu time as the host does. pids and memory are required.
            if c in ("pids", "memory"):
                raise


def _mkdir(path: Path) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        pass


def _mkdir_in_parent(top: Path) -> None:
    """mkdir top under the shared parent, which another lab host's cleanup may rmdir
    between the two mkdirs when it was the last one there."""
    for _ in range(_PARENT_RETRIES):
        _mkdir(top.parent)
        try:
            _mkdir(top)
            return
        except OSError as e:
            if e.errno not in _PARENT_GONE:
                raise
            time.sleep(0.001)
    raise CgroupError(f"{top.parent} keeps disappearing")


def _write(path: Path, value: object) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _write_if_exists(path: Path, value: object) -> None:
    if path.exists():
        _write(path, value)
