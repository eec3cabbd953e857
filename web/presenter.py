"""Presenting: the trainer's terminal 1 and kernel picture shown to the room, read-only.

The trainer switches it on and off (POST /api/trainer/present); every attendee's open
page hears it over its terminal sockets ({"type": "presenter", ...}), and again whenever
the presenting trainer moves to another step, which the page offers to follow. While it
is on, WS /ws/presenter shows the trainer's terminal 1 to attendees through one
labsteps.terminal.broadcast.Broadcast, made when the first of them comes: each viewer
has its own flow control there, and none of them slows the trainer or the others.
The projector view (/trainer/present) is the trainer's own page for the front of the room.
"""

from __future__ import annotations

import json
import threading

from flask import Blueprint, Response, abort, jsonify, render_template

from labsteps.terminal.bridge import Close
from labsteps.terminal.broadcast import Broadcast
from web import Lab, current_lab
from web.api import json_body, kernel_of
from web.attendees import TRAINER_LAB
from web.errors import ApiError
from web.session import language, require_attendee
from web.steps import step_json
from web.terminal import serve, tab

bp = Blueprint("presenter", __name__)


class Presenter:
    """Verbs: switch (on or off), moved (the trainer's step changed), show (the broadcast
    for a viewer), state."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.on = False
        self._show: Broadcast | None = None
        self._picture: tuple[int, bytes] | None = None  # the model's JSON, of one version
        self._lock = threading.Lock()  # the switch and the broadcast
        self._telling = threading.Lock()  # one announcement at a time: pages hear them in order

    def state(self) -> dict:
        """{"presenting", "step"}: the trainer's current step while presenting, else null."""
        on = self.on
        return {"presenting": on, "step": self.lab.trainer().step if on else None}

    def for_attendees(self) -> dict:
        """What an attendee's page is told: {"presenting", "step", "trainer"}."""
        return {**self.state(), "trainer": self.lab.config.trainer_name or "Trainer"}

    def switch(self, on: bool) -> dict:
        with self._telling:
            with self._lock:
                changed, self.on = on != self.on, on
                ended, self._show = (self._show, None) if not on else (None, self._show)
            if ended is not None:
                ended.close({"type": "presenter", "presenting": False}, Close.NORMAL,
                            "the trainer has stopped presenting")
            state = self.state()
            if changed:
                self.lab.classroom.announce_all({"type": "presenter", **state})
            return state

    def moved(self) -> None:
        """The trainer is on another step: while presenting, the room hears which."""
        with self._telling:
            if self.on:
                self.lab.classroom.announce_all({"type": "presenter", **self.state()})

    def picture(self) -> bytes:
        """The kernel model of the trainer's lab host as JSON, made once per version: the
        whole room fetches the version it was told of at the same moment."""
        version, model = kernel_of(TRAINER_LAB, latest=True)
        cached = self._picture
        if cached is None or cached[0] != version:
            cached = self._picture = (version, json.dumps({**model, "version": version})
                                      .encode())
        return cached[1]

    def show(self) -> Broadcast:
        """The broadcast of the trainer's terminal 1, made (with the trainer's lab host,
        when there is none) for the first viewer; ApiError 404 when nobody presents."""
        with self._lock:
            if not self.on:
                raise not_presenting()
            if self._show is None or self._show.closed:
                self._show = Broadcast(self.lab.terminal(self.lab.trainer(), 1))
            return self._show


def not_presenting() -> ApiError:
    return ApiError(404, "not_presenting", "The trainer is not presenting right now.")


# -- the trainer ---------------------------------------------------------------------------


@bp.get("/api/trainer/present")
def presenting():
    return jsonify(current_lab().presenter.state())


@bp.post("/api/trainer/present")
def present():
    on = json_body().get("on")
    if not isinstance(on, bool):
        raise ApiError(400, "bad_request", "Send {\"on\": true} or {\"on\": false}.")
    return jsonify(current_lab().presenter.switch(on))


@bp.get("/trainer/present")
@bp.get("/trainer/present/<step_id>")
def projector(step_id: str | None = None):
    """The projector view: the trainer's current step large, their terminal and picture."""
    lab = current_lab()
    steps = lab.steps()
    if step_id is not None:
        if step_id not in {s.id for s in steps}:
            abort(404)
        lab.set_step(lab.trainer(), step_id)
    trainer = lab.trainer()
    step = lab.current_step(trainer)
    lang = language()
    return render_template("present.html", lang=lang,
                           step=step_json(step, lang, trainer),
                           steps=[{"id": s.id, "title": s.title[lang]} for s in steps],
                           presenting=lab.presenter.on, cgroup=lab.hosts.layout.version,
                           hostname=lab.hostname(trainer))


# -- attendees -------------------------------------------------------------------------------


@bp.get("/api/presenter")
def presenter():
    require_attendee()
    return jsonify(current_lab().presenter.for_attendees())


@bp.get("/api/presenter/kernel")
def presenter_kernel():
    require_attendee()
    lab = current_lab()
    if not lab.presenter.on:
        raise not_presenting()
    return Response(lab.presenter.picture(), mimetype="application/json")


@bp.route("/ws/presenter", websocket=True)
def presenter_ws():
    attendee = require_attendee()  # checked before the upgrade too (web/session.py)
    lab = current_lab()
    if not lab.presenter.on:  # before the upgrade: a plain 404
        raise not_presenting()

    def show() -> Broadcast:
        try:
            return lab.presenter.show()
        except ApiError:  # switched off since the check above: no traceback in the log
            raise LookupError("the trainer has stopped presenting") from None

    with tab(attendee.lab, "presenter"):
        return serve(show, f"{attendee.name}'s view of the trainer's terminal",
                     read_only=True, resizes=False, role="viewer")
