"""nslab's image (Dockerfile.host) built and run with podman, as a trainer without Docker would.

No registry serves images here, so the base is made locally (``ensure_base``): debootstrap
--variant=minbase bookworm from the Debian mirror apt already uses, trimmed like
debian:12-slim, imported as localhost/debian:12-minbase and kept between runs (remade when the
recipe in this file changes). ``build`` builds Dockerfile.host on it on every run: podman's
layer cache keeps the OS packages and the Python dependencies, so a change to the code costs
seconds. ``Lab.start`` runs the image with the README's flags (``--privileged
--cgroupns=host``, the port published on 127.0.0.1 only, the state on a named volume);
``Lab.remove`` ends its lab hosts, then the container and its volume.

Two more flags come from the machine, not from nslab, and are added only where it needs them:

- ``--runtime runc``: on a cgroup v1 host whose cgroup2 hierarchy (/sys/fs/cgroup/unified)
  holds a controller, crun (podman's default) refuses every container: "cgroups in hybrid
  mode not supported, drop all controllers from cgroupv2". runc runs them.
- ``--ulimit nofile=N:N --ulimit nproc=N:N``: rootful podman 4.3 asks for 1048576 open files
  and processes in every container, which root cannot grant without CAP_SYS_RESOURCE (a
  sandboxed root may lack it); then the container gets the limits podman itself runs with.

pip in the build is given the CA bundle this machine trusts (``--build-arg PIP_CERT`` and a
read-only volume), for networks that reach PyPI through a TLS proxy.

From the command line (as root)::

    python -m tests.container.podman base    # make (or show) the local base image
    python -m tests.container.podman build   # build the nslab image, with timings
    python -m tests.container.podman run     # build, run until Enter, then clean up
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import resource
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile.host"
PODMAN = "podman"
BASE = os.environ.get("NSLAB_TEST_BASE_IMAGE", "localhost/debian:12-minbase")
IMAGE = os.environ.get("NSLAB_TEST_IMAGE", "localhost/nslab-test")
SUITE = "bookworm"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOCK = Path("/run/lock/nslab-test-podman.lock")
# Containers and volumes started here carry this label, valued with the owning process's pid:
# what a killed test run left is removed by the next one.
LABEL = "nslab.test.owner"
RECIPE_LABEL = "nslab.base.recipe"
CA_IN_BUILD = "/run/nslab-host-ca.crt"
BUILD_TIMEOUT = 900  # a cold build: apt, pip from PyPI, gcc; a few minutes on 2 cores
# What makes debian:12-slim slim: dpkg leaves these out of every install, the base included.
SLIM_DPKG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
SOURCES = "deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\n" \
          "deb {security} {suite}-security main\n"


class PodmanError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which(PODMAN) is not None


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(cmd: list[str], timeout: float, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run cmd with its output captured as text; PodmanError says what failed and how."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        raise PodmanError(f"{shlex.join(cmd)}: not done after {timeout:.0f} s\n{_tail(out)}") \
            from None
    if check and res.returncode != 0:
        raise PodmanError(f"{shlex.join(cmd)} exited with {res.returncode}:\n"
                          f"{_tail(res.stdout + res.stderr)}")
    return res


def podman(*args: str, timeout: float = 60, check: bool = True, **kw):
    return run([PODMAN, *runtime_flags(), *args], timeout, check, **kw)


@cache
def runtime_flags() -> tuple[str, ...]:
    """--runtime runc where crun refuses the host's cgroups (v1 with controllers on v2)."""
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    try:
        hybrid = bool(unified.read_text().split())
    except OSError:
        hybrid = False
    if not hybrid:
        return ()
    if not shutil.which("runc"):
        raise PodmanError("this cgroup v1 host has controllers on its cgroup2 hierarchy, "
                          "which crun refuses: apt-get install runc")
    return ("--runtime", "runc")


def ulimit_flags() -> list[str]:
    """The limits podman runs with, where root cannot raise them (no CAP_SYS_RESOURCE)."""
    status = Path("/proc/self/status").read_text()
    cap_eff = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    if cap_eff & (1 << 24):  # CAP_SYS_RESOURCE: podman's defaults work
        return []

    def hard(kind: int, most: int) -> int:
        limit = resource.getrlimit(kind)[1]
        return most if limit == resource.RLIM_INFINITY else min(limit, most)

    # podman lowers its own RLIMIT_NPROC to 32768 as it starts, and its children can only
    # keep or lower what they have.
    nofile, nproc = hard(resource.RLIMIT_NOFILE, 1 << 20), hard(resource.RLIMIT_NPROC, 32768)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


@contextmanager
def _locked():
    """One base image made at a time on this machine."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# ---------------------------------------------------------------------------- the base image

def apt_mirrors() -> tuple[str, str]:
    """(Debian mirror, security mirror) for SUITE, as this machine's apt has them."""
    mirror = os.environ.get("NSLAB_TEST_DEBIAN_MIRROR")
    security = None
    for uris, suites in _apt_sources():
        for uri in uris:
            uri = uri.rstrip("/")
            if not uri.startswith(("http://", "https://")):
                continue
            if SUITE in suites and mirror is None:
                mirror = uri
            if f"{SUITE}-security" in suites and security is None:
                security = uri
    return (mirror or "http://deb.debian.org/debian",
            security or "http://deb.debian.org/debian-security")


def _apt_sources() -> list[tuple[list[str], list[str]]]:
    """(URIs, suites) of every deb entry: one-line .list files and deb822 .sources files."""
    entries = []
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split():
                    entries.append((fields.get("URIs", "").split(),
                                    fields.get("Suites", "").split()))
        elif path.name == "sources.list" or path.suffix == ".list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append(([words[1]], [words[2]]))
    return entries


def _recipe() -> str:
    text = f"{SUITE}\n{SLIM_DPKG}\n{SOURCES}\n{PATH}\nv1"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _base_is_current(name: str) -> bool:
    res = podman("image", "inspect", "--format", f'{{{{index .Labels "{RECIPE_LABEL}"}}}}',
                 name, check=False)
    return res.returncode == 0 and res.stdout.strip() == _recipe()


def ensure_base(name: str = BASE) -> str:
    """The local Debian 12 base image, made once with debootstrap (about a minute)."""
    if not _base_is_current(name):
        with _locked():
            if not _base_is_current(name):
                make_base(name)
    return name


def make_base(name: str) -> None:
    if not shutil.which("debootstrap"):  # as tests/vm installs qemu: only what is missing
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], 600, env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap",
             "debian-archive-keyring"], 600, env=env)
    mirror, security = apt_mirrors()
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    root = Path(tempfile.mkdtemp(prefix="nslab-base-", dir="/var/tmp"))
    try:
        run(["debootstrap", "--variant=minbase",
             *([f"--keyring={keyring}"] if keyring.exists() else []),
             SUITE, str(root), mirror], 900)
        _slim(root, mirror, security)
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        try:
            podman("import", "--change", 'CMD ["bash"]', "--change", f"ENV PATH={PATH}",
                   "--change", f"LABEL {RECIPE_LABEL}={_recipe()}", "-", name,
                   stdin=tar.stdout, timeout=300)
        finally:
            tar.stdout.close()
            tar.wait(60)
    finally:
        _remove_tree(root)


def _slim(root: Path, mirror: str, security: str) -> None:
    """What debian:12-slim leaves out, and no trace of this machine (hostname, resolver)."""
    (root / "etc/apt/sources.list").write_text(
        SOURCES.format(mirror=mirror, security=security, suite=SUITE))
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/slim").write_text(SLIM_DPKG)
    share = root / "usr/share"
    for sub in ("man", "groff", "info", "lintian", "linda"):
        shutil.rmtree(share / sub, ignore_errors=True)
    for path in (share / "doc").glob("*/*"):
        if path.name != "copyright":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in (share / "locale").glob("*"):
        if path.name != "locale.alias":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()
    (root / "etc/hostname").write_text("localhost\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)


def _remove_tree(root: Path) -> None:
    """rm -r root, after unmounting whatever a failed debootstrap left mounted in it."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    if any(m.startswith(f"{root}/") for m in
           (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())):
        raise PodmanError(f"{root} still has mounts; not removing it")
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- the nslab image

def host_ca_bundle() -> Path | None:
    """The CA bundle this machine's pip and Python trust."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(var) and Path(os.environ[var]).is_file():
            return Path(os.environ[var]).resolve()
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default.resolve() if default.is_file() else None


def image_id(name: str) -> str | None:
    res = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


@dataclass
class Built:
    id: str
    seconds: float
    log: str


def build(base: str = BASE, tag: str = IMAGE, timeout: float = BUILD_TIMEOUT) -> Built:
    """Build Dockerfile.host from this checkout on base; the image replaces tag's last one."""
    before = image_id(tag)
    ca = host_ca_bundle()
    with tempfile.TemporaryDirectory() as tmp:
        iidfile = Path(tmp) / "iid"
        start = time.monotonic()
        res = podman("build", "--layers", "-f", str(DOCKERFILE), "--build-arg", f"BASE={base}",
                     *(["--build-arg", f"PIP_CERT={CA_IN_BUILD}", "-v",
                        f"{ca}:{CA_IN_BUILD}:ro"] if ca else []),
                     "--iidfile", str(iidfile), "-t", tag, str(REPO), timeout=timeout)
        seconds = time.monotonic() - start
        new = iidfile.read_text().strip().removeprefix("sha256:")
    if before and before != new:  # its layers that the new image shares stay cached
        podman("rmi", before, check=False)
    return Built(new, seconds, res.stdout + res.stderr)


# ------------------------------------------------------------------------------- the running lab

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cgroup_mounts() -> dict[frozenset[str], Path]:
    """This machine's cgroup hierarchies: their controllers (none for v2) -> mount point."""
    known = {line.split()[0] for line in Path("/proc/cgroups").read_text().splitlines()[1:]}
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, options = [*right.split(" "), "", ""][:3]
        if fstype == "cgroup2":
            found[frozenset()] = Path(left.split()[4])
        elif fstype == "cgroup":
            found[frozenset(o for o in options.split(",")
                            if o in known or o.startswith("name="))] = Path(left.split()[4])
    return found


def _starttime(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def processes_in(cgroups: list[Path]) -> set[tuple[int, str]]:
    """(pid, start time) of every process in these cgroups and below them."""
    found = set()
    for top in cgroups:
        for procs in top.glob("**/cgroup.procs"):
            for pid in map(int, procs.read_text().split()):
                start = _starttime(pid)
                if start is not None:
                    found.add((pid, start))
    return found


def still_running(processes: set[tuple[int, str]]) -> list[int]:
    return sorted(pid for pid, start in processes if _starttime(pid) == start)


@dataclass
class Lab:
    """A running nslab container; url is the lab as a browser on this machine reaches it."""

    name: str
    volume: str
    url: str

    @classmethod
    def start(cls, image: str, env: dict[str, str], timeout: float = 90) -> Lab:
        reap_orphans()
        name = f"nslab-test-{os.getpid()}-{secrets.token_hex(3)}"
        port = free_port()
        lab = cls(name, f"{name}-state", f"http://127.0.0.1:{port}")
        owner = f"{LABEL}={os.getpid()}"
        podman("volume", "create", "--label", owner, lab.volume)
        try:
            podman("run", "-d", "--name", name, "--label", owner,
                   "--privileged", "--cgroupns=host",
                   "-p", f"127.0.0.1:{port}:8000", "-v", f"{lab.volume}:/var/lib/nslab",
                   *ulimit_flags(), *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
                   image)
            lab.wait_ready(timeout)
        except BaseException:
            lab.remove()
            raise
        return lab

    def running(self) -> bool:
        res = podman("container", "inspect", "--format", "{{.State.Running}}", self.name,
                     check=False)
        return res.stdout.strip() == "true"

    def logs(self) -> str:
        res = podman("logs", self.name, check=False)
        return _tail(res.stdout + res.stderr, 40)

    def wait_ready(self, timeout: float) -> None:
        """Until /healthz answers at all (200, or 503 with the reason), the container runs."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).close()
                return
            except OSError as e:
                if getattr(e, "code", None) == 503:
                    return
                if not self.running() or time.monotonic() > deadline:
                    state = "is not running" if not self.running() else \
                        f"did not answer within {timeout:.0f} s"
                    raise PodmanError(f"{self.name} {state}; its log:\n{self.logs()}") from None
            time.sleep(0.2)

    def exec(self, *cmd: str, timeout: float = 60, check: bool = True):
        return podman("exec", self.name, *cmd, timeout=timeout, check=check)

    def labhost_cgroups(self) -> list[Path]:
        """The host's directories of every lab host's cgroups (nslab/s<slot>), as its
        processes inside the container name them (host paths: the cgroup namespace is the
        host's)."""
        lines = self.exec("sh", "-c", "cat /proc/[0-9]*/cgroup 2>/dev/null", check=False).stdout
        mounts = _cgroup_mounts()
        found = set()
        for line in lines.splitlines():
            _id, controllers, path = line.split(":", 2)
            m = re.match(r"(.*/nslab/s\d+)(/|$)", path)
            key = frozenset(c for c in controllers.split(",") if c)
            if m and key in mounts:
                found.add(mounts[key] / m.group(1).lstrip("/"))
        return sorted(found)

    def destroy_labhosts(self) -> str:
        """`nslab sandbox destroy --all` in the container: every lab host ended and checked."""
        return self.exec(".venv/bin/nslab", "sandbox", "destroy", "--all", timeout=120).stdout

    def remove(self) -> None:
        """Lab hosts, container and volume gone, whatever state they are in; idempotent."""
        if self.running():
            self.exec(".venv/bin/nslab", "sandbox", "destroy", "--all", timeout=120,
                      check=False)
        podman("stop", "-t", "20", self.name, timeout=60, check=False)
        podman("rm", "-f", "-v", self.name, timeout=60, check=False)
        podman("volume", "rm", "-f", self.volume, timeout=60, check=False)
        left = [what for what, args in (("container", ("container", "exists", self.name)),
                                        ("volume", ("volume", "exists", self.volume)))
                if podman(*args, check=False).returncode == 0]
        if left:
            raise PodmanError(f"{self.name}: the {' and '.join(left)} could not be removed")


def reap_orphans() -> None:
    """Remove the containers and volumes of test runs whose process is gone (killed runs)."""
    res = podman("ps", "-a", "--filter", f"label={LABEL}", "--format",
                 f'{{{{.Names}}}} {{{{index .Labels "{LABEL}"}}}}', check=False)
    for line in res.stdout.splitlines():
        name, _, owner = line.partition(" ")
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            Lab(name, f"{name}-state", "").remove()
    res = podman("volume", "ls", "--filter", f"label={LABEL}", "--format",
                 f'{{{{.Name}}}} {{{{index .Labels "{LABEL}"}}}}', check=False)
    for line in res.stdout.splitlines():
        name, _, owner = line.partition(" ")
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            podman("volume", "rm", "-f", name, check=False)


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "build"
    start = time.monotonic()
    base = ensure_base()
    print(f"base {base}: {time.monotonic() - start:.1f} s")
    if what == "base":
        return 0
    built = build(base)
    size = podman("image", "inspect", "--format", "{{.Size}}", built.id).stdout.strip()
    print(f"image {IMAGE} {built.id[:12]}: built in {built.seconds:.1f} s, "
          f"{int(size) / 1e6:.0f} MB")
    if what == "run":
        lab = Lab.start(built.id, {"NSLAB_WORKSHOP_CODE": "",
                                   "NSLAB_TRAINER_TOKEN": "trainer-secret-for-tests"})
        try:
            input(f"{lab.url}/ (container {lab.name}); Enter ends it ")
        finally:
            lab.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
