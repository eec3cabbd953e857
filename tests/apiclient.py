"""The JSON API as a test (or a script) calls it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.wsclient import join


class Api:
    def __init__(self, base: str, cookie: str | None = None, headers: dict | None = None):
        self.base, self.cookie, self.headers = base, cookie, headers or {}

    @classmethod
    def joined(cls, base: str, name: str, wait: bool = True) -> Api:
        return cls(base, join(base, name, wait))

    @classmethod
    def trainer(cls, base: str, token: str) -> Api:
        return cls(base, headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, body: object = None, raw: bytes | None = None,
             timeout: float = 300) -> tuple[int, object]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        headers = {**self.headers,
                   **({"Content-Type": "application/json"} if data is not None else {})}
        if self.cookie:
            headers["Cookie"] = self.cookie
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                self._keep(res.headers.get_all("Set-Cookie"))
                return res.status, json.load(res)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def _keep(self, set_cookies: list[str] | None) -> None:
        """Like a browser: a renewed session cookie replaces the old one."""
        for header in set_cookies or []:
            name = header.split("=", 1)[0]
            kept = [c for c in (self.cookie or "").split("; ") if c and not c.startswith(name + "=")]
            self.cookie = "; ".join([*kept, header.split(";", 1)[0]])

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: object = None, **kw):
        return self.call("POST", path, body if body is not None else {}, **kw)
