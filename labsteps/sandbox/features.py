"""Kernel features a step needs that a lab host cannot load itself.

    features.available("nf_tables")   # built in or loaded now?
    features.load_safe()              # modprobe what is safe to load for lab hosts

A lab host has no way to load kernel modules, so the host must have them. overlay, veth and
bridge are loaded at start (they add nothing an attendee could not already reach). nf_tables
and its NAT parts are different: reached from user namespaces, nf_tables has been the way
into many recent kernel privilege escalations, so nslab never loads them itself. A step that
needs them runs where the host already has them (built in, or loaded by the trainer on
purpose: NSLAB_LOAD_MODULES), and otherwise shows its commands without running them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# feature -> kernel symbols that show it is there (built in or loaded), and its modules
KNOWN = {
    "nf_tables": (("nft_do_chain", "nft_nat_eval", "nft_masq_eval"),
                  ("nf_tables", "nft_chain_nat", "nft_nat", "nft_masq")),
}
SAFE = ("overlay", "veth", "bridge")  # loaded at start when missing


def names(text: str) -> tuple[str, ...]:
    """A comma-separated setting (NSLAB_FEATURES_OFF, NSLAB_LOAD_MODULES) as names."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _symbols() -> set[str]:
    found = set()
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    found.add(parts[2])
    except OSError:
        pass
    return found


def available(feature: str, off: tuple[str, ...] = ()) -> bool:
    """Whether the kernel has feature now; off: features the trainer turned off (they count
    as missing, whatever the kernel has)."""
    if feature in off:
        return False
    symbols, _ = KNOWN[feature]
    found = _symbols()
    return all(s in found for s in symbols)


def load(modules: tuple[str, ...]) -> list[str]:
    """modprobe each module; the ones that failed (a kernel without them, no modprobe)."""
    if not shutil.which("modprobe"):
        return list(modules)
    failed = []
    for name in modules:
        if subprocess.run(["modprobe", "-q", name], capture_output=True).returncode != 0:
            failed.append(name)
    return failed


def load_safe() -> list[str]:
    """Load overlay, veth and bridge where they are missing; the ones that could not be."""
    missing = [m for m in SAFE if not (Path("/sys/module", m).exists() or
                                       (m == "overlay" and "\toverlay\n" in
                                        Path("/proc/filesystems").read_text()))]
    return load(tuple(missing))
