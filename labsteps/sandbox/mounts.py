"""The lab host's file system: the host's programs read-only, everything writable its own.

Runs as pid 1 of the new pid namespace, root of the new user namespace, in a fresh
mount namespace that is still a copy of the host's. It builds the new root on a
tmpfs, then pivots into it and lets go of the host's tree, so nothing of the host
but the bound-in programs and configuration is reachable from inside.
"""

from __future__ import annotations

import os
from pathlib import Path

from labsteps.sandbox import kernel as k

NEW_ROOT = "/tmp"  # a mount point every host has; private to this mount namespace
# Host directories bound in read-only: the programs the talk runs and their configuration.
HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
EMPTY_DIRS = ("home", "mnt", "srv", "opt", "media", "proc", "sys", "dev", "run", "tmp", "root",
              "var", "var/lib", "var/log", "var/cache", "var/spool", "var/tmp", "lab/images",
              "lab/bin", "lab/etc", "lab/sys")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
NOSUID_NODEV = k.MS_NOSUID | k.MS_NODEV


def build_root(spec: dict, image_fd: int, init_fd: int) -> None:
    """Lay out the lab host's root and pivot into it; cwd ends up at /root."""
    k.mount(None, "/", None, k.MS_REC | k.MS_PRIVATE)
    k.mount("nslab", NEW_ROOT, "tmpfs", NOSUID_NODEV, f"mode=755,size={spec['root_size']}")
    root = Path(NEW_ROOT)
    for d in EMPTY_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    os.symlink("../run", root / "var/run")
    os.symlink("../run/lock", root / "var/lock")
    _bind_host_dirs(root)
    _make_dev(root / "dev", spec["tmpfs"].get("/dev/shm", "64m"))
    k.mount("proc", str(root / "proc"), "proc", NOSUID_NODEV | k.MS_NOEXEC)
    # sysfs stays read-write: a read-only one would make the kernel refuse every later
    # sysfs mount in this user namespace (`ip netns exec` makes one). Its files belong to
    # the host's root, which is unmapped here, so only the lab's own interfaces are writable.
    k.mount("sysfs", str(root / "sys"), "sysfs", NOSUID_NODEV | k.MS_NOEXEC)
    _mount_cgroups(root / "sys/fs/cgroup", spec)
    # `ip netns exec` unmounts /sys and mounts the target's sysfs. Inside a user namespace
    # the kernel allows that only while another sysfs stays fully visible, so keep one.
    k.mount("sysfs", str(root / "lab/sys"), "sysfs", NOSUID_NODEV | k.MS_NOEXEC)
    for where, size in spec["tmpfs"].items():
        if where == "/dev/shm":
            continue
        mode = "700" if where == "/root" else ("755" if where == "/run" else "1777")
        k.mount("tmpfs", str(root / where.lstrip("/")), "tmpfs", NOSUID_NODEV,
                f"mode={mode},size={size}")
    _lab_files(root, spec, image_fd, init_fd)
    for path, text in spec.get("files", {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    os.chdir(NEW_ROOT)
    k.pivot_root(".", ".")  # the old root now sits under the new one at "/"...
    k.umount(".", k.MNT_DETACH)  # ...and is gone from this namespace after this
    os.chdir("/root")


def _bind_host_dirs(root: Path) -> None:
    for name in HOST_DIRS:
        host = Path("/") / name
        if host.is_symlink():  # merged /usr: /bin -> usr/bin and friends
            os.symlink(os.readlink(host), root / name)
        elif host.is_dir():
            (root / name).mkdir()
            k.mount(str(host), str(root / name), None, k.MS_BIND | k.MS_REC)
            k.make_readonly(str(root / name))


def _make_dev(dev: Path, shm_size: str) -> None:
    k.mount("tmpfs", str(dev), "tmpfs", k.MS_NOSUID | k.MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        (dev / name).touch()
        k.mount(f"/dev/{name}", str(dev / name), None, k.MS_BIND)
    # The terminals' ptys are the host's, so the shells' own tty names resolve inside.
    (dev / "pts").mkdir()
    k.mount("/dev/pts", str(dev / "pts"), None, k.MS_BIND)
    (dev / "shm").mkdir()
    k.mount("tmpfs", str(dev / "shm"), "tmpfs", NOSUID_NODEV, f"mode=1777,size={shm_size}")
    for name, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"),
                         ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, dev / name)


def _mount_cgroups(where: Path, spec: dict) -> None:
    """The lab host's cgroup tree, laid out as the host's, rooted at its own subtree."""
    if spec["cgroup_version"] == "v2":
        k.mount("cgroup2", str(where), "cgroup2", NOSUID_NODEV | k.MS_NOEXEC)
        return
    k.mount("cgroup", str(where), "tmpfs", NOSUID_NODEV | k.MS_NOEXEC, "mode=755,size=16k")
    for name, options in spec["cgroup_v1"]:
        (where / name).mkdir()
        k.mount("cgroup", str(where / name), "cgroup", NOSUID_NODEV | k.MS_NOEXEC, options)
    for link, target in spec["cgroup_links"]:
        os.symlink(target, where / link)


def _lab_files(root: Path, spec: dict, image_fd: int, init_fd: int) -> None:
    """/lab: the template image, the init program, and the lab host's own /etc files."""
    for fd, target in ((image_fd, "lab/images/vorlage.tar"), (init_fd, "lab/bin/nslab-init")):
        (root / target).touch()
        # Through the descriptor: the state folder may be closed to the lab host's uids.
        k.mount(f"/proc/self/fd/{fd}", str(root / target), None, k.MS_BIND)
        k.mount(None, str(root / target), None, k.MS_REMOUNT | k.MS_BIND | k.MS_RDONLY)
    name = spec["hostname"]
    (root / "lab/etc/hostname").write_text(name + "\n")
    (root / "lab/etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    for f in ("hostname", "hosts"):
        if (root / "etc" / f).exists():
            k.mount(str(root / "lab/etc" / f), str(root / "etc" / f), None, k.MS_BIND)
