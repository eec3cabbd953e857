"""Attendees and their sessions, kept in SQLite under the state folder."""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[\w][\w .'-]{0,31}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS attendees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    token TEXT NOT NULL,
    created REAL NOT NULL,
    step TEXT,
    step_since REAL
);
CREATE TABLE IF NOT EXISTS progress (
    attendee INTEGER NOT NULL REFERENCES attendees(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    passed INTEGER NOT NULL,
    checked REAL NOT NULL,
    PRIMARY KEY (attendee, step)
);
"""


class JoinRefused(ValueError):
    """A name that cannot be used; .code is the API error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Attendee:
    id: int
    name: str
    token: str
    created: float

    @property
    def lab(self) -> str:
        """The name of this attendee's lab host."""
        return f"a{self.id}"

    def public(self) -> dict:
        return {"id": self.id, "name": self.name}


class Attendees:
    def __init__(self, path: Path):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def join(self, name: str) -> Attendee:
        name = " ".join(name.split())
        if not NAME.match(name):
            raise JoinRefused("bad_name", "A name has 1 to 32 letters, digits, spaces, dots, "
                             "dashes or apostrophes and starts with a letter or digit.")
        token = secrets.token_urlsafe(24)
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT INTO attendees (name, token, created) VALUES (?, ?, ?)",
                    (name, token, time.time()))
            except sqlite3.IntegrityError:
                raise JoinRefused("name_taken", f"Someone in this group is already called "
                                 f"{name!r}; please pick another name.") from None
            return Attendee(cur.lastrowid, name, token, time.time())

    def by_session(self, attendee_id: object, token: object) -> Attendee | None:
        if not isinstance(attendee_id, int) or not isinstance(token, str):
            return None
        with self._lock:
            row = self._db.execute("SELECT id, name, token, created FROM attendees WHERE id = ?",
                                   (attendee_id,)).fetchone()
        if row is None or not secrets.compare_digest(row[2], token):
            return None
        return Attendee(*row)

    def record_check(self, attendee_id: int, step: str, passed: bool) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO progress (attendee, step, passed, checked) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (attendee, step) DO UPDATE SET passed = excluded.passed, "
                "checked = excluded.checked", (attendee_id, step, int(passed), time.time()))

    def progress(self, attendee_id: int) -> dict[str, bool]:
        """The last check result of every step the attendee has checked."""
        with self._lock:
            rows = self._db.execute("SELECT step, passed FROM progress WHERE attendee = ?",
                                    (attendee_id,)).fetchall()
        return {step: bool(passed) for step, passed in rows}

    def set_step(self, attendee_id: int, step: str) -> None:
        """The step the attendee is on, and since when (kept when it does not change)."""
        with self._lock:
            self._db.execute("UPDATE attendees SET step = ?, step_since = ? "
                             "WHERE id = ? AND step IS NOT ?",
                             (step, time.time(), attendee_id, step))

    def current_step(self, attendee_id: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT step FROM attendees WHERE id = ?",
                                   (attendee_id,)).fetchone()
        return row[0] if row else None

    def remove(self, attendee_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM attendees WHERE id = ?", (attendee_id,))

    def all(self) -> list[Attendee]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, token, created FROM attendees ORDER BY id")
            return [Attendee(*r) for r in rows.fetchall()]
