"""Who is asking: the attendee behind the session cookie, and the checks made before any
websocket upgrade (so that a refused request never starts a shell)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, g, request, session

from labsteps.talk.loader import LANGS
from web import current_lab
from web.attendees import Attendee
from web.errors import ApiError


def current_attendee() -> Attendee | None:
    if "attendee" not in g:
        attendees = current_lab().attendees
        g.attendee = attendees.by_session(session.get("aid"), session.get("tok"))
    return g.attendee


def require_attendee() -> Attendee:
    attendee = current_attendee()
    if attendee is None:
        raise ApiError(401, "no_session", "Join the lab first: open the start page and enter "
                       "your name.")
    return attendee


def login(attendee: Attendee) -> None:
    lang = session.get("lang")  # chosen before joining: the step pages keep it
    session.clear()
    if lang in LANGS:
        session["lang"] = lang
    session.permanent = True
    session["aid"], session["tok"] = attendee.id, attendee.token
    g.attendee = attendee


def same_origin() -> bool:
    """The request's Origin names this lab (any scheme: a TLS proxy may sit in front)."""
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc == request.host


def register(app: Flask) -> None:
    @app.before_request
    def _guard():
        if request.path.startswith("/ws/"):
            # App-wide, not a blueprint's: a plain GET of a websocket address fails routing,
            # and a blueprint's hooks never run for a request no route took.
            if request.headers.get("Upgrade", "").lower() != "websocket":
                raise ApiError(400, "not_websocket", "This address is a websocket; open it "
                               "from the lab page.")
            if not same_origin():
                raise ApiError(403, "bad_origin", "This terminal only opens from the lab's "
                               "own pages.")
            if request.path.startswith("/ws/terminal/") or request.path == "/ws/presenter":
                attendee = current_attendee()
                if attendee is None:
                    raise ApiError(403, "no_session", "Join the lab first.")
        elif request.method not in ("GET", "HEAD", "OPTIONS") and \
                "Origin" in request.headers and not same_origin():
            raise ApiError(403, "bad_origin", "Requests from other sites are refused.")


def language() -> str:
    """?lang= (remembered in the session), else the session's, else the browser's wish."""
    asked = request.args.get("lang")
    if asked in LANGS:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGS:
        return session["lang"]
    return request.accept_languages.best_match(LANGS, default=LANGS[0]) or LANGS[0]
