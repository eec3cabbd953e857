"""The one JSON error shape of ../shared/api.md: {"error": code, "message": text}."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

# HTTP status -> error code, for errors the framework raises (unknown route, body too large...)
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "bad_request",
         500: "internal", 503: "unavailable", 504: "timeout"}


class ApiError(Exception):
    """Raise anywhere in a request to answer with the JSON error shape."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str):
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        if not _wants_json():
            return e
        return error_response(e.code or 500, CODES.get(e.code or 500, "error"),
                              e.description or e.name)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        app.logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal", "something went wrong on the lab server; "
                              "the trainer can see the details in its log")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz", "/ws/")) or request.is_json
