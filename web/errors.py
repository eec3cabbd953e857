"""Every error a request can end in, as the one JSON shape of ../shared/api.md:
{"error": code, "message": text}.

labsteps raises the classes of labsteps/errors.py, which know nothing of HTTP; ANSWERS
below says, once for each, the status and code it answers with (a subclass not listed
answers as its nearest listed parent). ApiError is for what only the web side knows: a
bad request body, no session, a wrong token. One handler answers them all; any other
exception is a bug: 500, logged.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import WebsocketMismatch

from labsteps import errors
from labsteps.terminal import TERMINALS

# HTTP status -> error code, for errors the framework raises (unknown route, body too large...)
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "bad_request",
         500: "internal", 503: "unavailable", 504: "timeout"}


class ApiError(Exception):
    """An error only the web side knows (a bad body, no session): it carries its answer."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NoTerminal(NotFound):
    """A terminal number no lab host has; the <terminal:n> converter raises it."""

    description = f"Terminals are numbered {' and '.join(map(str, TERMINALS))}."


class Answer(NamedTuple):
    status: int
    code: str
    message: str = "{}"  # {} is the error's own message


ANSWERS: dict[type[BaseException], Answer] = {
    errors.LabHostError: Answer(503, "lab_host", "Your lab host is not available: {}"),
    errors.LabFull: Answer(503, "lab_full", "The lab is full right now, sorry. Please tell "
                           "the trainer; they can make room. ({})"),
    errors.LeftBehind: Answer(503, "reset_incomplete", "The reset left something behind: {}"),
    errors.TerminalGone: Answer(409, "terminal_gone", "The terminal went away (its lab host "
                                "was reset?); reload the page and try again. ({})"),
    errors.TerminalBusy: Answer(409, "terminal_busy"),
    errors.HandshakeError: Answer(400, "bad_upgrade"),
    errors.UnknownStep: Answer(404, "unknown_step"),
    errors.BadBlock: Answer(400, "bad_block"),
    errors.NotRunnable: Answer(400, "not_runnable"),
    errors.StepUnavailable: Answer(409, "not_available"),
    errors.NeedsContainer: Answer(409, "not_ready"),
    errors.TimedOut: Answer(504, "timeout"),
    errors.WrongCode: Answer(403, "wrong_code"),
    errors.BadName: Answer(400, "bad_name"),
    errors.NameTaken: Answer(409, "name_taken"),
    NoTerminal: Answer(404, "no_terminal"),
    # A websocket's upgrade to a page or API address (Werkzeug's words are for a browser).
    WebsocketMismatch: Answer(400, "not_websocket", "This address is no websocket: the "
                              "lab's websockets are under /ws/ (see its API)."),
}


def answer_for(e: BaseException) -> Answer | None:
    """(status, code, message) for e: its class's entry in ANSWERS, else its nearest
    listed parent's; None for an exception nslab does not raise on purpose."""
    if isinstance(e, ApiError):
        return Answer(e.status, e.code, e.message)
    for cls in type(e).__mro__:
        if cls in ANSWERS:
            status, code, message = ANSWERS[cls]
            text = e.description if isinstance(e, HTTPException) else str(e)
            return Answer(status, code, message.format(text))
    return None


def error_response(status: int, code: str, message: str):
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(Exception)
    def _handle(e: Exception):
        found = answer_for(e)
        if found is not None:
            return error_response(*found)
        if isinstance(e, RequestEntityTooLarge):  # say the limit, not Werkzeug's words
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            return error_response(413, "too_large", "The request body is larger than the "
                                  f"{limit // 1024} KiB the lab takes.")
        if isinstance(e, HTTPException):
            if not _wants_json():
                return e
            return error_response(e.code or 500, CODES.get(e.code or 500, "error"),
                                  e.description or e.name)
        app.logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal", "something went wrong on the lab server; "
                              "the trainer can see the details in its log")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz", "/ws/")) or request.is_json
