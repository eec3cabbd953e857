"""The trainer's view of the room: who is here, how far, hands, watching, resets.

Shared by the trainer's API, the console's live updates and the `nslab` CLI. Resets are
verified: they report success only when nothing of the lab hosts is left.
"""

from __future__ import annotations

import csv
import io
import time

from labsteps.talk.loader import in_chapters
from labsteps.terminal import TERMINALS
from web.attendees import TRAINER_LAB, Attendee, Attendees, new_code


class Classroom:
    def __init__(self, attendees: Attendees, hosts, terminals=None, steps=(),
                 trainer: Attendees | None = None):
        self.attendees, self.hosts, self.terminals = attendees, hosts, terminals
        self.all_steps = list(steps)  # labsteps.talk.loader.Step, every chapter's
        self.trainer = trainer  # the trainer's own progress (trainer.db): not the group's

    @property
    def steps(self) -> list[str]:
        """Ids of the steps of the chapters the group has, in order."""
        return [s.id for s in in_chapters(self.all_steps, self.attendees.chapters())]

    # -- what the console shows -------------------------------------------------------

    def _roles(self, attendee: Attendee) -> list[str]:
        """Who watches the attendee's terminals: a role per viewer, of every terminal."""
        roles = []
        for term in self._terminals(attendee):
            if term.alive:
                roles += term.roles()
        return roles

    def _terminals(self, attendee: Attendee) -> list:
        """The attendee's terminals that exist now (none are made here)."""
        if self.terminals is None:
            return []
        found = (self.terminals.existing(attendee.lab, n) for n in TERMINALS)
        return [term for term in found if term is not None]

    def snapshot(self) -> list[dict]:
        """Every attendee, raised hands first (longest waiting first), then by joining."""
        progress = self.attendees.all_progress()
        failures = self.attendees.all_failures()
        tasks = self.attendees.tasks()
        now = time.time()
        rows = []
        for a in self.attendees.all():
            roles = self._roles(a)
            done = progress.get(a.id, {})
            failed = failures.get(a.id, {})
            rows.append({
                "id": a.id, "name": a.name, "connected": "attendee" in roles,
                "step": a.step, "step_since": a.step_since,
                "on_step_for": round(now - a.step_since) if a.step_since else None,
                "passed": [s for s, ok in done.items() if ok],
                "failed": [s for s, ok in done.items() if not ok],
                # Stuck: on the current step since then, and it has not passed (yet).
                "stuck_since": a.step_since if a.step and not done.get(a.step) else None,
                "fails": {step: n for step, (n, _) in failed.items()},
                "failed_at": {step: at for step, (_, at) in failed.items()},
                "hand_raised": a.hand is not None, "hand_since": a.hand,
                "watched": "watch" in roles or "takeover" in roles,
                "taken_over": "takeover" in roles,
                # "step/index" -> how the task was solved (or null: hint or solution seen)
                "tasks": {f"{step}/{index}": t["how"]
                          for (step, index), t in tasks.get(a.id, {}).items()}})
        rows.sort(key=lambda r: (not r["hand_raised"], r["hand_since"] or 0, r["id"]))
        return rows

    def csv(self) -> str:
        """The group's progress, a row per attendee and a column per step."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "joined", "current step", *self.steps])
        progress = self.attendees.all_progress()
        for a in self.attendees.all():
            done = progress.get(a.id, {})
            writer.writerow([a.name, time.strftime("%Y-%m-%d %H:%M", time.localtime(a.created)),
                             a.step or "", *({True: "passed", False: "failed"}.get(
                                 done.get(s), "") for s in self.steps)])
        return out.getvalue()

    # -- what the trainer does --------------------------------------------------------

    def announce(self, attendee: Attendee, message: dict) -> None:
        """An event to the attendee's open pages (through their terminal connections)."""
        for term in self._terminals(attendee):
            term.announce(message)

    def watch_changed(self, attendee: Attendee) -> None:
        roles = self._roles(attendee)
        self.announce(attendee, {"type": "watch", "watching": "watch" in roles or
                                 "takeover" in roles, "takeover": "takeover" in roles})

    def announce_all(self, message: dict) -> None:
        """An event to every attendee's open pages."""
        for a in self.attendees.all():
            self.announce(a, message)

    def send_all_to(self, step: str) -> int:
        everyone = self.attendees.all()
        for a in everyone:
            self.attendees.set_step(a.id, step)
            self.announce(a, {"type": "goto", "step": step})
        return len(everyone)

    def reset(self, attendee: Attendee) -> None:
        """The attendee's lab host destroyed (verified); the next visit makes a fresh one."""
        # Told before the terminals close (after, there is no socket left to tell): should
        # the destroy below fail, the trainer hears of it, and the page's next visit makes
        # the lab host afresh all the same.
        if self.terminals is not None:
            self.terminals.announce(attendee.lab, {"type": "reset", "by": "trainer"},
                                    role="attendee")
            self.terminals.close_all(attendee.lab)
        self.hosts.destroy(attendee.lab)

    def reset_trainer(self) -> None:
        """The trainer's own lab host destroyed (verified) and their progress forgotten: they
        start the talk afresh, the group untouched."""
        if self.trainer is not None:
            self.trainer.clear()
        if self.terminals is not None:
            self.terminals.close_all(TRAINER_LAB)
        self.hosts.destroy(TRAINER_LAB)

    def new_group(self, code_enabled: bool) -> str:
        """Forget every attendee, set a new workshop code, and end every lab host, the
        trainer's too (with the trainer's progress: they start the talk afresh as well).

        In that order: once the sessions are void, no page of the old group can make a
        lab host again while the old ones are being destroyed."""
        everyone = self.attendees.all()
        code = new_code() if code_enabled else ""
        self.attendees.set_code(code)
        self.attendees.clear()
        if self.trainer is not None:
            self.trainer.clear()
        if self.terminals is not None:
            for a in everyone:
                self.terminals.announce(a.lab, {"type": "reset", "by": "new_group"},
                                        role="attendee")
            for lab in [a.lab for a in everyone] + [TRAINER_LAB]:
                self.terminals.close_all(lab)
        self.hosts.sweep()
        self.hosts.sweep()  # and what a request already under way made meanwhile
        return code
