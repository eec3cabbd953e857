"""Lab hosts: one rootless sandbox per attendee, made of the kernel features the talk teaches.

Three verbs: ``create`` a lab host, start a process in it (``command`` gives the argv,
``run`` runs one to completion), ``destroy`` it. A record per lab host in the state
folder lets a new server find and destroy what a killed one left behind (``sweep``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from labsteps.config import Config, parse_size
from labsteps.errors import CgroupError, LabFull, LabHostError, LeftBehind
from labsteps.sandbox import cgroup, kernel, proc, shellrc
from labsteps.sandbox.starter import Starter

IDS = 65536  # uids and gids per lab host, as a normal Linux system has
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LOGIN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash",
    "TERM": "xterm-256color", "COLORTERM": "truecolor", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
}
# Runs on the host side: join the lab host's cgroup leaf, then enter its namespaces.
# The cgroup comes first so that everything the command forks is counted and limited.
_ENTER = 'IFS=:; for f in $NSLAB_CGROUPS; do echo $$ > "$f" || exit 125; done; exec "$@"'



@dataclass
class LabHost:
    name: str
    hostname: str
    slot: int
    uid: int
    pid: int  # host pid of the lab host's pid 1 (nslab-init)
    started: int  # that process's start time, so a reused pid is never mistaken for it
    created: float
    userns: str = ""  # its user namespace, e.g. "user:[4026532177]"
    cgroup_inodes: tuple = ()  # inode of nslab/s<slot> per hierarchy: the slot may be reused
    own_mounts: tuple = ()  # "dev root point" of each mount a fresh lab host has: the lab's

    def alive(self) -> bool:
        return proc.is_running(self.pid, self.started)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _start_time(pid: int) -> int | None:
    stat = proc.stat(pid)
    return stat.started if stat else None


def _mount_keys(pid: int) -> tuple[str, ...]:
    """"dev root point" of every mount pid sees (from /proc/PID/mountinfo)."""
    keys = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        f = line.split()
        keys.append(f"{f[2]} {f[3]} {f[4]}")
    return tuple(keys)


def _reap(host: LabHost, timeout: float = 20.0) -> None:
    """Wait until the lab host's pid 1 has exited, and reap it when it is ours.

    It is ours when this process started it (we are a subreaper). After a crash of the
    server it belongs to the host's init, which reaps it in its own time: an exited
    process holds no memory, cgroup or namespace any more, only its pid."""
    deadline = time.monotonic() + timeout
    tries = 0
    while _start_time(host.pid) == host.started:
        try:
            os.waitpid(host.pid, os.WNOHANG)
        except ChildProcessError:
            stat = proc.stat(host.pid)
            if stat is None or stat.state == "Z":
                return
        if time.monotonic() > deadline:
            raise LeftBehind(f"pid 1 of lab host {host.name} ({host.pid}) is not reaped")
        tries += 1
        if tries % 16 == 0:
            _reap_orphans_from_lab_hosts()
        time.sleep(0.002)


def _reap_orphans_from_lab_hosts() -> None:
    """Reap our zombie children that lived in a lab host's pid namespace.

    A pid namespace's init finishes exiting only when every process of the namespace has
    been reaped. A shell being spawned when its lab host is destroyed leaves one such
    process: the child `nsenter` made inside, orphaned when nsenter was killed and adopted
    by this process, the subreaper. Children in the host's own pid namespace (subprocess's)
    are left to whoever waits for them."""
    me = os.getpid()
    for entry in os.scandir("/proc"):
        stat = proc.stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is None or stat.state != "Z" or stat.ppid != me:
            continue
        try:  # NSpid lists a pid per namespace level: two or more inside a lab host
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        nspid = status.partition("\nNSpid:")[2].partition("\n")[0].split()
        if len(nspid) > 1:
            try:
                os.waitpid(int(entry.name), os.WNOHANG)
            except ChildProcessError:
                pass


def hostname_for(name: str) -> str:
    """A valid hostname from an attendee's name: 'Anna Müller' -> 'lab-anna-mueller'."""
    text = name.lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:50].strip("-")
    return f"lab-{slug}" if slug else "lab"


class LabHosts:
    """Every lab host of this nslab (one state folder)."""

    def __init__(self, config: Config, beyond_capacity: Iterable[str] = ()):
        self.config = config
        # Lab hosts that take no attendee's place (the trainer's own): not counted.
        self.beyond_capacity = frozenset(beyond_capacity)
        self.layout = cgroup.detect()
        self.records = config.state_dir / "labhosts"
        self.records.mkdir(parents=True, exist_ok=True)
        os.chmod(config.state_dir, 0o700)
        self.limits = cgroup.Limits(pids=config.pids_max,
                                    memory_bytes=parse_size(config.memory_max))
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}  # one create/destroy per name at a time
        self._closed = False
        self._next_slot = 0
        # A class joining at once: a few lab hosts start at a time, in turn, so the first
        # attendees are in at once and the middle one after half the rush. Started all
        # together they would share the CPU and all be ready only at its end.
        self._starting = threading.BoundedSemaphore(2 * (os.cpu_count() or 1))
        self._starter = Starter({"PATH": LOGIN_ENV["PATH"]})
        # Lab hosts' pid 1 are orphaned by their start-up helper. As a subreaper this
        # process adopts them and reaps them on destroy, whatever the host's init does.
        kernel.set_child_subreaper()

    # -- the three verbs ---------------------------------------------------------

    def _one_at_a_time(self, name: str) -> threading.Lock:
        """Two creates of one name at once would both claim a slot, and one record would
        hide the other lab host; so create and destroy take turns per name."""
        with self._lock:
            return self._busy.setdefault(name, threading.Lock())

    def create(self, name: str, hostname: str | None = None) -> LabHost:
        """Make a fresh lab host called name; an old one of that name is destroyed first."""
        if self._closed:
            raise LabHostError("the lab server is stopping")
        if not NAME.match(name):
            raise LabHostError(f"bad lab host name {name!r}: use a-z, 0-9, - and _")
        for path in (self.config.image_path, self.config.init_path):
            if not path.exists():
                raise LabHostError(f"{path} is missing: run `make install` (or nslab doctor)")
        with self._one_at_a_time(name), _as_labhost_error("start", name):
            self._destroy(name)
            with self._starting:
                return self._create(name, hostname)

    def _create(self, name: str, hostname: str | None) -> LabHost:
        cg = self._claim(name)
        try:
            cg.create(self.limits)
            pid = self._start(cg, hostname or hostname_for(name))
            cg.enable_lab_controllers()
            # Read before the record exists: should pid 1 be gone already, the cleanup
            # below frees the slot, which no sweep could find without a record.
            host = LabHost(name=name, hostname=hostname or hostname_for(name), slot=cg.slot,
                           uid=cg.root_uid, pid=pid, started=_start_time(pid) or 0,
                           created=time.time(), userns=os.readlink(f"/proc/{pid}/ns/user"),
                           cgroup_inodes=tuple(os.stat(d).st_ino for d in cg.dirs()),
                           own_mounts=_mount_keys(pid))
        except BaseException:
            cg.kill()
            cg.remove()
            raise
        self._save(host)
        return host

    def command(self, host: LabHost, argv: list[str], env: dict[str, str] | None = None,
                ) -> tuple[list[str], dict[str, str]]:
        """argv and environment that start argv as root inside the lab host, in /root."""
        inner_env = {**LOGIN_ENV, "HOSTNAME": host.hostname, **(env or {})}
        cmd = ["/bin/sh", "-c", _ENTER, "nslab-enter",
               "env", "-i", "--default-signal", *[f"{k}={v}" for k, v in inner_env.items()],
               "nsenter", f"--target={host.pid}", "--all", "--root", "--wd", "--", *argv]
        files = ":".join(str(p) for p in self.cgroup_of(host).procs_files(cgroup.INIT))
        return cmd, {"NSLAB_CGROUPS": files, "PATH": LOGIN_ENV["PATH"]}

    def run(self, name: str, script: str, timeout: float = 30.0, stdin: bytes = b"",
            ) -> tuple[int, bytes]:
        """Run script in a login shell as the lab host's root; (exit status, output)."""
        host = self.require(name)
        argv, env = self.command(host, ["/bin/bash", "-l", "-c", script])
        # Output goes to a file, not a pipe: a background job the script leaves running
        # keeps a pipe open, and the caller would wait for it instead of for the script.
        with _as_labhost_error("run a command in", name), tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.communicate(stdin, timeout=timeout)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                self._kill_session(host, proc.pid)
                proc.kill()
                proc.wait()
                code = 124
            out.seek(0)
            output = out.read()
        if code == 124:
            output += f"\n[timed out after {timeout:g} s]\n".encode()
        return code, output

    def destroy(self, name: str) -> None:
        """End every process, remove every cgroup and record; returns when all is gone."""
        with self._one_at_a_time(name), _as_labhost_error("end", name, LeftBehind):
            self._destroy(name)

    def _destroy(self, name: str) -> None:
        record = self.records / f"{name}.json"
        try:
            host = LabHost(**json.loads(record.read_text()))
        except FileNotFoundError:
            return
        except (ValueError, TypeError) as e:
            raise LabHostError(f"unreadable record {record}: {e}") from e
        cg = self.cgroup_of(host)
        cg.kill()
        _reap(host)
        cg.remove()
        record.unlink(missing_ok=True)
        left = self.leftovers(host)
        if left:
            raise LeftBehind(f"lab host {name} is not gone: {'; '.join(left[:5])}")

    def leftovers(self, host: LabHost) -> list[str]:
        """What is left of a destroyed lab host on the machine; empty when it is gone.

        Its mounts, interfaces and files lived in its namespaces, which end with its last
        process, so processes and cgroups are what can remain. The slot, and with it the
        uid range, may already belong to a new lab host (of this nslab or another): the
        cgroups' inodes and the user namespace tell ours from theirs."""
        cg = self.cgroup_of(host)
        mine = [d for d, ino in zip(cg.dirs(), host.cgroup_inodes or
                                    [None] * len(self.layout.hierarchies))
                if _inode(d) is not None and ino in (None, _inode(d))]
        left = [f"cgroup {d}" for d in mine]
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                lines = status.read_text().splitlines()
                uid = next(int(x.split()[1]) for x in lines if x.startswith("Uid:"))
                exited = any(x.startswith("State:\tZ") for x in lines)
            except (OSError, StopIteration):
                continue
            if not host.uid <= uid < host.uid + IDS or exited:  # see _reap for zombies
                continue
            pid = status.parent.name
            try:
                same_ns = os.readlink(f"/proc/{pid}/ns/user") == host.userns
                where = Path(f"/proc/{pid}/cgroup").read_text()
            except OSError:
                continue
            if same_ns or (mine and f"{cg.name}/" in where) or \
                    not host.userns:
                left.append(f"process {pid}")
        record = self.get(host.name)
        if record is not None and record.userns == host.userns:  # not a new one's
            left.append("its record")
        return left

    # -- bookkeeping -------------------------------------------------------------

    def get(self, name: str) -> LabHost | None:
        try:
            return LabHost(**json.loads((self.records / f"{name}.json").read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def require(self, name: str) -> LabHost:
        host = self.get(name)
        if host is None:
            raise LabHostError(f"no lab host named {name!r}")
        if not host.alive():
            raise LabHostError(f"lab host {name!r} has stopped; create it again")
        return host

    def list(self) -> list[LabHost]:
        hosts = (self.get(p.stem) for p in sorted(self.records.glob("*.json")))
        return [h for h in hosts if h is not None]

    def room(self) -> int:
        """How many more lab hosts the capacity allows now."""
        return self.config.capacity - len([p for p in self.records.glob("*.json")
                                           if p.stem not in self.beyond_capacity])

    def close(self) -> None:
        """Make no more lab hosts (the server is stopping); destroy and sweep still work."""
        self._closed = True
        self._starter.close()

    def sweep(self) -> list[str]:
        """Destroy every lab host this state folder knows of (at start, after a crash).

        One that will not go does not keep the others: LeftBehind names it at the end."""
        names = [p.stem for p in sorted(self.records.glob("*.json"))]
        failed = []
        for name in names:
            try:
                self.destroy(name)
            except LabHostError as e:
                failed.append(str(e))
        if failed:
            raise LeftBehind("; ".join(failed))
        return names

    def processes(self, name: str) -> set[int]:
        """Host pids of every process in the lab host (empty when there is none)."""
        host = self.get(name)
        return self.cgroup_of(host).pids() if host else set()

    def memory(self, host: LabHost) -> int:
        """Bytes the lab host uses now, as its memory cgroup counts them (tmpfs included)."""
        for h, top in zip(self.layout.hierarchies, self.cgroup_of(host).dirs()):
            for f in ("memory.current", "memory.usage_in_bytes"):
                if (top / f).exists() and ("memory" in h.options or self.layout.version == "v2"):
                    return int((top / f).read_text())
        return 0

    def cgroup_of(self, host: LabHost) -> cgroup.LabCgroup:
        return cgroup.LabCgroup(self.layout, host.slot, host.uid, host.uid)

    def _claim(self, name: str) -> cgroup.LabCgroup:
        with self._lock:
            if self.room() <= 0 and name not in self.beyond_capacity:
                raise LabFull(f"all {self.config.capacity} lab hosts are taken")
            # From the slot after the last one taken: a class joining at once would
            # otherwise try every taken slot again, each a mkdir, all under this lock.
            slots = self.config.uid_slots
            for slot in ((self._next_slot + i) % slots for i in range(slots)):
                uid = self.config.uid_base + slot * IDS
                cg = cgroup.LabCgroup(self.layout, slot, uid, uid)
                if cg.claim():
                    self._next_slot = slot + 1
                    return cg
        raise LabFull("no free uid range left for another lab host")

    def _start(self, cg: cgroup.LabCgroup, hostname: str) -> int:
        spec = {
            "uid": cg.root_uid, "gid": cg.root_gid, "count": IDS, "hostname": hostname,
            "cgroup_lab": [str(p) for p in cg.procs_files(cgroup.LAB)],
            "cgroup_init": [str(p) for p in cg.procs_files(cgroup.INIT)],
            "cgroup_version": self.layout.version,
            "cgroup_v1": [(h.name, h.options) for h in self.layout.hierarchies],
            "cgroup_links": list(self.layout.links),
            "image": str(self.config.image_path), "init": str(self.config.init_path),
            "root_size": "64m",
            "files": shellrc.FILES,
            "tmpfs": {"/tmp": self.config.tmp_size, "/var/tmp": "64m", "/run": "16m",
                      "/root": "64m", "/dev/shm": "64m"},
        }
        reply = self._starter.start(spec)
        if "pid" not in reply:
            raise LabHostError(f"lab host start-up failed: {reply.get('error')}")
        return int(reply["pid"])

    def _save(self, host: LabHost) -> None:
        tmp = self.records / f".{host.name}.json.tmp"
        tmp.write_text(json.dumps(asdict(host)))
        os.replace(tmp, self.records / f"{host.name}.json")

    def _kill_session(self, host: LabHost, sid: int) -> None:
        """SIGKILL what a command left running: every process of its session in the lab host."""
        for pid in self.cgroup_of(host).pids():
            stat = proc.stat(pid)
            if stat is not None and stat.session == sid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@contextlib.contextmanager
def _as_labhost_error(verb: str, name: str, kind: type[LabHostError] = LabHostError,
                      ) -> Iterator[None]:
    """The kernel's refusals (cgroup, OS) as the one error callers of the verbs handle."""
    try:
        yield
    except (CgroupError, OSError) as e:
        raise kind(f"could not {verb} lab host {name}: {e}") from e
