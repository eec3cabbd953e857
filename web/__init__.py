"""nslab's web side: pages, the JSON API and the terminal websockets, over labsteps."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from labsteps.config import Config
from labsteps.errors import LabFull, LabHostError, UnknownStep
from labsteps.sandbox import doctor, features
from labsteps.sandbox.labhost import LabHosts, hostname_for
from labsteps.talk.live import KernelWatch, watch_lab
from labsteps.talk.loader import CHAPTERS, Step, in_chapters, load_steps
from labsteps.talk.runner import Runner
from labsteps.terminal.pty import Terminal, Terminals
from web.attendees import TRAINER_LAB, Attendee, Attendees, Trainer, new_code
from web.classroom import Classroom

if TYPE_CHECKING:
    from web.presenter import Presenter

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("nslab")


@dataclass
class Lab:
    """What one running nslab holds: configuration, attendees, lab hosts, terminals."""

    config: Config
    attendees: Attendees
    hosts: LabHosts | None
    terminals: Terminals | None
    runner: Runner
    classroom: Classroom
    kernel: KernelWatch | None  # the live kernel model of each lab host
    trainer_store: Attendees | None = None  # the trainer's progress, apart from the group's
    presenter: Presenter | None = None  # whether the trainer presents (web/presenter.py)
    problems: list[doctor.Finding] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    # Lab hosts by name (an attendee's, the trainer's) that a restart replaced, or that
    # ended while their owner was away: the page says so once.
    restarted: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    _trainer_lock: threading.Lock = field(default_factory=threading.Lock)
    seen: dict = field(default_factory=dict)  # lab host -> when a terminal of it was last open
    janitor: int = 0  # the pid of the process whose janitor thread runs (gunicorn forks)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Terminal websockets open or opening, per (lab host, terminal): each holds a thread.
    tabs: Counter = field(default_factory=Counter)
    tabs_lock: threading.Lock = field(default_factory=threading.Lock)
    # Per lab host: whoever looks for it (a page reconnecting) waits while another makes it
    # afresh (Catch-up, a reset). Between the old one's end and the new one's record there
    # is no lab host, and a page that looked then made yet another, under Catch-up's feet.
    making: dict[str, threading.Lock] = field(default_factory=dict)
    making_lock: threading.Lock = field(default_factory=threading.Lock)
    # Lab hosts started in the background for a page's join, and a word when one is done.
    starting: set[str] = field(default_factory=set)
    starts: threading.Condition = field(default_factory=threading.Condition)

    def ready(self) -> bool:
        return self.hosts is not None and not self.problems

    def chapters(self) -> list[str]:
        """The chapters this group has (the trainer's choice; all until one is made)."""
        chosen = self.attendees.chapters()
        return [c for c in CHAPTERS if chosen is None or c in chosen]

    def steps(self) -> list[Step]:
        """The steps of the chapters this group has, in order."""
        return in_chapters(self.runner.steps, self.chapters())

    def step(self, step_id: str) -> Step:
        """A step of this group's chapters; UnknownStep for any other."""
        step = self.runner.step(step_id)
        if step.chapter not in self.chapters():
            raise UnknownStep(f"There is no step {step_id!r} in this workshop's chapters.")
        return step

    def current_step(self, who: Attendee) -> Step:
        """The step who is on; the first of this group's when theirs is none of them (none
        yet, or in a chapter the trainer has switched off since)."""
        steps = self.steps()
        return next((s for s in steps if s.id == who.step), steps[0])

    def hostname(self, attendee: Attendee) -> str:
        return hostname_for(attendee.name)

    # -- who does the steps: an attendee, or the trainer ------------------------------------

    def trainer(self) -> Trainer:
        """The trainer, as the steps see them (their record made on first use)."""
        with self._trainer_lock:
            found = self.trainer_store.all()
            record = found[0] if found else self.trainer_store.join("Trainer")
        fields = {**record.__dict__, "name": self.config.trainer_name or "trainer"}
        return Trainer(**fields)

    def store(self, who: Attendee) -> Attendees:
        """Where who's progress is kept: the trainer's apart from the group's."""
        return self.trainer_store if isinstance(who, Trainer) else self.attendees

    def set_step(self, who: Attendee, step_id: str) -> None:
        """The step who is on now; the room hears when it is the presenting trainer's."""
        before = who.step
        self.store(who).set_step(who.id, step_id)
        if isinstance(who, Trainer) and self.presenter is not None and step_id != before:
            self.presenter.moved()

    def labhost(self, attendee: Attendee):
        """The attendee's running lab host, made (again) when it is missing or stopped."""
        self._start_janitor()
        with self._making(attendee.lab):
            host = self.hosts.get(attendee.lab)
            if host is None or not host.alive():
                if self.terminals is not None:
                    self.terminals.close_all(attendee.lab)
                if host is None and attendee.created < self.started:
                    self.restarted.add(attendee.lab)  # the page says so, once
                host = self.hosts.create(attendee.lab, hostname=self.hostname(attendee))
            return host

    def start_labhost(self, attendee: Attendee) -> None:
        """Start the attendee's lab host in the background, so that a class joining at once
        sees the talk at once. Whoever needs the lab host (a terminal, Run, Check) waits
        for it; should the start fail, the next of them tries again and says why.
        LabFull at once when the capacity, counting those still starting, is reached."""
        lock = self._making(attendee.lab)
        with self.starts:
            if self.hosts.room() - len(self.starting) <= 0:
                raise LabFull(f"all {self.config.capacity} lab hosts are taken")
            self.starting.add(attendee.lab)
        lock.acquire()  # released by the thread, once the lab host is there (or is not)

        def make() -> None:
            try:
                self.hosts.create(attendee.lab, hostname=self.hostname(attendee))
            except Exception as e:  # said again by the next one who needs the lab host
                log.warning("starting the lab host of %s: %s", attendee.name, e)
            finally:
                with self.starts:
                    self.starting.discard(attendee.lab)
                    self.starts.notify_all()
                lock.release()

        self._start_janitor()
        threading.Thread(target=make, daemon=True, name="nslab-start").start()

    def is_starting(self, lab: str) -> bool:
        with self.starts:
            return lab in self.starting

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until no lab host is starting in the background (a new group or the
        server's stop would otherwise sweep before one is made, and leave it)."""
        with self.starts:
            return self.starts.wait_for(lambda: not self.starting, timeout)

    def _making(self, lab: str) -> threading.Lock:
        with self.making_lock:  # one per lab host ever made: as many as attendees
            return self.making.setdefault(lab, threading.Lock())

    def _start_janitor(self) -> None:
        if self.janitor != os.getpid() and self.terminals is not None:
            self.janitor = os.getpid()
            threading.Thread(target=self._expire_idle, daemon=True, name="nslab-janitor").start()

    def _expire_idle(self) -> None:
        """End the lab hosts of attendees away longer than config.idle_expiry (a server
        left running after the workshop); their progress stays, and they get a fresh one
        when they come back. The trainer's too: one that is presenting is being looked at
        (labsteps/terminal/broadcast.py), so it stays while the room watches."""
        every = min(60.0, max(0.2, self.config.idle_expiry / 4))
        while not self.stopping.wait(every):
            now = time.time()
            for attendee in [*self.attendees.all(), self.trainer()]:
                host = self.hosts.get(attendee.lab)
                if host is None:
                    continue
                if self.terminals.watched(attendee.lab):
                    self.seen[attendee.lab] = now
                elif (away := now - self.seen.get(attendee.lab, host.created)) > \
                        self.config.idle_expiry:
                    try:
                        self.terminals.close_all(attendee.lab)
                        self.hosts.destroy(attendee.lab)
                    except LabHostError as e:
                        log.error("ending the idle lab host of %s: %s", attendee.name, e)
                        continue
                    self.seen.pop(attendee.lab, None)
                    self.expired.add(attendee.lab)
                    log.info("ended the lab host of %s: away for %.0f s", attendee.name, away)

    def reset_labhost(self, attendee: Attendee):
        """The attendee's lab host, fresh: terminals closed (their pages reconnect, and wait
        until the new one is there)."""
        with self._making(attendee.lab):
            if self.terminals is not None:
                self.terminals.close_all(attendee.lab)
            return self.hosts.create(attendee.lab, hostname=self.hostname(attendee))

    def terminal(self, attendee: Attendee, n: int) -> Terminal:
        self.labhost(attendee)
        return self.terminals.get(attendee.lab, n)

    def stop(self) -> None:
        """The server is going: make no more lab hosts or shells, end every terminal and
        event stream, and destroy the lab hosts (the group stays in the state folder).

        Browsers hold websockets and event streams open for hours, and gunicorn waits for
        open connections as long as it waits for the worker before killing it: so this runs
        at once on SIGTERM, not after the connections. Safe to call again."""
        self.stopping.set()
        if self.hosts is not None:
            self.hosts.close()
            self.settle(10)
        if self.terminals is not None:
            self.terminals.shutdown()
        if self.kernel is not None:
            self.kernel.stop()
        if self.hosts is not None:
            try:
                self.hosts.sweep()
            except LabHostError as e:  # the others went; the next start tries again
                log.error("stopping: %s", e)


def _secret_key(config: Config) -> str:
    """Kept in the state folder, so sessions survive a restart of the server."""
    if config.secret_key:
        return config.secret_key
    path = config.state_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


def create_app(config: Config | None = None, *, sweep: bool = True) -> Flask:
    """The Flask app for one lab; sweep destroys lab hosts a previous run left behind."""
    config = config or Config.from_env()
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    app.config.update(
        SECRET_KEY=_secret_key(config),
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_NAME="nslab_session",
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        # The cookie is sent when the session changes (a join, a language), not with every
        # answer: an answer to a request sent before the change would put the old one back.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    problems = doctor.problems(config)
    hosts = None
    try:
        hosts = LabHosts(config, beyond_capacity={TRAINER_LAB})
    except (LabHostError, OSError) as e:  # the host's cgroups cannot hold lab hosts
        problems.append(doctor.Finding("lab hosts", False, str(e)))
    if hosts is not None:
        features.load_safe()  # overlay, veth, bridge: a lab host cannot load them itself
        wanted = features.names(config.load_modules)
        failed = features.load(wanted) if wanted else []
        if failed:
            log.warning("NSLAB_LOAD_MODULES: could not load %s", ", ".join(failed))
    if hosts is not None and sweep:
        swept = hosts.sweep()
        if swept:
            log.warning("destroyed %d lab host(s) left by an earlier run: %s",
                        len(swept), ", ".join(swept))
    terminals = Terminals(hosts) if hosts else None
    attendees = Attendees(config.state_dir / "nslab.db")
    trainer_store = Attendees(config.state_dir / "trainer.db")  # apart from the group's
    _workshop_code(config, attendees)
    steps = load_steps()
    off = features.names(config.features_off)
    missing = {s.id: [f for f in s.needs if not features.available(f, off)] for s in steps}
    app.extensions["nslab"] = lab = Lab(
        config=config, attendees=attendees, trainer_store=trainer_store, hosts=hosts,
        terminals=terminals,
        runner=Runner(steps, hosts, terminals, {k: v for k, v in missing.items() if v},
                      at_once=config.batch_at_once if config.batch_at_once > 0
                      else (os.cpu_count() or 1) + 1, ahead={TRAINER_LAB}),
        problems=problems,
        kernel=watch_lab(hosts, terminals) if terminals else None,
        classroom=Classroom(attendees, hosts, terminals, steps, trainer=trainer_store))

    from web import (
        api,
        converters,
        errors,
        markup,
        pages,
        presenter,
        session,
        steps,
        terminal,
        trainer,
    )
    lab.presenter = presenter.Presenter(lab)
    app.jinja_env.filters["markup_inline"] = markup.inline
    errors.register(app)
    converters.register(app)
    session.register(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(steps.bp)
    app.register_blueprint(terminal.bp)
    app.register_blueprint(trainer.bp)
    app.register_blueprint(presenter.bp)
    return app


def _workshop_code(config: Config, attendees: Attendees) -> None:
    """NSLAB_WORKSHOP_CODE wins; else the group keeps the code it has, or gets a new one."""
    if config.workshop_code is not None:
        attendees.set_code(config.workshop_code.strip().upper())
    elif not attendees.code():
        attendees.set_code(new_code())


def current_lab() -> Lab:
    """The Lab of the app handling the current request."""
    from flask import current_app

    return current_app.extensions["nslab"]
