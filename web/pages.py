"""The start page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from web import lab

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    state = lab(current_app)
    return render_template("index.html", ready=state.ready(), problems=state.problems)


@bp.get("/healthz")
def healthz():
    state = lab(current_app)
    if not state.ready():
        first = state.problems[0]
        reason = f"{first.name}: {first.detail}" + (f" (fix: {first.fix})" if first.fix else "")
        return jsonify(status="unavailable", error="unavailable", message=reason), 503
    hosts = state.hosts
    return jsonify(status="ok", sandboxes=len(hosts.list()), cgroup=hosts.layout.version)
