"""Shell integration: the lab reads the marks the lab host's bash prints at its prompts.

bash prints OSC 133 sequences (the convention of FinalTerm, VS Code, kitty...; xterm.js
ignores them): A before the prompt, B after it, C when a command starts, D;<status> when
it has finished (labsteps/sandbox/shellrc.py sets that up). On exit it prints a
private OSC 6973 with its exit status, because the shell's parent is the lab host's init
and nobody else learns it.
"""

from __future__ import annotations

import re

_MARK = re.compile(rb"\x1b\](133;([ABCD])(?:;(-?\d+))?|6973;exit;(\d+))(?:\x07|\x1b\\)")
_CARRY = 32  # longer than any mark, so a mark split across two reads is still found


class ShellMarks:
    """Reads the marks out of a terminal's output stream, chunk by chunk."""

    def __init__(self) -> None:
        self._carry = b""

    @property
    def pending(self) -> bool:
        """A mark may have started at the end of the last chunk."""
        return bool(self._carry)

    def feed(self, data: bytes) -> list[tuple[str, int | None, int]]:
        """Events in order, as (kind, status, where): kinds "prompt", "input", "busy",
        "done" (with the status) and "exit" (with the shell's exit status); where is the
        mark's offset in data (negative when it began in the previous chunk)."""
        carry = len(self._carry)
        buf = self._carry + data
        events: list[tuple[str, int | None, int]] = []
        last = 0
        for m in _MARK.finditer(buf):
            if m.end() <= carry:
                continue  # seen in the previous chunk already
            last = m.end()
            if m.group(4) is not None:
                events.append(("exit", int(m.group(4)), m.start() - carry))
                continue
            kind = {b"A": "prompt", b"B": "input", b"C": "busy", b"D": "done"}[m.group(2)]
            status = int(m.group(3)) if m.group(3) is not None else None
            events.append((kind, status, m.start() - carry))
        tail = buf[max(last, len(buf) - _CARRY):]
        esc = tail.rfind(b"\x1b]")
        self._carry = tail[esc:] if esc >= 0 else b""
        return events
