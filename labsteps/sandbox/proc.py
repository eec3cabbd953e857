"""/proc/PID/stat, read once and right.

    s = stat(pid)              # None once the process is gone
    s.state, s.ppid, s.started # e.g. "S", 1, 123456
    is_running(pid, started)   # still that very process, and not exited?

The command name (field 2) is in parentheses and may itself hold spaces and parentheses
(a process may call itself ``a) b (c``), so the fields are counted from the last ``)``.
"""

from __future__ import annotations

from typing import NamedTuple


class Stat(NamedTuple):
    pid: int
    comm: str  # the command name, at most 15 bytes, as the process set it
    state: str  # R, S, D, Z (zombie), T...
    ppid: int
    pgrp: int
    session: int
    tty_nr: int  # the controlling terminal's device number (see tty_nr below), 0 for none
    started: int  # start time in clock ticks after boot: with pid, names a process for good


def stat(pid: int) -> Stat | None:
    """The process's stat, or None when there is no such process (any more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    head, _, tail = raw.rpartition(")")
    fields = tail.split()  # fields 3 (state) onwards
    if len(fields) < 20:
        return None
    return Stat(pid=int(head.partition(" ")[0]), comm=head.partition("(")[2],
                state=fields[0], ppid=int(fields[1]), pgrp=int(fields[2]),
                session=int(fields[3]), tty_nr=int(fields[4]), started=int(fields[19]))


def is_running(pid: int, started: int) -> bool:
    """Whether pid is still the process that started at started, and has not exited
    (a zombie has exited: only its parent's wait is missing)."""
    s = stat(pid)
    return s is not None and s.started == started and s.state != "Z"

