"""The start page (join), the lab page (terminals) and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from web import current_lab
from web.session import current_attendee, language

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    state = current_lab()
    return render_template("index.html", ready=state.ready(), problems=state.problems,
                           attendee=current_attendee(), lang=language(),  # a link's ?lang=
                           code_required=bool(state.attendees.code()))


@bp.get("/healthz")
def healthz():
    state = current_lab()
    if not state.ready():
        first = state.problems[0]
        reason = f"{first.name}: {first.detail}" + (f" (fix: {first.fix})" if first.fix else "")
        return jsonify(status="unavailable", error="unavailable", message=reason), 503
    hosts = state.hosts
    # The attendees' lab hosts: the trainer's own is no part of the count.
    labs = [h for h in hosts.list() if h.name not in hosts.beyond_capacity]
    return jsonify(status="ok", sandboxes=len(labs), cgroup=hosts.layout.version,
                   kernel_reads=state.kernel.reads if state.kernel else 0)
