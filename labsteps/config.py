"""Configuration: defaults, overridden by NSLAB_* environment variables, overridden by flags."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

_SIZE = re.compile(r"^(\d+)([kmg]?)$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'512m' -> bytes; plain numbers are bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 512m or 2g)")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    state_dir: Path = Path("/var/lib/nslab")
    lib_dir: Path = Path("/usr/local/lib/nslab")  # what make install builds: see the paths below
    image: Path | None = None  # another template tarball instead of lib_dir/vorlage.tar
    trainer_token: str | None = None
    workshop_code: str | None = None  # None: make one; "": joining needs no code
    capacity: int = 40  # lab hosts at once
    uid_base: int = 1 << 30  # above useradd's default subordinate id range (100000-600100000)
    uid_slots: int = 4096
    pids_max: int = 512
    memory_max: str = "512m"
    tmp_size: str = "256m"
    max_input: int = 256 * 1024  # bytes in one websocket message (a paste); larger: 1009
    ws_ping: float = 20.0  # seconds between websocket pings; a silent peer is dropped after 2.5x
    secret_key: str | None = None  # signs session cookies; default: kept in the state folder
    features_off: str = ""  # kernel features to treat as missing (steps needing them: shown only)
    load_modules: str = ""  # modules to load at start on purpose, e.g. "nf_tables,nft_nat"
    batch_at_once: int = 0  # Runs, Checks and Catch-ups at work at once (0: cores + 1)
    idle_expiry: float = 7200.0  # seconds an attendee may be away before their lab host ends
    trainer_name: str = ""  # the trainer who runs the lab, shown above the talk's intro
    trainer_contact: str = ""  # how to reach them (a mail address, a chat handle)
    extra: dict = field(default_factory=dict)

    @property
    def image_path(self) -> Path:
        return self.image or self.lib_dir / "vorlage.tar"

    @property
    def init_path(self) -> Path:
        return self.lib_dir / "nslab-init"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Config:
        """Defaults, then NSLAB_<FIELD> variables, then keyword overrides that are not None."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("NSLAB_" + f.name.upper())
            if raw is None or f.name == "extra":
                continue
            values[f.name] = _convert(f.name, raw)
        values.update({k: _convert(k, v) if isinstance(v, str) else v
                       for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _convert(name: str, raw: str) -> object:
    if name in ("port", "capacity", "uid_base", "uid_slots", "pids_max", "max_input",
                "batch_at_once"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"NSLAB_{name.upper()} must be a whole number, not {raw!r}") from None
    if name in ("ws_ping", "idle_expiry"):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"NSLAB_{name.upper()} must be a number, not {raw!r}") from None
    if name in ("state_dir", "lib_dir", "image"):
        return Path(raw) if raw else None
    if name in ("memory_max", "tmp_size"):
        parse_size(raw)
    return raw
