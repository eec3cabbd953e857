"""A throw-away VM with a cgroup-v2-only kernel, to run nslab's code where the host has v1.

``run_in_v2_vm(script)`` boots Debian's kernel under qemu (software emulation, no KVM
needed) with ``cgroup_no_v1=all``, and runs the bash script as root in the guest, whose
root file system is this machine's own ``/`` (read-only over virtio-9p, writable through
a tmpfs overlay): the repository, its .venv, Python, util-linux, iproute2 and
/usr/local/lib/nslab are all there as they are on the host. cgroup2 is mounted at
/sys/fs/cgroup with systemd's options (nsdelegate,memory_recursiveprot).

How a boot goes::

    initramfs /init (busybox)   insmod virtio/9p/overlay/veth, mount host / over 9p,
                                overlay it with tmpfs, mount proc sys dev cgroup2, the
                                run folder (second 9p share), switch_root
    /.testvm/stage2           bash <run folder>/script.sh > output; status; poweroff

The run folder is a fresh host directory shared read-write: it carries the script in and
the output and exit status out, so kernel messages on the serial console never mix with
them. The console log is kept for errors (VMError carries its tail).

The kernel and initramfs are built once (apt-get download of the kernel package, nothing
installed) and cached under /var/cache/nslab-test-vm/<kernel package>_<version>-<hash>;
the hash covers this file, so a change here rebuilds. qemu is installed with apt-get when
missing. From the command line::

    python -m tests.vm.cgroup2_vm --build            # build (or show) the cached VM
    python -m tests.vm.cgroup2_vm 'cat /proc/self/cgroup; ls /sys/fs/cgroup'
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import platform
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QEMU = "qemu-system-x86_64"
# Debian's generic kernel: the cloud flavour has no 9p, which the guest's root needs.
KERNEL_PACKAGE = os.environ.get("NSLAB_VM_KERNEL_PACKAGE", "linux-image-amd64")
CACHE = Path(os.environ.get("NSLAB_VM_CACHE", "/var/cache/nslab-test-vm"))
# Modules the guest loads (their dependencies come along): the 9p root and the run
# folder, and what the steps' operations need (overlay mounts, veth pairs, bridges; not
# nf_tables, which nslab never loads: the bridge-nat step is "not available" there).
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "veth", "bridge")
# What systemd mounts /sys/fs/cgroup with on a cgroup-v2 host.
CGROUP2_OPTIONS = "nsdelegate,memory_recursiveprot"
CMDLINE = ("console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 random.trust_cpu=on "
           "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

STAGE1 = r"""#!/bin/busybox sh
# nslab cgroup-v2 test VM, stage 1: pid 1 in the initramfs.
B=/bin/busybox
say() { $B echo "nslab-vm: $*"; }
fail() { say "FAILED: $*"; $B dmesg | $B tail -n 30; $B poweroff -f; $B sleep 60; }
$B mkdir -p /proc /sys /dev /host /upper /newroot
$B mount -t devtmpfs devtmpfs /dev
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
for m in $($B cat /modules.order); do
    $B insmod "/modules/$m" || fail "insmod $m"
done
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host \
    || fail "mount of the host's root over 9p"
$B mount -t tmpfs -o mode=755 upper /upper || fail "tmpfs"
$B mkdir -p /upper/data /upper/work
$B mount -t overlay -o lowerdir=/host,upperdir=/upper/data,workdir=/upper/work overlay /newroot \
    || fail "overlay root"
R=/newroot
$B mkdir -p $R/.testvm/io
$B cp /bin/busybox /stage2 $R/.testvm/
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmio $R/.testvm/io \
    || fail "mount of the run folder over 9p"
$B mount --move /dev $R/dev && $B mount --move /proc $R/proc && $B mount --move /sys $R/sys \
    || fail "moving /dev /proc /sys"
$B mkdir -p $R/dev/pts $R/dev/shm
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $R/dev/pts || fail "devpts"
$B mount -t tmpfs -o mode=1777 shm $R/dev/shm || fail "/dev/shm"
$B mount -t tmpfs -o mode=755 run $R/run || fail "/run"
$B mkdir -p $R/run/lock
$B mount -t cgroup2 -o "$($B cat $R/.testvm/io/cgroup2-options)" cgroup2 $R/sys/fs/cgroup \
    || fail "cgroup2 mount"
exec $B switch_root $R /.testvm/busybox sh /.testvm/stage2
fail "switch_root"
"""

STAGE2 = r"""# nslab cgroup-v2 test VM, stage 2: pid 1 on the host's files; runs the script.
B=/.testvm/busybox
IO=/.testvm/io
export PATH=@PATH@ HOME=/root LANG=C.UTF-8 TERM=dumb
$B hostname nslab-v2-vm
$B ip link set lo up
$B echo "nslab-vm: running, kernel $($B uname -r), $($B grep cgroup /proc/mounts)"
cd /
/bin/bash $IO/script.sh </dev/null >$IO/output 2>&1
$B echo $? >$IO/status.tmp && $B mv $IO/status.tmp $IO/status
$B echo "nslab-vm: script exited with status $($B cat $IO/status)"
$B sync
$B poweroff -f
$B sleep 60
""".replace("@PATH@", GUEST_PATH)


class VMError(RuntimeError):
    """The VM could not be built or booted, or gave no result; the message says why."""


# -- availability ---------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Why the VM cannot run here, or None when it can (or can be set up with apt-get)."""
    if platform.machine() != "x86_64":
        return f"needs an x86_64 host, not {platform.machine()}"
    if os.geteuid() != 0:
        return "needs root (apt-get, and a guest that reads every host file)"
    if _cached_build() is None and not shutil.which("apt-get"):
        return "no cached VM kernel and no apt-get to download one"
    if not shutil.which(QEMU) and not shutil.which("apt-get"):
        return f"{QEMU} is missing and there is no apt-get to install it"
    return None


def available() -> bool:
    return unavailable_reason() is None


# -- running ---------------------------------------------------------------------------


def run_in_v2_vm(script: str, timeout: float = 180, cwd: str | Path = REPO,
                 env: dict[str, str] | None = None, memory_mb: int = 1024, cpus: int = 2,
                 cgroup2_options: str = CGROUP2_OPTIONS) -> tuple[int, str]:
    """Boot the VM, run script with bash as root in cwd; (exit status, stdout+stderr).

    timeout bounds the boot and the script together; the one-off build is not counted.
    Raises VMError when the VM gives no exit status (timeout, boot failure).
    """
    build = prepare()
    _ensure_qemu()
    run_dir = Path(tempfile.mkdtemp(prefix="nslab-vm-run-"))
    try:
        exports = "".join(f"export {k}={_quote(v)}\n" for k, v in (env or {}).items())
        (run_dir / "script.sh").write_text(f"{exports}cd {_quote(str(cwd))} || exit 97\n"
                                           f"{script}\n")
        (run_dir / "cgroup2-options").write_text(cgroup2_options)
        console = run_dir / "console.log"
        cmd = [QEMU, "-accel", "tcg", "-cpu", "max", "-smp", str(cpus), "-m", str(memory_mb),
               "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-kernel", str(build / "vmlinuz"), "-initrd", str(build / "initrd.gz"),
               "-append", CMDLINE, "-serial", f"file:{console}",
               "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
                          "multidevs=remap",
               "-virtfs", f"local,path={run_dir},mount_tag=vmio,security_model=none,"
                          "multidevs=remap"]
        with open(run_dir / "qemu.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise VMError(f"the VM did not finish within {timeout:g} s"
                              + _logs(run_dir)) from None
        status_file = run_dir / "status"
        if not status_file.exists():
            raise VMError(f"the VM stopped (qemu exit {proc.returncode}) without the "
                          "script's exit status" + _logs(run_dir))
        output = (run_dir / "output").read_bytes().decode(errors="replace")
        return int(status_file.read_text()), output
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _logs(run_dir: Path) -> str:
    parts = []
    for name in ("qemu.log", "console.log", "output"):
        path = run_dir / name
        if path.exists() and path.stat().st_size:
            text = path.read_bytes().decode(errors="replace")
            parts.append(f"\n--- {name} (last 4000 characters) ---\n{text[-4000:]}")
    return "".join(parts)


# -- building ---------------------------------------------------------------------------


def _harness_hash() -> str:
    """Changes with this file, so that a change to how the VM is built rebuilds it."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _cached_build() -> Path | None:
    """The newest complete build for this harness, whatever its kernel version."""
    if not CACHE.is_dir():
        return None
    builds = [d for d in CACHE.glob(f"*-{_harness_hash()}") if (d / "build.json").exists()]
    return max(builds, key=lambda d: d.stat().st_mtime) if builds else None


def prepare(rebuild: bool = False) -> Path:
    """The folder with vmlinuz and initrd.gz, built first when there is none in the cache."""
    if not rebuild and (found := _cached_build()):
        return found
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; others wait and reuse it
        if not rebuild and (found := _cached_build()):
            return found
        return _build()


def _apt(*args: str) -> str:
    proc = subprocess.run(["apt-get", *args], capture_output=True, text=True,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode:
        raise VMError(f"apt-get {' '.join(args)} failed:\n{proc.stdout[-1500:]}"
                      f"{proc.stderr[-1500:]}")
    return proc.stdout


def _ensure_qemu() -> None:
    if not shutil.which(QEMU):
        _apt("update", "-qq")
        _apt("install", "-y", "-qq", "--no-install-recommends", "qemu-system-x86")


def _resolve_kernel_package() -> tuple[str, str]:
    """(package, version) with the kernel: the meta-package's target, e.g. linux-image-6.1.0-57-amd64."""
    def show(name: str) -> str:
        return subprocess.run(["apt-cache", "show", "--no-all-versions", name],
                              capture_output=True, text=True).stdout

    if not show(KERNEL_PACKAGE):  # a fresh machine has no package lists yet
        _apt("update", "-qq")
        if not show(KERNEL_PACKAGE):
            raise VMError(f"apt-cache does not know {KERNEL_PACKAGE}")
    name = KERNEL_PACKAGE
    for _ in range(3):  # linux-image-amd64 -> linux-image-6.1.0-57-amd64
        out = subprocess.run(["apt-cache", "depends", name], capture_output=True,
                             text=True).stdout
        deps = [line.split()[-1] for line in out.splitlines()
                if line.strip().startswith("Depends: linux-image-")]
        if not deps:
            break
        name = deps[0]
    version = next((line.split(":", 1)[1].strip() for line in show(name).splitlines()
                    if line.startswith("Version:")), "unknown")
    return name, version


def _build() -> Path:
    started = time.monotonic()
    package, version = _resolve_kernel_package()
    target = CACHE / f"{package}_{version.replace(':', '_')}-{_harness_hash()}"
    with tempfile.TemporaryDirectory(prefix="nslab-vm-build-", dir=CACHE) as tmp:
        work = Path(tmp)
        proc = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work,
                              capture_output=True, text=True)
        debs = list(work.glob("*.deb"))
        if not debs:
            raise VMError(f"apt-get download {package} failed: {proc.stderr[-1500:]}")
        tree = work / "tree"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True)
        kernels = sorted(tree.glob("boot/vmlinuz-*"))
        moddirs = sorted(tree.glob("lib/modules/*/kernel"))
        if not kernels or not moddirs:
            raise VMError(f"{debs[0].name} has no boot/vmlinuz-* or lib/modules/*/kernel")
        order = _module_order(moddirs[0], MODULES)
        out = work / "out"
        out.mkdir()
        shutil.copy(kernels[0], out / "vmlinuz")
        files: dict[str, tuple[bytes, int]] = {
            "init": (STAGE1.encode(), 0o755),
            "stage2": (STAGE2.encode(), 0o644),
            "bin/busybox": (_static_busybox(work).read_bytes(), 0o755),
            "modules.order": ("\n".join(f"{m}.ko" for m, _ in order).encode() + b"\n", 0o644),
        }
        for name, path in order:
            files[f"modules/{name}.ko"] = (_module_bytes(path), 0o644)
        (out / "initrd.gz").write_bytes(gzip.compress(_newc(files), compresslevel=6))
        (out / "build.json").write_text(json.dumps({
            "package": package, "version": version, "kernel": kernels[0].name,
            "modules": [m for m, _ in order], "seconds": round(time.monotonic() - started, 1),
        }, indent=1) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(out, target)
    for old in CACHE.glob("linux-image-*"):  # builds of older versions of this file
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target


def _static_busybox(work: Path) -> Path:
    """A statically linked busybox: the host's when it is one, else busybox-static's."""
    host = Path("/bin/busybox")
    if host.exists() and not _has_interpreter(host):
        return host
    subprocess.run(["apt-get", "download", "busybox-static"], cwd=work, capture_output=True)
    debs = list(work.glob("busybox-static_*.deb"))
    if not debs:
        raise VMError("no static busybox: /bin/busybox is dynamic and apt-get download "
                      "busybox-static failed")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(work / "bb")], check=True)
    return work / "bb/bin/busybox"


def _has_interpreter(elf: Path) -> bool:
    """Whether an ELF64 file asks for a dynamic loader (has a PT_INTERP header)."""
    data = elf.read_bytes()[:65536]
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3
               for i in range(phnum))


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True,
                              check=True).stdout
    return data


def _modinfo(path: Path) -> dict[str, str]:
    """The key=value pairs of a module's .modinfo ELF section (name, depends, ...)."""
    data = _module_bytes(path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        name, = struct.unpack_from("<I", data, base)
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        return name, offset, size

    _, str_off, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        if data[str_off + name:data.index(b"\0", str_off + name)] == b".modinfo":
            info = {}
            for item in data[offset:offset + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, value)
            return info
    return {}


def _module_order(kernel_dir: Path, wanted: tuple[str, ...]) -> list[tuple[str, Path]]:
    """wanted modules and their dependencies, dependencies first."""
    index: dict[str, Path] = {}
    for path in kernel_dir.rglob("*.ko*"):
        index[path.name.split(".ko")[0].replace("-", "_")] = path
    order: list[tuple[str, Path]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in index:
            raise VMError(f"kernel module {name} is neither built in nor in the package")
        for dep in filter(None, _modinfo(index[name]).get("depends", "").split(",")):
            visit(dep)
        order.append((name, index[name]))

    builtin = kernel_dir.parent / "modules.builtin"
    built_in = {Path(line).name.split(".ko")[0].replace("-", "_")
                for line in (builtin.read_text().split() if builtin.exists() else [])}
    for name in wanted:
        if name.replace("-", "_") not in built_in:
            visit(name)
    return order


def _newc(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A cpio archive in the kernel's initramfs format (newc), directories included."""
    out = io.BytesIO()
    ino = 1

    def entry(name: str, mode: int, data: bytes = b"") -> None:
        nonlocal ino
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.write(name.encode() + b"\0")
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))
        ino += 1

    dirs = sorted({str(p) for name in files for p in Path(name).parents if str(p) != "."})
    for d in dirs:
        entry(d, stat.S_IFDIR | 0o755)
    for name, (data, mode) in sorted(files.items()):
        entry(name, stat.S_IFREG | mode, data)
    entry("TRAILER!!!", 0)
    return out.getvalue()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--build"]:
        build = prepare(rebuild="--rebuild" in argv)
        print(build)
        print((build / "build.json").read_text(), end="")
        return 0
    if not argv:
        print(__doc__)
        return 2
    started = time.monotonic()
    code, output = run_in_v2_vm(" ".join(argv))
    sys.stdout.write(output)
    print(f"[exit status {code}, {time.monotonic() - started:.1f} s]", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
