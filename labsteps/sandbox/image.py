"""The template image ``vorlage`` (the talk's name for its template container).

The talk exports it from Docker (``docker container export vorlage``); the lab has no
Docker and must work offline at a venue, so ``make install`` builds it from Debian's
busybox-static: one static binary, its applets as links, a few /etc files, and a web
page that shows the container's hostname in place of the talk's erkules/nginxhostname.
There is deliberately no zsh: the talk's ``chroot /tmp/container zsh`` is meant to fail.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n",
    "etc/hostname": "vorlage\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n",
    "etc/os-release": 'NAME="nslab vorlage"\nID=busybox\nPRETTY_NAME="nslab vorlage '
                      '(busybox, standing in for the talk\'s alpine)"\n',
    "etc/profile": "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n. /etc/shinit\n",
    # Read by every interactive busybox sh through $ENV (the lab host's bash exports it):
    # the prompt marks its start and the last command's status, as the lab host's bash
    # does, so the lab's Run button works inside a container too.
    # ($? is expanded in place: a command substitution would need a fork, and at a pids
    # limit there may be none to spare.)
    "etc/shinit": "PS1='\\[\\033]133;D;$?\\007\\]"
                  "\\[\\033]133;A\\007\\]\\u@\\h:\\w\\$ \\[\\033]133;B\\007\\]'\n",
    "var/www/cgi-bin/index.cgi": (
        '#!/bin/sh\n'
        '# Stands in for erkules/nginxhostname: say which container answered.\n'
        'printf "Content-Type: text/html\\r\\n\\r\\n"\n'
        'echo "<h1>Hallo von $(hostname)</h1>"\n'),
    # procps' ps says this when /proc is not mounted; busybox's would just print nothing,
    # and the talk's "Genau das machen was da steht" needs something to do.
    "bin/ps": (
        '#!/bin/sh\n'
        '[ -e /proc/self ] || { echo "Error, do this: mount -t proc proc /proc" >&2; exit 1; }\n'
        'exec /bin/busybox ps "$@"\n'),
}
EXECUTABLE = {"var/www/cgi-bin/index.cgi", "bin/ps"}
DIRS = {"proc": 0o555, "sys": 0o555, "dev": 0o755, "tmp": 0o1777, "root": 0o700,
        "srv": 0o755, "var/tmp": 0o1777, "run": 0o755, "etc": 0o755, "mnt": 0o755}


def applets(busybox: Path = BUSYBOX) -> list[str]:
    """Install paths of every applet, e.g. 'bin/sh', 'usr/bin/wget'."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(line.strip().lstrip("/") for line in out.splitlines() if line.strip())


def build(target: Path, busybox: Path = BUSYBOX) -> Path:
    """Write the vorlage tarball to target (atomically); returns target."""
    if not busybox.exists():
        raise FileNotFoundError(f"{busybox} is missing: apt-get install busybox-static")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    now = int(time.time())
    with tarfile.open(tmp, "w") as tar:
        seen: set[str] = set()

        def add_dir(path: str, mode: int = 0o755) -> None:
            parts = path.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub and sub not in seen:
                    seen.add(sub)
                    info = tarfile.TarInfo(sub)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, DIRS.get(sub, mode), now
                    tar.addfile(info)

        for d in DIRS:
            add_dir(d)
        add_dir("bin")
        info = tar.gettarinfo(str(busybox), "bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        with open(busybox, "rb") as f:
            tar.addfile(info, f)
        for path in applets(busybox):
            if path in FILES or path == "bin/busybox":
                continue
            add_dir(path.rpartition("/")[0])
            link = tarfile.TarInfo(path)
            link.type, link.mtime = tarfile.SYMTYPE, now
            link.linkname = "/bin/busybox"
            tar.addfile(link)
        for path, text in FILES.items():
            add_dir(path.rpartition("/")[0])
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), now
            info.mode = 0o755 if path in EXECUTABLE else 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(target)
    return target
