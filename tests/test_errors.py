"""One error tree in labsteps, one table and one handler in web: every error a request can
end in answers in api.md's shape, with its status and code said once."""

from __future__ import annotations

import inspect

import pytest
from flask import Flask

from labsteps import errors
from web import converters
from web.errors import ANSWERS, ApiError, answer_for, register

# api.md: 400 bad input, 401 no session/token, 403 not allowed, 404 unknown, 409 conflict or
# busy, 413 too large, 503 full or not ready, 504 timed out
STATUSES = {400, 401, 403, 404, 409, 413, 503, 504}
# Kinds of error, raised only as one of their subclasses; a broken step file stops the start.
NOT_ANSWERED = {errors.LabError, errors.StepError, errors.JoinRefused, errors.StepFileError}


def lab_errors() -> list[type]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.LabError) and c not in NOT_ANSWERED]


@pytest.mark.parametrize("cls", lab_errors(), ids=lambda c: c.__name__)
def test_every_lab_error_has_a_status_and_a_code_from_the_api(cls):
    found = answer_for(cls("what happened"))
    assert found is not None and found.status in STATUSES and found.code
    assert "what happened" in found.message


def test_labsteps_errors_carry_no_http():
    assert all(not hasattr(c("x"), "status") and not hasattr(c("x"), "code")
               for c in lab_errors())


def test_each_code_means_one_status():
    seen: dict[str, int] = {}
    for status, code, _ in ANSWERS.values():
        assert seen.setdefault(code, status) == status, code


@pytest.fixture
def client():
    app = Flask(__name__)
    register(app)
    converters.register(app)

    @app.get("/api/raise/<name>")
    def raise_(name):
        if name == "api":
            raise ApiError(400, "bad_request", 'Send {"block": n}.')
        if name == "bug":
            raise KeyError("nobody meant this")
        raise getattr(errors, name)("the reason")

    @app.get("/ws/terminal/<terminal:n>")
    def terminal(n):
        return {"n": n}

    return app.test_client()


@pytest.mark.parametrize("name,status,code", [
    ("LabFull", 503, "lab_full"), ("CgroupError", 503, "lab_host"),
    ("TerminalBusy", 409, "terminal_busy"), ("UnknownStep", 404, "unknown_step"),
    ("TimedOut", 504, "timeout"), ("api", 400, "bad_request"), ("bug", 500, "internal"),
])
def test_one_handler_answers_every_error_in_the_json_shape(client, name, status, code):
    res = client.get(f"/api/raise/{name}")
    assert res.status_code == status
    assert set(res.json) == {"error", "message"} and res.json["error"] == code
    assert res.json["message"]
    if name == "api":  # its own text, braces and all
        assert res.json["message"] == 'Send {"block": n}.'
    if name == "bug":  # the details go to the log, not to the attendee
        assert "nobody meant this" not in res.json["message"]


@pytest.mark.parametrize("n", ["1", "2"])
def test_the_terminal_converter_takes_the_terminal_numbers(client, n):
    assert client.get(f"/ws/terminal/{n}").json == {"n": int(n)}


@pytest.mark.parametrize("n", ["0", "3", "12", "01", "002"])  # one spelling per terminal
def test_another_terminal_number_is_404_no_terminal(client, n):
    res = client.get(f"/ws/terminal/{n}")
    assert res.status_code == 404 and res.json["error"] == "no_terminal"
    assert "1 and 2" in res.json["message"]
