"""The trainer: login, console page, JSON API, live updates, and watching a terminal.

Trainer requests carry `Authorization: Bearer <token>` or the trainer cookie set by
/trainer/login (the token goes in a form body, never in a URL, so it stays out of logs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)

from labsteps.talk.loader import CHAPTERS
from web import current_lab
from web.api import json_body, kernel_model
from web.errors import ApiError
from web.session import language
from web.terminal import serve, tab

bp = Blueprint("trainer", __name__)


def _mark(token: str) -> str:
    """What the cookie holds: proof of the token, which a new token invalidates."""
    return hmac.new(current_app.secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def is_trainer() -> bool | None:
    """True: a trainer; False: wrong credentials; None: none given."""
    token = current_lab().config.trainer_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":  # a scheme's name is case-insensitive (RFC 9110)
        return bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())
    if "trainer" in session:
        return bool(token) and hmac.compare_digest(str(session["trainer"]), _mark(token))
    return None


@bp.before_app_request
def _guard():
    path = request.path
    if path.startswith(("/api/trainer/", "/ws/trainer/")):
        ok = is_trainer()
        if ok is None:
            raise ApiError(401, "no_token", "Trainer only: send the trainer token "
                           "(Authorization: Bearer ...) or log in at /trainer/login.")
        if not ok:
            raise ApiError(403, "bad_token", "That is not the trainer token.")
    elif (path == "/trainer" or path.startswith(("/trainer/lab", "/trainer/present"))) \
            and not is_trainer():
        return redirect(url_for("trainer.login"))


# -- pages ---------------------------------------------------------------------------


@bp.route("/trainer/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        given = request.form.get("token", "")
        token = current_lab().config.trainer_token
        if token and hmac.compare_digest(given.strip().encode(), token.encode()):
            session["trainer"] = _mark(token)
            session.permanent = True
            return redirect(url_for("trainer.console"))
        error = "Das ist nicht das Trainer-Token. · That is not the trainer token."
    return render_template("trainer_login.html", error=error,
                           lang=language()), 403 if error else 200  # ?lang= for the console


@bp.post("/trainer/logout")
def logout():
    session.pop("trainer", None)
    return redirect(url_for("trainer.login"))


@bp.get("/trainer")
def console():
    lab = current_lab()
    lang = language()  # as an attendee's page chooses it: ?lang=, the session's, the browser's
    steps = [{"id": s.id, "title": s.title[lang], "chapter": s.chapter,
              "tasks": [b.index for b in s.blocks if b.kind == "task"],
              "available": not lab.runner.missing.get(s.id)} for s in lab.steps()]
    return render_template("trainer.html", steps=steps, code=lab.attendees.code(),
                           chapters=_chapters(), lang=lang)


# -- API -------------------------------------------------------------------------------


@bp.get("/api/trainer/attendees")
def attendees():
    return jsonify(current_lab().classroom.snapshot())


@bp.get("/api/trainer/chapters")
def chapters():
    return jsonify(chapters=_chapters())


@bp.post("/api/trainer/chapters")
def set_chapters():
    """Which chapters the group has: {"chapters": ["talk", "deeper"]}."""
    chosen = json_body().get("chapters")
    if not isinstance(chosen, list) or not chosen or \
            any(not isinstance(c, str) or c not in CHAPTERS for c in chosen):
        raise ApiError(400, "bad_request", "Send {\"chapters\": [...]} with one or more of "
                       f"{', '.join(map(repr, CHAPTERS))}.")
    lab = current_lab()
    lab.attendees.set_chapters([c for c in CHAPTERS if c in chosen])
    return jsonify(chapters=_chapters())


def _chapters() -> list[dict]:
    lab = current_lab()
    on = lab.chapters()
    return [{"id": c, "title": title, "on": c in on,
             "steps": [s.id for s in lab.runner.steps if s.chapter == c]}
            for c, title in CHAPTERS.items()]


@bp.get("/api/trainer/code")
def code():
    return jsonify(code=current_lab().attendees.code())


RESET_WHAT = "Send one of {\"attendee\": id}, {\"trainer\": true} or {\"all\": true}."


@bp.post("/api/trainer/reset")
def reset():
    body = json_body()
    lab = current_lab()
    if (body.get("all") is True) + (body.get("trainer") is True) + ("attendee" in body) > 1:
        # one at a time: {"attendee": 3, "all": true} must not quietly reset everyone
        raise ApiError(400, "bad_request", RESET_WHAT)
    if body.get("all") is True:
        lab.settle()  # a lab host still starting would be made after the sweep
        lab.presenter.switch(False)  # a new room: nobody is shown anything yet
        new = lab.classroom.new_group(code_enabled=lab.config.workshop_code != "")
        return jsonify(status="new group", code=new)
    if body.get("trainer") is True:  # the trainer's own lab host and progress, afresh
        lab.classroom.reset_trainer()  # LeftBehind (503) when something of it is left
        return jsonify(status="fresh")
    if "attendee" not in body:
        raise ApiError(400, "bad_request", RESET_WHAT)
    attendee = _attendee(body["attendee"])
    lab.classroom.reset(attendee)  # LeftBehind (503) when something of it is left
    return jsonify(status="fresh", attendee=attendee.public())


@bp.get("/api/trainer/attendees/<int:attendee>/kernel")
def attendee_kernel(attendee: int):
    return kernel_model(_attendee(attendee))


@bp.get("/api/trainer/kernel")
def own_kernel():
    """The kernel model of the trainer's own lab host."""
    return kernel_model(current_lab().trainer())


@bp.get("/api/trainer/progress")
def own_progress():
    """Where the trainer's own Run, Check or Catch-up is, as GET /api/me/progress."""
    return jsonify(current_lab().runner.turns.state(current_lab().trainer().lab))


@bp.post("/api/trainer/goto")
def goto():
    step = json_body().get("step")
    if not isinstance(step, str):
        raise ApiError(400, "bad_request", "\"step\" is a step's id, e.g. \"chroot\".")
    current_lab().step(step)  # UnknownStep (404) when there is none
    return jsonify(sent=current_lab().classroom.send_all_to(step))


@bp.post("/api/trainer/hand")
def lower_hand():
    attendee = _attendee(json_body().get("attendee"))
    current_lab().attendees.raise_hand(attendee.id, False)
    return jsonify(status="lowered")


@bp.get("/api/trainer/progress.csv")
def progress_csv():
    stamp = time.strftime("%Y%m%d-%H%M")
    return Response(current_lab().classroom.csv(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="nslab-{stamp}.csv"'})


@bp.get("/api/trainer/events")
def events():
    """Server-sent events: the attendees list whenever it changes (checked twice a second)."""
    lab = current_lab()
    classroom, codes = lab.classroom, lab.attendees

    @stream_with_context
    def stream():
        last, quiet_since, started = None, time.monotonic(), time.monotonic()
        # An hour at most, and never past the server's stop: the browser reconnects itself.
        while time.monotonic() - started < 3600 and not lab.stopping.is_set():
            rows, code = classroom.snapshot(), codes.code()
            # on_step_for changes every second; the page counts it on from step_since.
            state = json.dumps([[v for k, v in r.items() if k != "on_step_for"] for r in rows]
                               + [code])
            if state != last:
                last, quiet_since = state, time.monotonic()
                data = json.dumps({"attendees": rows, "code": code, "now": time.time()})
                yield f"data: {data}\n\n"
            elif time.monotonic() - quiet_since > 15:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            lab.stopping.wait(0.5)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _attendee(value: object):
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "bad_request", "\"attendee\" is an attendee's id (a number).")
    # 0 or a number past SQLite's integers is no one's id, like 9999 (the path's case too)
    attendee = current_lab().attendees.get(value) if 0 < value < 2**62 else None
    if attendee is None:
        raise ApiError(404, "unknown_attendee", f"There is no attendee {value}.")
    return attendee


# -- the trainer's own terminals, and watching an attendee's ----------------------------------


@bp.route("/ws/trainer/terminal/<terminal:n>", websocket=True)
def own_terminal(n: int):
    lab = current_lab()
    trainer = lab.trainer()
    with tab(trainer.lab, n):
        return serve(lambda: lab.terminal(trainer, n), f"the trainer's terminal {n}")



@bp.before_request
def _watch_target():
    if request.path.startswith("/ws/trainer/watch/"):
        _attendee((request.view_args or {}).get("attendee"))


@bp.route("/ws/trainer/watch/<int:attendee>/<terminal:n>", websocket=True)
def watch(attendee: int, n: int):
    lab = current_lab()
    who = lab.attendees.get(attendee)
    takeover = request.args.get("takeover") == "1"

    def terminal():
        if who is None:  # gone since the check before the upgrade (a new group)
            raise LookupError("that attendee has left")
        return lab.terminal(who, n)

    try:
        return serve(terminal, f"attendee {attendee}'s terminal {n} (trainer)",
              read_only=not takeover, role="takeover" if takeover else "watch",
              resizes=False, on_attach=lambda: lab.classroom.watch_changed(who))
    finally:
        if who is not None:
            lab.classroom.watch_changed(who)
