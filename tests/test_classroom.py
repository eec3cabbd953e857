"""The classroom: joining with a code, the trainer's console and API, watching, resets."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import ROOT, TOKEN, traces
from tests.wsclient import Term

pytestmark = pytest.mark.root


@pytest.fixture
def trainer(server):
    api = Api(server)
    api.headers = {"Authorization": f"Bearer {TOKEN}"}
    return api


def call(api, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(headers or getattr(api, "headers", {})),
                                          **({"Cookie": api.cookie} if api.cookie else {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            body = res.read()
            return res.status, json.loads(body) if res.headers.get_content_type() == \
                "application/json" else body.decode()
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def join(server, name, code=None):
    api = Api(server)
    status, body = api.post("/api/join", {"name": name, **({"code": code} if code else {})})
    return status, body, api


# -- joining -------------------------------------------------------------------------------


@pytest.fixture
def coded(server_env):
    server_env["NSLAB_WORKSHOP_CODE"] = "kurs42"


def test_joining_needs_the_workshop_code(coded, server, trainer):
    assert call(trainer, "GET", "/api/trainer/code") == (200, {"code": "KURS42"})
    status, body, _ = join(server, "Anna")
    assert (status, body["error"]) == (403, "wrong_code")
    status, body, _ = join(server, "Anna", code="KURS43")
    assert (status, body["error"]) == (403, "wrong_code") and "projector" in body["message"]
    status, body, api = join(server, "Anna", code=" kurs42 ")
    assert status == 201 and body["attendee"]["name"] == "Anna"
    assert api.get("/api/me")[0] == 200


def test_a_code_is_made_by_default(server_env, server, trainer):
    server.stop()
    del server_env["NSLAB_WORKSHOP_CODE"]
    server.start()
    code = call(trainer, "GET", "/api/trainer/code")[1]["code"]
    assert len(code) == 6 and code.isalnum() and code.upper() == code
    assert join(server, "Anna")[0] == 403
    assert join(server, "Anna", code=code)[0] == 201


@pytest.mark.parametrize("name", ["", "   ", "<script>", "x" * 33, "-anna", None, 42])
def test_bad_names_are_refused(server, name):
    status, body, _ = join(server, name)
    assert status == 400 and body["error"] == "bad_name" and body["message"]


def test_names_are_unique_in_the_group(server):
    assert join(server, "Anna Müller")[0] == 201
    status, body, _ = join(server, "anna  müller")
    assert status == 409 and body["error"] == "name_taken"


def test_joining_again_under_ones_own_name_keeps_ones_seat(server, trainer):
    """The start page open in a second tab: the same name again is the same attendee."""
    status, body, anna = join(server, "Anna")
    assert status == 201
    status, again = anna.post("/api/join", {"name": "anna"})
    assert status == 200 and again == body
    assert anna.get("/api/me")[1]["attendee"] == body["attendee"]
    status, other, _ = join(server, "anna")  # another browser: someone else
    assert status == 409 and other["error"] == "name_taken"
    names = [a["name"] for a in call(trainer, "GET", "/api/trainer/attendees")[1]]
    assert names == ["Anna"]


def test_a_name_typed_with_a_combining_accent_is_the_letter_it_shows(server):
    status, body, _ = join(server, "Jo\u0308rg")  # as a Mac keyboard may send "Jörg"
    assert status == 201 and body["attendee"]["name"] == "J\u00f6rg"
    assert join(server, "J\u00f6rg")[0] == 409


def test_the_language_chosen_before_joining_or_logging_in_stays(server):
    """A browser that prefers English opens a link with ?lang=de: the lab stays German."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    browser.addheaders = [("Accept-Language", "en-US,en;q=0.9"), ("Origin", server)]

    def page(path, form=None):
        data = urllib.parse.urlencode(form).encode() if form else None
        with browser.open(server + path, data=data, timeout=30) as res:
            return res.read().decode()

    page("/?lang=de")  # a link the trainer handed out
    joined = urllib.request.Request(server + "/api/join", method="POST",
                                    data=json.dumps({"name": "Anna"}).encode(),
                                    headers={"Content-Type": "application/json"})
    assert browser.open(joined, timeout=120).status == 201
    intro = json.loads(page("/api/steps/intro"))
    assert intro["title"] == "Ich und das Ziel"
    page("/trainer/login?lang=de")
    console = page("/trainer/login", {"token": TOKEN})  # on to /trainer
    assert '<html lang="de">' in console and 'data-lang="de"' in console


def test_a_full_lab_says_so(server_env, server):
    server.stop()
    server_env["NSLAB_CAPACITY"] = "2"
    server.start()
    assert join(server, "Eins")[0] == 201 and join(server, "Zwei")[0] == 201
    status, body, _ = join(server, "Drei")
    assert status == 503 and body["error"] == "lab_full" and "trainer" in body["message"]


# -- the trainer's door -------------------------------------------------------------------------


@pytest.mark.parametrize("headers,status", [
    ({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": "Basic x"}, 401),
])
def test_trainer_api_refuses_without_the_token(server, headers, status):
    for path in ("/api/trainer/attendees", "/api/trainer/code"):
        got, body = call(Api(server), "GET", path, headers=headers)
        assert got == status and set(body) == {"error", "message"}
    got, _ = call(Api(server), "POST", "/api/trainer/reset", {"all": True}, headers=headers)
    assert got == status


def test_the_token_may_come_with_its_scheme_in_any_case(server):
    for scheme in ("bearer", "BEARER"):
        got, _ = call(Api(server), "GET", "/api/trainer/code",
                      headers={"Authorization": f"{scheme} {TOKEN}"})
        assert got == 200, scheme


def test_an_attendee_is_not_a_trainer(server):
    _, _, anna = join(server, "Anna")
    assert call(anna, "GET", "/api/trainer/attendees")[0] == 401
    Term(server, anna.cookie).close()  # her own terminal: fine
    with pytest.raises(InvalidStatus) as refused:
        _watch(server, anna.cookie, 1, 1)
    assert refused.value.response.status_code == 401


def _watch(server, cookie, attendee, n, takeover=False):
    from websockets.sync.client import connect

    url = server.replace("http://", "ws://") + f"/ws/trainer/watch/{attendee}/{n}"
    return connect(url + ("?takeover=1" if takeover else ""), origin=server,
                   additional_headers={"Cookie": cookie} if cookie else
                   {"Authorization": f"Bearer {TOKEN}"}, open_timeout=20).__enter__()


def test_the_console_login_keeps_the_token_out_of_urls(server):
    data = urllib.parse.urlencode({"token": "wrong"}).encode()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "/trainer/login", data=data, timeout=10)
    assert e.value.code == 403
    req = urllib.request.Request(server + "/trainer/login",
                                 data=urllib.parse.urlencode({"token": TOKEN}).encode())
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(req, timeout=10) as res:
        assert res.url.endswith("/trainer") and b"Workshop-Code" in res.read()
    with opener.open(server + "/api/trainer/attendees", timeout=10) as res:
        assert json.load(res) == []
    log = server.proc  # the server's log must not hold the token
    server.stop()
    assert TOKEN.encode() not in log.stdout.read()
    server.start()


# -- what the console shows -------------------------------------------------------------------------


def test_the_list_shows_joins_connections_progress_and_hands(server, trainer):
    _, _, anna = join(server, "Anna")
    _, _, bert = join(server, "Bert")
    rows = call(trainer, "GET", "/api/trainer/attendees")[1]
    assert [r["name"] for r in rows] == ["Anna", "Bert"]
    assert not any(r["connected"] for r in rows)
    term = Term(server, bert.cookie)
    term.until("root@lab-")
    assert bert.post("/api/steps/intro/check")[1]["passed"]
    assert bert.post("/api/me/hand", {"raised": True})[0] == 200
    rows = call(trainer, "GET", "/api/trainer/attendees")[1]
    assert rows[0]["name"] == "Bert"  # raised hands first
    assert rows[0]["connected"] and rows[0]["hand_raised"] and rows[0]["passed"] == ["intro"]
    assert rows[0]["step"] == "intro" and rows[0]["on_step_for"] >= 0
    assert not rows[1]["connected"] and rows[1]["passed"] == []
    assert call(trainer, "POST", "/api/trainer/hand", {"attendee": rows[0]["id"]})[0] == 200
    assert not call(trainer, "GET", "/api/trainer/attendees")[1][1]["hand_raised"]
    term.close()


def test_the_list_says_who_is_stuck_and_how_often_a_check_failed(server, trainer):
    _, _, anna = join(server, "Anna")
    row = call(trainer, "GET", "/api/trainer/attendees")[1][0]
    assert row["stuck_since"] == row["step_since"] and row["fails"] == row["failed_at"] == {}
    assert anna.post("/api/steps/chroot/check")[1]["passed"] is False
    first = time.time()
    assert anna.post("/api/steps/chroot/check")[1]["passed"] is False
    row = call(trainer, "GET", "/api/trainer/attendees")[1][0]
    assert row["step"] == "chroot" and row["stuck_since"] == row["step_since"]
    assert row["fails"] == {"chroot": 2} and first <= row["failed_at"]["chroot"] <= time.time()
    assert anna.post("/api/steps/intro/check")[1]["passed"]  # passed where it is: not stuck
    row = call(trainer, "GET", "/api/trainer/attendees")[1][0]
    assert row["step"] == "intro" and row["stuck_since"] is None
    assert row["fails"] == {"chroot": 2} and row["failed"] == ["chroot"]  # still counted
    for block in (0, 1):  # mkdir, tar: chroot passes; its failures stay on record
        assert anna.post("/api/steps/chroot/run", {"block": block})[0] == 200
    assert anna.post("/api/steps/chroot/check")[1]["passed"]
    row = call(trainer, "GET", "/api/trainer/attendees")[1][0]
    assert row["stuck_since"] is None and sorted(row["passed"]) == ["chroot", "intro"]
    assert row["fails"] == {"chroot": 2} and row["failed"] == []


def test_live_updates_reach_the_console_without_a_reload(server):
    req = urllib.request.Request(server + "/api/trainer/events",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as stream:
        first = json.loads(stream.readline().decode().removeprefix("data: "))
        assert first["attendees"] == []
        stream.readline()
        join(server, "Anna")  # makes a lab host: its time is not the stream's
        joined = time.monotonic()
        line = stream.readline().decode()
        # The stream looks twice a second; how soon on a quiet machine is for bench/, this
        # only bounds it loosely enough for a busy CI machine.
        assert time.monotonic() - joined < 5
        assert json.loads(line.removeprefix("data: "))["attendees"][0]["name"] == "Anna"


def test_the_console_is_sent_the_room_again_only_when_it_changes(server):
    join(server, "Anna")  # on a step: the time there changes every second, the room does not
    u = urllib.parse.urlsplit(server)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/api/trainer/events", headers={"Authorization": f"Bearer {TOKEN}"})
    stream = conn.getresponse()
    first = json.loads(stream.readline().decode().removeprefix("data: "))
    assert first["attendees"][0]["step_since"] <= first["now"]
    stream.readline()  # the blank line that ends the event
    conn.sock.settimeout(3)
    with pytest.raises(TimeoutError):
        stream.readline()  # nothing within 3 s: the page counts the time on by itself
    conn.close()


def test_progress_as_csv(server, trainer):
    _, _, anna = join(server, "Anna")
    anna.post("/api/steps/intro/check")
    status, text = call(trainer, "GET", "/api/trainer/progress.csv")
    header, row = text.strip().splitlines()
    assert header.startswith("name,joined,current step,intro,container-vs-vm")
    assert row.startswith("Anna,") and ",passed," in row


# -- watching and taking over ---------------------------------------------------------------------


def _read_until(ws, needle, timeout=10):
    seen, events = b"", []
    deadline = time.monotonic() + timeout
    while needle.encode() not in seen:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            seen += msg
        else:
            events.append(json.loads(msg))
    return seen, events


def test_watching_shows_the_terminal_and_cannot_type(server):
    _, body, anna = join(server, "Anna")
    term = Term(server, anna.cookie)
    term.until("root@lab-")
    watcher = _watch(server, None, body["attendee"]["id"], 1)
    assert term.event("watch") == {"type": "watch", "watching": True, "takeover": False}
    term.send("echo von-anna\r")
    _read_until(watcher, "von-anna\r\n")  # the trainer sees what Anna does
    watcher.send(b"echo vom-trainer\r")  # but cannot type
    term.send("echo danach-$((1+1))\r")  # what the shell got by now, it has echoed
    term.until("danach-2\r\n")
    assert b"vom-trainer" not in term.out
    watcher.close()
    assert term.event("watch")["watching"] is False
    term.close()


def test_taking_over_can_type(server):
    _, body, anna = join(server, "Anna")
    term = Term(server, anna.cookie)
    term.until("root@lab-")
    helper = _watch(server, None, body["attendee"]["id"], 1, takeover=True)
    assert term.event("watch")["takeover"] is True
    helper.send(b"echo hilfe-$((40+2))\r")
    term.until("hilfe-42\r\n")
    helper.close()
    term.close()


def test_send_everyone_to_a_step(server, trainer):
    _, _, anna = join(server, "Anna")
    term = Term(server, anna.cookie)
    term.until("root@lab-")
    assert call(trainer, "POST", "/api/trainer/goto", {"step": "cgroups"}) == (200, {"sent": 1})
    assert term.event("goto") == {"type": "goto", "step": "cgroups"}
    assert call(trainer, "POST", "/api/trainer/goto", {"step": "nope"})[0] == 404
    for odd in ([], {}, 7, None):  # found by the fuzz test: a list was a 500
        status, body = call(trainer, "POST", "/api/trainer/goto", {"step": odd})
        assert (status, body["error"]) == (400, "bad_request"), odd
    term.close()


# -- resets -------------------------------------------------------------------------------------------


def test_reset_of_one_attendee_leaves_nothing_of_their_lab_host(server, config, trainer):
    _, body, anna = join(server, "Anna")
    assert anna.post("/api/steps/network/solve")[1]["passed"]
    hosts = LabHosts(config)
    host = hosts.get(f"a{body['attendee']['id']}")
    assert traces(hosts, host)
    assert call(trainer, "POST", "/api/trainer/reset", {"attendee": body["attendee"]["id"]})[0] == 200
    assert traces(hosts, host) == []
    status, me = anna.get("/api/me")
    assert status == 200 and me["sandbox"]["state"] == "none"  # made again on the next visit
    assert anna.post("/api/steps/chroot/check")[1]["passed"] is False


def test_a_reset_by_the_trainer_or_a_new_group_is_said_on_the_attendees_page(server, trainer):
    """Before the terminals close (1012: the page reconnects), the attendee's page hears who
    made its lab host afresh, so it can say so; the trainer watching hears nothing of it."""
    _, body, anna = join(server, "Anna")
    me = body["attendee"]["id"]
    term = Term(server, anna.cookie)
    term.until("root@lab-")
    watcher = _watch(server, None, me, 1)
    assert term.event("watch")["watching"] is True
    assert call(trainer, "POST", "/api/trainer/reset", {"attendee": me})[0] == 200
    assert term.event("reset") == {"type": "reset", "by": "trainer"}
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            term.pump(5)
    assert closed.value.rcvd.code == 1012
    told = []
    with pytest.raises(ConnectionClosed):
        while True:
            msg = watcher.recv(timeout=10)
            if isinstance(msg, str):
                told.append(json.loads(msg)["type"])
    assert "reset" not in told and "closed" in told

    term = Term(server, anna.cookie)  # the page reconnects: a fresh lab host
    term.until("root@lab-")
    assert call(trainer, "POST", "/api/trainer/reset", {"all": True})[0] == 200
    assert term.event("reset") == {"type": "reset", "by": "new_group"}


def test_a_reset_that_names_more_than_one_thing_resets_nothing(server, trainer):
    _, body, anna = join(server, "Anna")
    me = body["attendee"]["id"]
    for both in ({"attendee": me, "all": True}, {"attendee": me, "trainer": True},
                 {"all": True, "trainer": True}):
        status, answer = call(trainer, "POST", "/api/trainer/reset", both)
        assert (status, answer["error"]) == (400, "bad_request"), both
    assert anna.get("/api/me")[0] == 200  # still in: no new group was made
    # {"all": false} says what it does not want: the attendee's reset goes ahead
    assert call(trainer, "POST", "/api/trainer/reset", {"attendee": me, "all": False})[0] == 200
    for nobody in (0, 99999, 10**20):  # no one's id, whichever way it is given
        status, answer = call(trainer, "POST", "/api/trainer/reset", {"attendee": nobody})
        assert (status, answer["error"]) == (404, "unknown_attendee"), nobody
        status, answer = call(trainer, "GET", f"/api/trainer/attendees/{nobody}/kernel")
        assert (status, answer["error"]) == (404, "unknown_attendee"), nobody


def test_new_group_after_ten_full_walkthroughs(coded, server, config, trainer):
    apis = [join(server, f"Teilnehmer {i}", code="KURS42")[2] for i in range(10)]
    results = []
    gate = threading.Semaphore(4)  # a room does not press Catch up all in the same second

    def catch_up(api):
        with gate:
            status, body = api.post("/api/steps/conclusion/solve")
        results.append(body.get("passed") or body)

    threads = [threading.Thread(target=catch_up, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 10
    hosts = LabHosts(config)
    before = hosts.list()
    assert len(before) == 10
    status, body = call(trainer, "POST", "/api/trainer/reset", {"all": True})
    assert status == 200 and body["code"] != "KURS42" and len(body["code"]) == 6
    assert call(trainer, "GET", "/api/trainer/code")[1]["code"] == body["code"]
    for host in before:
        assert traces(hosts, host) == []
    assert call(trainer, "GET", "/api/trainer/attendees")[1] == []
    for api in apis:  # the old cookies reach nothing any more
        assert api.get("/api/me")[0] == 401
        assert api.post("/api/steps/intro/run", {"block": 0})[0] == 401
    with pytest.raises(Exception, match="403"):
        Term(server, apis[0].cookie)


def test_a_restart_keeps_attendees_and_progress(server, config):
    _, _, anna = join(server, "Anna")
    assert anna.post("/api/steps/chroot/solve")[1]["passed"]
    server.stop(kill=True)  # as hard as it gets
    server.start()
    status, me = anna.get("/api/me")
    assert status == 200 and me["attendee"]["name"] == "Anna"
    assert anna.get("/api/steps")[1][3]["passed"] is True
    assert me["sandbox"]["state"] == "none"  # swept at start...
    with urllib.request.urlopen(urllib.request.Request(
            server + "/step/chroot", headers={"Cookie": anna.cookie}), timeout=30) as page:
        assert "neu gestartet" in page.read().decode()
    assert anna.get("/api/me")[1]["sandbox"]["state"] == "running"  # ...made again on the visit


# -- the CLI ---------------------------------------------------------------------------------------------


def test_cli_lists_and_resets(server, config):
    _, body, anna = join(server, "Anna")
    anna.post("/api/steps/chroot/solve")
    env = {**os.environ, "NSLAB_STATE_DIR": str(config.state_dir),
           "NSLAB_LIB_DIR": str(config.lib_dir)}

    def nslab(*args):
        return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    out = nslab("attendees").stdout
    assert "Anna" in out and "step chroot" in out
    hosts = LabHosts(config)
    host = hosts.get(f"a{body['attendee']['id']}")
    res = nslab("reset", "Anna")
    assert res.returncode == 0 and "nothing left" in res.stdout
    assert traces(hosts, host) == []
    res = nslab("reset", "--all")
    assert res.returncode == 0 and "new group" in res.stdout
    assert "attendees: 0" in nslab("attendees").stdout
    assert nslab("reset", "Nobody").returncode == 2
