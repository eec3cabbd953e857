"""Route converters: a route says what it takes, and a wrong value never reaches the view.

    @bp.get("/ws/terminal/<terminal:n>")   # n is 1 or 2; /ws/terminal/3 answers 404
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from labsteps.terminal import TERMINALS
from web.errors import NoTerminal


class TerminalNumber(IntegerConverter):
    """<terminal:n>: one of labsteps.terminal.TERMINALS; any other number answers
    404 no_terminal (after the before_request checks, like every unknown address)."""

    def to_python(self, value: str) -> int:
        n = super().to_python(value)
        if n not in TERMINALS or value != str(n):  # "01" too would be terminal 1
            raise NoTerminal()
        return n


def register(app: Flask) -> None:
    """Before any blueprint: a rule finds its converters when it is added."""
    app.url_map.converters["terminal"] = TerminalNumber
