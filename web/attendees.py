"""The group: attendees, their sessions and progress, and the workshop code, in SQLite.

Everything here survives a restart of the server; lab hosts do not (they are swept at
start and made again on the attendee's next visit).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from labsteps.errors import BadName, NameTaken, WrongCode

NAME = re.compile(r"^[\w][\w .'-]{0,31}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector

SCHEMA = """
CREATE TABLE IF NOT EXISTS attendees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    token TEXT NOT NULL,
    created REAL NOT NULL,
    step TEXT,
    step_since REAL,
    hand REAL
);
CREATE TABLE IF NOT EXISTS progress (
    attendee INTEGER NOT NULL REFERENCES attendees(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    passed INTEGER NOT NULL,
    checked REAL NOT NULL,
    fails INTEGER NOT NULL DEFAULT 0,
    failed REAL,
    PRIMARY KEY (attendee, step)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    attendee INTEGER NOT NULL REFERENCES attendees(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    block INTEGER NOT NULL,
    hint REAL,
    solution REAL,
    how TEXT,
    PRIMARY KEY (attendee, step, block)
);
"""
# Columns that came after the first release: a state folder from before gets them added.
ADDED = {("attendees", "hand"): "REAL",
         ("progress", "fails"): "INTEGER NOT NULL DEFAULT 0",  # failed checks of the step
         ("progress", "failed"): "REAL"}                       # when the last one failed
# How a task was solved, as the trainer's grid shows it: the first that applies.
SOLVED_BY = ("catchup", "solution", "hint", "alone")


@dataclass(frozen=True)
class Attendee:
    id: int
    name: str
    token: str
    created: float
    step: str | None = None
    step_since: float | None = None
    hand: float | None = None

    @property
    def lab(self) -> str:
        """The name of this attendee's lab host."""
        return f"a{self.id}"

    def public(self) -> dict:
        return {"id": self.id, "name": self.name}


TRAINER_LAB = "trainer"  # the trainer's own lab host


@dataclass(frozen=True)
class Trainer(Attendee):
    """The trainer as the steps see them: a record of an attendee's shape, kept in a store
    of its own (trainer.db, which nothing that lists or counts attendees reads: the grid,
    the glance, the CSV, /healthz), doing the steps in a lab host of their own."""

    @property
    def lab(self) -> str:
        return TRAINER_LAB


_COLUMNS = "id, name, token, created, step, step_since, hand"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


class Attendees:
    def __init__(self, path: Path):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still survives the server's crash; it leaves out the fsync per
        # write, which with a class joining at once kept every request waiting on the disk.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        for table in {t for t, _ in ADDED}:
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for (t, column), kind in ADDED.items():
                if t == table and column not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self._lock = threading.Lock()

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # -- the workshop code ------------------------------------------------------------

    def code(self) -> str:
        """The current workshop code; "" when joining needs none."""
        row = self._one("SELECT value FROM settings WHERE key = 'code'")
        return row[0] if row else ""

    def set_code(self, code: str) -> None:
        self._run("INSERT INTO settings (key, value) VALUES ('code', ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (code,))

    def check_code(self, given: object) -> None:
        expected = self.code()
        if not expected:
            return
        if not isinstance(given, str) or not secrets.compare_digest(
                given.strip().upper().encode(), expected.encode()):
            raise WrongCode("That is not the workshop code. The trainer shows it on the "
                            "projector.")

    # -- attendees ----------------------------------------------------------------------

    def join(self, name: str) -> Attendee:
        name = _normal(name)
        if not NAME.match(name):
            raise BadName("A name has 1 to 32 letters, digits, spaces, dots, dashes or "
                          "apostrophes and starts with a letter or digit.")
        token = secrets.token_urlsafe(24)
        now = time.time()
        try:
            cur = self._run("INSERT INTO attendees (name, token, created) VALUES (?, ?, ?)",
                            (name, token, now))
        except sqlite3.IntegrityError:
            raise NameTaken(f"Someone in this group is already called {name!r}; please "
                            "pick another name.") from None
        return Attendee(cur.lastrowid, name, token, now)

    def is_named(self, attendee: Attendee, name: object) -> bool:
        """Whether name is attendee's own, as a join would compare it with the others'."""
        name = _normal(name)
        if not NAME.match(name):  # no one's: and a lone surrogate is no text for SQLite
            return False
        other = self.by_name(name)
        return other is not None and other.id == attendee.id

    def get(self, attendee_id: int) -> Attendee | None:
        row = self._one(f"SELECT {_COLUMNS} FROM attendees WHERE id = ?", (attendee_id,))
        return Attendee(*row) if row else None

    def by_name(self, name: str) -> Attendee | None:
        row = self._one(f"SELECT {_COLUMNS} FROM attendees WHERE name = ?", (name,))
        return Attendee(*row) if row else None

    def by_session(self, attendee_id: object, token: object) -> Attendee | None:
        if not isinstance(attendee_id, int) or not isinstance(token, str):
            return None
        attendee = self.get(attendee_id)
        if attendee is None or not secrets.compare_digest(attendee.token, token):
            return None
        return attendee

    def all(self) -> list[Attendee]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM attendees ORDER BY id").fetchall()
        return [Attendee(*r) for r in rows]

    def remove(self, attendee_id: int) -> None:
        self._run("DELETE FROM attendees WHERE id = ?", (attendee_id,))

    def clear(self) -> None:
        """A new group: every attendee and all progress gone."""
        with self._lock:
            self._db.execute("DELETE FROM tasks")
            self._db.execute("DELETE FROM progress")
            self._db.execute("DELETE FROM attendees")

    # -- progress -----------------------------------------------------------------------

    def record_check(self, attendee_id: int, step: str, passed: bool) -> None:
        """The step's last result; a failure also counted, with its time (the console's
        "stuck longest" tells trying from waiting by them)."""
        now, failed = time.time(), int(not passed)
        self._run("INSERT INTO progress (attendee, step, passed, checked, fails, failed) "
                  "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (attendee, step) DO UPDATE SET "
                  "passed = excluded.passed, checked = excluded.checked, "
                  "fails = fails + excluded.fails, failed = coalesce(excluded.failed, failed)",
                  (attendee_id, step, int(passed), now, failed, now if failed else None))

    def progress(self, attendee_id: int) -> dict[str, bool]:
        """The last check result of every step the attendee has checked."""
        with self._lock:
            rows = self._db.execute("SELECT step, passed FROM progress WHERE attendee = ?",
                                    (attendee_id,)).fetchall()
        return {step: bool(passed) for step, passed in rows}

    def all_progress(self) -> dict[int, dict[str, bool]]:
        with self._lock:
            rows = self._db.execute("SELECT attendee, step, passed FROM progress").fetchall()
        found: dict[int, dict[str, bool]] = {}
        for attendee, step, passed in rows:
            found.setdefault(attendee, {})[step] = bool(passed)
        return found

    def all_failures(self) -> dict[int, dict[str, tuple[int, float]]]:
        """attendee -> step -> (failed checks, time of the last), for steps that failed once."""
        with self._lock:
            rows = self._db.execute("SELECT attendee, step, fails, failed FROM progress "
                                    "WHERE fails > 0").fetchall()
        found: dict[int, dict[str, tuple[int, float]]] = {}
        for attendee, step, fails, failed in rows:
            found.setdefault(attendee, {})[step] = (fails, failed)
        return found

    # -- tasks --------------------------------------------------------------------------

    def task_help(self, attendee_id: int, step: str, block: int, what: str) -> None:
        """The attendee asked for a task's hint or its solution (the first time counts)."""
        column = {"hint": "hint", "solution": "solution"}[what]
        self._run(f"INSERT INTO tasks (attendee, step, block, {column}) VALUES (?, ?, ?, ?) "
                  f"ON CONFLICT (attendee, step, block) DO UPDATE SET "
                  f"{column} = coalesce({column}, excluded.{column})",
                  (attendee_id, step, block, time.time()))

    def task_solved(self, attendee_id: int, step: str, block: int, catchup: bool) -> None:
        """The task's check passed: note how, unless it was solved before."""
        with self._lock:
            row = self._db.execute("SELECT hint, solution, how FROM tasks WHERE attendee = ? "
                                   "AND step = ? AND block = ?",
                                   (attendee_id, step, block)).fetchone()
            if row and row[2]:
                return
            hint, solution = (row[0], row[1]) if row else (None, None)
            how = "catchup" if catchup else "solution" if solution else \
                "hint" if hint else "alone"
            self._db.execute("INSERT INTO tasks (attendee, step, block, how) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (attendee, step, block) DO UPDATE SET how = "
                             "excluded.how", (attendee_id, step, block, how))

    def tasks(self, attendee_id: int | None = None) -> dict[int, dict[tuple[str, int], dict]]:
        """attendee -> (step, block) -> {"hint", "solution", "how"} (all attendees if None)."""
        sql = "SELECT attendee, step, block, hint, solution, how FROM tasks"
        with self._lock:
            rows = self._db.execute(sql + (" WHERE attendee = ?" if attendee_id else ""),
                                    (attendee_id,) if attendee_id else ()).fetchall()
        found: dict[int, dict[tuple[str, int], dict]] = {}
        for attendee, step, block, hint, solution, how in rows:
            found.setdefault(attendee, {})[(step, block)] = {
                "hint": hint is not None, "solution": solution is not None, "how": how}
        return found

    # -- chapters -------------------------------------------------------------------------

    def chapters(self) -> list[str] | None:
        """The chapters the trainer turned on, or None: not chosen (all are on)."""
        row = self._one("SELECT value FROM settings WHERE key = 'chapters'")
        return row[0].split(",") if row else None

    def set_chapters(self, chapters: list[str]) -> None:
        self._run("INSERT INTO settings (key, value) VALUES ('chapters', ?) ON CONFLICT (key) "
                  "DO UPDATE SET value = excluded.value", (",".join(chapters),))

    def set_step(self, attendee_id: int, step: str) -> None:
        """The step the attendee is on, and since when (kept when it does not change)."""
        self._run("UPDATE attendees SET step = ?, step_since = ? WHERE id = ? AND step IS NOT ?",
                  (step, time.time(), attendee_id, step))

    def raise_hand(self, attendee_id: int, raised: bool) -> None:
        self._run("UPDATE attendees SET hand = ? WHERE id = ?",
                  (time.time() if raised else None, attendee_id))


def _normal(name: object) -> str:
    """A name as it is kept: spaces collapsed, and composed, so that the "ö" a Mac types as
    o and a combining diaeresis is the letter it looks like."""
    if not isinstance(name, str):
        return ""
    return unicodedata.normalize("NFC", " ".join(name.split()))
