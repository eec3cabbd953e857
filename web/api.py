"""The attendee's JSON API: join, and who am I (see ../shared/api.md)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from labsteps.labhost import LabHostError
from web.attendees import JoinRefused
from web.errors import ApiError
from web.session import login, require_attendee

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "Send a JSON object in the request body.")
    return data


@bp.post("/join")
def join():
    lab = current_app.extensions["nslab"]
    if not lab.ready():
        raise ApiError(503, "not_ready", "The lab cannot start lab hosts right now; please "
                       "tell the trainer.")
    name = json_body().get("name")
    if not isinstance(name, str):
        raise ApiError(400, "bad_name", "Send your name as a string: {\"name\": \"Anna\"}.")
    try:
        attendee = lab.attendees.join(name)
    except JoinRefused as e:
        raise ApiError(409 if e.code == "name_taken" else 400, e.code, str(e)) from None
    try:
        lab.hosts.create(attendee.lab, hostname=lab.hostname(attendee))
    except LabHostError as e:
        lab.attendees.remove(attendee.id)
        full = "full" in str(e)
        raise ApiError(503, "lab_full" if full else "unavailable",
                       "The lab is full; please tell the trainer." if full else
                       f"Your lab host could not be started: {e}") from None
    login(attendee)
    return jsonify(attendee=attendee.public()), 201


@bp.post("/me/reset")
def reset_me():
    attendee = require_attendee()
    try:
        current_app.extensions["nslab"].reset_labhost(attendee)
    except LabHostError as e:
        raise ApiError(503, "lab_host", f"Your lab host could not be started: {e}") from None
    return jsonify(status="fresh")


@bp.get("/me")
def me():
    attendee = require_attendee()
    host = current_app.extensions["nslab"].hosts.get(attendee.lab)
    state = "none" if host is None else ("running" if host.alive() else "stopped")
    return jsonify(attendee=attendee.public(),
                   sandbox={"state": state, "hostname": host.hostname if host else None})
