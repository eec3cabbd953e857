"""The terminal websockets' Flask side: refuse before the upgrade, then bridge.

The upgrade, the session and the Origin are checked in before_request (web/session.py)
and the terminal's number by the route, so a refused request never starts a shell. Only then is
the upgrade accepted, by wsproto with no extensions, and labsteps/terminal/bridge.py
runs the connection on this request's thread until either side ends. gunicorn is told
to write nothing more on the socket by the response's StopIteration, its way for an
application that took the connection over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, current_app, request
from wsproto.events import CloseConnection

from labsteps.terminal.bridge import LINGER, Bridge, Close, handshake, linger
from labsteps.terminal.pty import Terminal
from web import current_lab
from web.errors import ApiError
from web.session import current_attendee

bp = Blueprint("terminal", __name__)
MAX_TABS = 4  # an attendee's connections to one terminal at once; each holds a thread


@bp.route("/ws/terminal/<terminal:n>", websocket=True)
def terminal_ws(n: int):
    attendee = current_attendee()
    with tab(attendee.lab, n):
        return serve(lambda: current_lab().terminal(attendee, n),
                     f"{attendee.name}'s terminal {n}")


@contextmanager
def tab(lab_host: str, n: int | str) -> Iterator[None]:
    """Count this connection from before its upgrade to its end; refuse one too many.
    n: a terminal's number, or what else the tab shows ("presenter")."""
    lab, key = current_lab(), (lab_host, n)
    with lab.tabs_lock:
        if lab.tabs[key] >= MAX_TABS:
            raise ApiError(409, "too_many_tabs", f"This terminal is open in {MAX_TABS} tabs "
                           "already; close one of them first.")
        lab.tabs[key] += 1
    try:
        yield
    finally:
        with lab.tabs_lock:
            lab.tabs[key] -= 1
            if not lab.tabs[key]:
                del lab.tabs[key]


class _TakenOver(Response):
    """The answer of a view whose connection became a websocket: nothing more is written."""

    def __call__(self, environ, start_response):
        raise StopIteration  # gunicorn: close the connection, log nothing


def serve(terminal: Callable[[], Terminal], what: str, **options) -> Response:
    """Accept the websocket and bridge it to terminal() until either ends; options go to
    Bridge. A terminal that cannot be had closes with 1011 (1001 while the server stops)
    and the reason; what names the connection in the log."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        raise ApiError(503, "no_websockets", "Terminals need the lab's own server: run "
                       "`nslab serve`.")
    headers = [(k[5:].replace("_", "-").lower().encode("latin-1"), v.encode("latin-1"))
               for k, v in request.environ.items() if k.startswith("HTTP_")]
    conn, reply = handshake(headers, request.full_path.rstrip("?"))  # HandshakeError: 400
    lab = current_lab()
    sock.sendall(reply)
    try:
        term = terminal()
    except Exception as e:  # reported to the page, logged for the trainer
        current_app.logger.warning("no terminal for %s: %s", what, e,
                                   exc_info=not isinstance(e, LookupError))
        code = Close.GOING_AWAY if lab.stopping.is_set() else Close.NO_TERMINAL
        try:
            sock.sendall(conn.send(CloseConnection(code, f"no terminal: {e}"[:120])))
        except OSError:
            pass
        linger(sock, LINGER)
    else:
        try:
            Bridge(sock, conn, term, max_input=lab.config.max_input,
                   ping_every=lab.config.ws_ping, **options).run()
        except Exception:  # the websocket is open: no HTTP error page can follow now
            current_app.logger.exception("bridge to %s", what)
    return _TakenOver()
