"""What the web side must refuse, and how: the documented error shape, a close code, and
a lab that keeps running afterwards. See docs/security.md for what each test stands for."""

import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.wsclient import Term, join

pytestmark = pytest.mark.root
EVIL = "http://evil.example"


def raw(server, method, path, body=None, headers=None):
    req = urllib.request.Request(server + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers.get_content_type(), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read()


def shaped(status, ctype, body, expected):
    assert status == expected, (status, body[:200])
    assert ctype == "application/json"
    doc = json.loads(body)
    assert set(doc) == {"error", "message"} and doc["error"] and doc["message"]
    return doc["error"]


def lab_still_runs(server, cookie=None):
    status, _, body = raw(server, "GET", "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    if cookie:
        t = Term(server, cookie)
        t.until("root@lab-")
        assert "42" in t.run("echo $((6*7))")
        t.close()


STATE_CHANGING = [
    ("/api/join", {"name": "Mallory"}), ("/api/me/hand", {"raised": True}),
    ("/api/me/reset", {}), ("/api/steps/intro/run", {"block": 0}),
    ("/api/steps/intro/check", {}), ("/api/steps/intro/solve", {}),
    ("/api/trainer/reset", {"all": True}), ("/api/trainer/goto", {"step": "intro"}),
]


@pytest.mark.parametrize("path,body", STATE_CHANGING)
def test_a_foreign_page_cannot_change_anything(server, path, body):
    cookie = join(server, "Anna")
    headers = {"Content-Type": "application/json", "Origin": EVIL, "Cookie": cookie,
               "Authorization": f"Bearer {TOKEN}"}
    assert shaped(*raw(server, "POST", path, json.dumps(body).encode(), headers), 403) \
        == "bad_origin"
    lab_still_runs(server)


def test_a_foreign_page_cannot_open_any_websocket(server):
    from websockets.sync.client import connect

    cookie = join(server, "Anna")
    for path, headers in (("/ws/terminal/1", {"Cookie": cookie}),
                          ("/ws/presenter", {"Cookie": cookie}),
                          ("/ws/trainer/watch/1/1", {"Authorization": f"Bearer {TOKEN}"}),
                          ("/ws/trainer/terminal/1", {"Authorization": f"Bearer {TOKEN}"})):
        with pytest.raises(InvalidStatus) as refused:
            connect(server.replace("http", "ws") + path, origin=EVIL,
                    additional_headers=headers).__enter__()
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus):  # no Origin at all is no better
            connect(server.replace("http", "ws") + path, origin=None,
                    additional_headers=headers).__enter__()


def test_a_forged_or_tampered_session_reaches_nothing(server):
    anna = join(server, "Anna")
    join(server, "Bert")
    name, _, value = anna.partition("=")
    payload, _, rest = value.partition(".")
    import base64

    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["aid"] = 2  # Bert's id, with Anna's signature
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    for cookie in (f"{name}={forged}.{rest}", f"{name}=garbage", "other=1"):
        status, ctype, body = raw(server, "GET", "/api/me", headers={"Cookie": cookie})
        assert shaped(status, ctype, body, 401) == "no_session"
        with pytest.raises(InvalidStatus):
            Term(server, cookie)
    lab_still_runs(server, anna)


def test_tokens_stay_out_of_urls_and_logs(server):
    # A token in the query string is not a way in.
    assert shaped(*raw(server, "GET", f"/api/trainer/attendees?token={TOKEN}"), 401)
    cookie = join(server, "Anna")
    raw(server, "GET", "/api/trainer/attendees", headers={"Authorization": f"Bearer {TOKEN}"})
    raw(server, "GET", "/api/me", headers={"Cookie": cookie})
    server.stop()
    log = server.proc.stdout.read()
    assert TOKEN.encode() not in log and cookie.split("=", 1)[1].encode() not in log
    server.start()


@pytest.mark.parametrize("path", [
    "/api/steps/..%2f..%2fetc%2fpasswd", "/api/steps/../../etc/passwd",
    "/api/steps/%2e%2e", "/step/..%2fweb", "/api/steps/intro%00",
])
def test_step_ids_do_not_walk_paths(server, path):
    status, ctype, body = raw(server, "GET", path, headers={"Cookie": join(server, "Anna")})
    assert status == 404 and b"root:x:" not in body


@pytest.mark.parametrize("path", [
    "/static/../web/__init__.py", "/static/%2e%2e/web/__init__.py",
    "/static/..%2fweb%2f__init__.py", "/static/vendor/../../README.md",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd",
])
def test_static_files_stay_in_static(server, path):
    status, _, body = raw(server, "GET", path)
    assert status == 404 and b"create_app" not in body and b"root:x:" not in body


def test_oversized_and_malformed_bodies(server):
    cookie = join(server, "Anna")
    json_headers = {"Content-Type": "application/json", "Cookie": cookie}
    big = json.dumps({"name": "x" * (200 * 1024)}).encode()
    assert shaped(*raw(server, "POST", "/api/join", big, json_headers), 413) == "too_large"
    assert "64 KiB" in json.loads(raw(server, "POST", "/api/join", big, json_headers)[2])["message"]
    for body in (b"{", b"[]", b'"name"', b"\xff\xfe{}", b"null", b'{"name": "\\ud800"}'):
        status, ctype, answer = raw(server, "POST", "/api/join", body, json_headers)
        assert status == 400 and set(json.loads(answer)) == {"error", "message"}, body
    for body in (b"{", b'{"block": [1]}', b'{"block": 1e9}', b'{"block": -1}'):
        status, ctype, answer = raw(server, "POST", "/api/steps/chroot/run", body, json_headers)
        assert status == 400, (body, answer)
    assert shaped(*raw(server, "POST", "/api/me/hand", b'{"raised": "ja"}', json_headers), 400)
    assert shaped(*raw(server, "DELETE", "/api/me", None, json_headers), 405)
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": server, "Cookie": cookie}
    for page in ("/api/me", "/step/intro"):  # a websocket client at an address that is none
        conn = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
        conn.request("GET", page, headers=upgrade)  # urllib would say "Connection: close"
        res = conn.getresponse()
        answer = (res.status, res.headers.get_content_type(), res.read())
        conn.close()
        assert shaped(*answer, 400) == "not_websocket", page
    lab_still_runs(server, cookie)


# -- property-based: whatever JSON comes, the answer has the documented shape ---------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                    st.text(max_size=40), lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)
FIELDS = st.dictionaries(st.sampled_from(["name", "code", "block", "raised", "all",
                                          "attendee", "step", "type", "bytes", "on",
                                          "trainer"]), JSON,
                         max_size=3)
DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 503, 504}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, lib_dir):
    """One server for every example (hypothesis runs many; starting one each is slow)."""
    import os

    from labsteps.config import Config
    from labsteps.sandbox.labhost import LabHosts
    from tests.conftest import Server, free_port

    state = tmp_path_factory.mktemp("fuzz") / "state"
    running = Server(f"http://127.0.0.1:{free_port()}")
    running.env = {**os.environ, "NSLAB_STATE_DIR": str(state), "NSLAB_LIB_DIR": str(lib_dir),
                   "NSLAB_PORT": running.rsplit(":", 1)[1], "NSLAB_TRAINER_TOKEN": TOKEN,
                   "NSLAB_WORKSHOP_CODE": "", "NSLAB_CAPACITY": "100"}
    running.start()
    running.cookie = join(running, "Fuzzy")
    yield running
    running.stop()
    LabHosts(Config.from_env(env={}, state_dir=state, lib_dir=lib_dir)).sweep()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/api/join", "/api/me/hand", "/api/steps/chroot/run",
                             "/api/steps/intro/check", "/api/trainer/goto",
                             "/api/trainer/hand", "/api/trainer/reset",
                             "/api/steps/nope/run", "/api/trainer/present",
                             "/api/trainer/steps/intro/run"]),
       body=st.one_of(FIELDS, JSON), as_trainer=st.booleans())
def test_fuzz_the_json_api(fuzz_server, path, body, as_trainer):
    if path == "/api/trainer/reset" and isinstance(body, dict) and body.get("all") is True:
        body = {**body, "all": False}  # not a new group in the middle of fuzzing
    api = Api(fuzz_server, fuzz_server.cookie)
    headers = {"Content-Type": "application/json", "Cookie": fuzz_server.cookie}
    if as_trainer:
        headers["Authorization"] = f"Bearer {TOKEN}"
    status, ctype, answer = raw(fuzz_server, "POST", path, json.dumps(body).encode(), headers)
    assert status in DOCUMENTED, (status, answer[:300])
    if status >= 400:
        assert set(json.loads(answer)) == {"error", "message"}
    assert api.get("/api/me")[0] == 200


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages=st.lists(st.one_of(FIELDS, JSON).map(json.dumps) |
                         st.text(max_size=30), min_size=1, max_size=5))
def test_fuzz_the_terminal_control_messages(fuzz_server, messages):
    t = Term(fuzz_server, fuzz_server.cookie)
    t.until("root@lab-")
    for m in messages:
        t.ws.send(m)
    assert "still-here" in t.run("echo still-here")  # never closed, never stuck
    t.close()


@pytest.fixture
def home(server_env, tmp_path):
    server_env["HOME"] = str(tmp_path)
    server_env.pop("XDG_RUNTIME_DIR", None)
    return tmp_path


def test_no_control_socket_beside_the_lab(home, server):
    # gunicorn's control socket could add workers, which would split the lab's state.
    assert urllib.request.urlopen(server + "/healthz", timeout=10).status == 200
    server.stop()  # gunicorn makes it in the background; by its stop it would be there
    assert not (home / ".gunicorn").exists()
