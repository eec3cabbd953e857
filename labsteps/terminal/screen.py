"""What a reconnecting browser needs to redraw a terminal: the recent output, from a clean start.

Emulating the terminal on the server would give the exact screen but costs far more CPU
than relaying a flood does. Instead the output is kept raw (bounded) and, on reconnect,
replayed into a freshly reset xterm.js from a point where replaying is exact: the last
full clear of the screen, or a line start far enough back to fill the scrollback. Full-
screen programs draw on the alternate screen; their stretch is cut at its own last clear
or cursor-home (top redraws from home every refresh), and the DEC modes they set (cursor
keys, mouse, bracketed paste...) are re-sent, since the cut may have dropped them.
"""

from __future__ import annotations

import re
from collections import deque

ALT_ON = (b"\x1b[?1049h", b"\x1b[?1047h", b"\x1b[?47h")
ALT_OFF = (b"\x1b[?1049l", b"\x1b[?1047l", b"\x1b[?47l")
CLEARS = (b"\x1b[2J", b"\x1b[3J", b"\x1bc")
HOME = (b"\x1b[H", b"\x1b[1;1H")
_DEC_MODE = re.compile(rb"\x1b\[\?([0-9;]+)([hl])")
# Modes worth restoring after a cut; the alternate screen is handled on its own.
KEPT_MODES = {1, 7, 12, 25, 1000, 1002, 1003, 1004, 1005, 1006, 1015, 2004}


class Screen:
    """Bounded raw output with the offsets that make an exact replay possible."""

    def __init__(self, limit: int = 1 << 20):
        self.limit = limit
        self.chunks: deque[tuple[int, bytes]] = deque()  # (absolute offset, data)
        self.start = 0  # absolute offset of the first byte kept
        self.end = 0
        self.alt = False
        self.alt_from: int | None = None  # where the alternate screen was entered
        self.clear_at = 0  # last full clear on the screen now shown (normal or alt)
        self.normal_clear_at = 0  # last clear of the normal screen
        self.home_at: int | None = None  # last cursor-home on the alternate screen
        self.modes: dict[int, bool] = {}

    def feed(self, data: bytes) -> None:
        if not data:
            return
        base = self.end
        if b"\x1b" in data:
            self._scan(data, base)
        self.chunks.append((base, data))
        self.end += len(data)
        while self.end - self.start > self.limit and len(self.chunks) > 1:
            _, old = self.chunks.popleft()
            self.start += len(old)

    def _scan(self, data: bytes, base: int) -> None:
        events = []
        for pats, kind in ((ALT_ON, "on"), (ALT_OFF, "off"), (CLEARS, "clear"), (HOME, "home")):
            for pat in pats:
                i = data.find(pat)
                while i >= 0:
                    events.append((i, kind))
                    i = data.find(pat, i + 1)
        for m in _DEC_MODE.finditer(data):
            on = m.group(2) == b"h"
            for num in m.group(1).split(b";"):
                if num.isdigit() and int(num) in KEPT_MODES:
                    self.modes[int(num)] = on
        for i, kind in sorted(events):
            at = base + i
            if kind == "on" and not self.alt:
                self.alt, self.alt_from, self.clear_at, self.home_at = True, at, at, None
            elif kind == "off" and self.alt:
                self.alt, self.alt_from = False, None
                self.clear_at = self.normal_clear_at
            elif kind == "clear":
                self.clear_at = at
                if not self.alt:
                    self.normal_clear_at = at
            elif kind == "home" and self.alt:
                self.home_at = at

    def slice(self, frm: int, to: int) -> bytes:
        """Output bytes from frm to to (absolute offsets; what was cut away is skipped)."""
        parts = []
        for off, data in self.chunks:
            if off + len(data) <= frm or off >= to:
                continue
            parts.append(data[max(0, frm - off):to - off])
        return b"".join(parts)

    def _line_start(self, frm: int, to: int) -> int:
        """The first line start at or after frm (frm itself if nothing was cut there)."""
        if frm <= self.start and self.start == 0:
            return 0
        tail = self.slice(frm, to)
        nl = tail.find(b"\n")
        return frm + nl + 1 if nl >= 0 else to

    def replay(self) -> bytes:
        """Bytes that redraw this screen, scrollback included, in a freshly reset terminal."""
        modes = b"".join(b"\x1b[?%d%s" % (m, b"h" if on else b"l")
                         for m, on in sorted(self.modes.items()))
        if not self.alt:
            frm = max(self.clear_at, self.start)
            if frm > self.clear_at:
                frm = self._line_start(frm, self.end)
            return self.slice(frm, self.end) + modes
        assert self.alt_from is not None
        normal = b""
        if self.alt_from > self.start:
            frm = max(self.normal_clear_at, self.start)
            if frm > self.normal_clear_at:
                frm = self._line_start(frm, self.alt_from)
            normal = self.slice(frm, self.alt_from)
        alt_frm = max(self.clear_at, self.alt_from)
        if alt_frm < self.start or self.end - alt_frm > self.limit // 2:
            # The last clear was cut away, or replaying from it is long: programs like top
            # redraw the whole screen from cursor-home, so start at the last one.
            if self.home_at is not None and self.home_at >= self.start:
                alt_frm = max(alt_frm, self.home_at)
            alt_frm = max(alt_frm, self.start)
        body = self.slice(alt_frm, self.end)
        if not body.startswith(ALT_ON):
            body = b"\x1b[?1049h" + body
        return normal + body + modes
