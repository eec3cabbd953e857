"""The attendee's JSON API: join, who am I, raise a hand, a fresh lab host."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, request

from labsteps.config import parse_size
from labsteps.errors import LabFull
from web import current_lab
from web.errors import ApiError
from web.session import current_attendee, login, require_attendee

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than Python's parser goes: not ours to read
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "Send a JSON object in the request body.")
    return data


def _memory_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 1 << 62


@bp.post("/join")
def join():
    lab = current_lab()
    if not lab.ready():
        raise ApiError(503, "not_ready", "The lab cannot start lab hosts right now; please "
                       "tell the trainer.")
    body = json_body()
    lab.attendees.check_code(body.get("code"))
    if _memory_available() < parse_size(lab.config.memory_max) // 2:
        raise LabFull("the machine has too little memory left for another lab host")
    wait = body.get("wait", True)
    if not isinstance(wait, bool):
        raise ApiError(400, "bad_request", "\"wait\" is true or false.")
    me = current_attendee()
    if me is not None and lab.attendees.is_named(me, body.get("name")):
        # The same person again (the start page in a second tab): their own seat, not a
        # "someone is already called" that would send them to pick another name.
        if wait:
            lab.labhost(me)
        return jsonify(attendee=me.public()), 200
    attendee = lab.attendees.join(body.get("name"))
    try:
        if wait:
            lab.hosts.create(attendee.lab, hostname=lab.hostname(attendee))
        else:  # the page: it shows the talk at once, its terminals wait for the lab host
            lab.start_labhost(attendee)
    except BaseException:  # LabFull, or whatever went wrong: the name is free again
        lab.attendees.remove(attendee.id)
        raise
    lab.attendees.set_step(attendee.id, lab.steps()[0].id)  # where the page starts
    login(attendee)
    return jsonify(attendee=attendee.public()), 201


@bp.get("/me")
def me():
    attendee = require_attendee()
    lab = current_lab()
    host = lab.hosts.get(attendee.lab)
    state = "none" if host is None else ("running" if host.alive() else "stopped")
    if host is None and lab.is_starting(attendee.lab):
        state = "starting"
    return jsonify(attendee=attendee.public(),
                   sandbox={"state": state, "hostname": host.hostname if host else None},
                   hand_raised=attendee.hand is not None)


@bp.post("/me/hand")
def hand():
    attendee = require_attendee()
    raised = json_body().get("raised", True)
    if not isinstance(raised, bool):
        raise ApiError(400, "bad_request", "\"raised\" is true or false.")
    current_lab().attendees.raise_hand(attendee.id, raised)
    return jsonify(hand_raised=raised)


@bp.get("/me/kernel")
def my_kernel():
    """The live kernel model of the attendee's lab host (see ../shared/api.md)."""
    return kernel_model(require_attendee())


def kernel_model(attendee):
    version, model = kernel_of(attendee.lab)
    return jsonify({**model, "version": version})


def kernel_of(name: str, latest: bool = False) -> tuple[int, dict]:
    """(version, model) of lab host name; latest: as last read, for the room watching the
    trainer's (it is read again on activity anyway, and announced when it changed)."""
    lab = current_lab()
    if lab.kernel is None or lab.hosts.get(name) is None:
        raise ApiError(409, "no_lab_host", "There is no lab host to look into yet: open a "
                       "terminal, and it starts.")
    return (lab.kernel.latest if latest else lab.kernel.model)(name)


@bp.get("/me/progress")
def my_progress():
    """Where the attendee's Run, Check or Catch-up is (queued, or which block runs): what
    the terminals' "progress" event last said, for a page that was not listening."""
    return jsonify(current_lab().runner.turns.state(require_attendee().lab))


@bp.post("/me/reset")
def reset_me():
    current_lab().reset_labhost(require_attendee())
    return jsonify(status="fresh")
