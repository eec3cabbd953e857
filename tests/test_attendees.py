"""The group's database: failed checks counted, and a state folder from before gains the
columns added since (no migration step: Attendees adds what is missing when it opens)."""

from __future__ import annotations

import sqlite3

from web.attendees import Attendees

OLD = """
CREATE TABLE attendees (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE COLLATE
    NOCASE, token TEXT NOT NULL, created REAL NOT NULL, step TEXT, step_since REAL);
CREATE TABLE progress (attendee INTEGER NOT NULL REFERENCES attendees(id) ON DELETE CASCADE,
    step TEXT NOT NULL, passed INTEGER NOT NULL, checked REAL NOT NULL,
    PRIMARY KEY (attendee, step));
INSERT INTO attendees (name, token, created, step, step_since) VALUES ('Anna', 't', 1, 'chroot', 2);
INSERT INTO progress VALUES (1, 'chroot', 0, 3);
"""


def test_failed_checks_are_counted_with_the_time_of_the_last(tmp_path):
    db = Attendees(tmp_path / "nslab.db")
    anna, bert = db.join("Anna"), db.join("Bert")
    db.record_check(anna.id, "chroot", False)
    db.record_check(anna.id, "chroot", False)
    db.record_check(anna.id, "chroot", True)
    db.record_check(bert.id, "intro", True)
    (fails, at), = db.all_failures()[anna.id].values()
    assert fails == 2 and at > 0
    assert db.progress(anna.id) == {"chroot": True}
    assert bert.id not in db.all_failures()


def test_a_state_folder_from_before_gains_the_new_columns(tmp_path):
    with sqlite3.connect(tmp_path / "nslab.db") as old:
        old.executescript(OLD)
    db = Attendees(tmp_path / "nslab.db")
    assert db.get(1).hand is None and db.progress(1) == {"chroot": False}
    assert db.all_failures() == {}  # failed before it was counted: nothing to say
    db.record_check(1, "chroot", False)
    assert db.all_failures()[1]["chroot"][0] == 1
    Attendees(tmp_path / "nslab.db")  # and opening it again adds nothing twice
