"""Presenting: the trainer's terminal 1 and picture shown to the room, read-only, live; a
viewer that falls behind holds nobody up."""

import socket
import time
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.wsclient import Term

pytestmark = pytest.mark.root
MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture
def trainer(server):
    return Api.trainer(server, TOKEN)


@pytest.fixture
def presenting(server, trainer):
    """Anna in the room, and the trainer presenting their terminal 1 (open, at its prompt)."""
    anna = Api.joined(server, "Anna")
    mine = own_terminal(server)
    assert trainer.post("/api/trainer/present", {"on": True})[0] == 200
    return anna, mine


def own_terminal(server):
    term = Term(server, None, path="/ws/trainer/terminal/1",
                headers={"Authorization": f"Bearer {TOKEN}"})
    term.until("root@lab-trainer")
    return term


def viewer(server, api, ack=True):
    return Term(server, api.cookie, path="/ws/presenter", ack=ack)


def test_presenting_on_and_off_reaches_every_attendee_and_viewer(server, trainer):
    room = [Api.joined(server, name) for name in ("Anna", "Bert", "Cem")]
    pages = [Term(server, a.cookie, n) for a in room for n in (1, 2)]  # both terminals hear it
    mine = own_terminal(server)
    trainer.get("/api/trainer/steps/chroot")  # the trainer is on chroot
    assert room[0].get("/api/presenter") == (200, {"presenting": False, "step": None,
                                                    "trainer": "Trainer"})
    assert trainer.post("/api/trainer/present", {"on": True}) == \
        (200, {"presenting": True, "step": "chroot"})
    for page in pages:
        assert page.event("presenter", timeout=10) == \
            {"type": "presenter", "presenting": True, "step": "chroot"}
    assert room[1].get("/api/presenter")[1] == {"presenting": True, "step": "chroot",
                                                 "trainer": "Trainer"}
    assert trainer.get("/api/trainer/present") == (200, {"presenting": True, "step": "chroot"})
    views = [viewer(server, a) for a in room]
    for view in views:
        hello = view.event("hello")
        assert hello["read_only"] is True and view.until("root@lab-trainer")
    mine.send("echo vorne-$((6*7))\r")
    for view in views:
        view.until("vorne-42\r\n")  # live, as the trainer types
    trainer.get("/api/trainer/steps/mount")  # the trainer moves on: the room is offered it
    for page in pages:
        assert page.event("presenter", timeout=10)["step"] == "mount"
    mine.send("ip netns add vorne\r")  # the picture changed: viewers hear its version
    deadline = time.monotonic() + 10
    while True:  # a read may land while ip still runs: the version after it has vorne
        version = views[0].event("kernel", timeout=max(0.1, deadline - time.monotonic()))
        status, model = room[0].get("/api/presenter/kernel")
        assert status == 200 and model["version"] >= version["version"]
        if any("vorne" in ns["names"] for ns in model["netns"]):
            break
    assert trainer.post("/api/trainer/present", {"on": False}) == \
        (200, {"presenting": False, "step": None})
    for page in pages:
        assert page.event("presenter", timeout=10) == \
            {"type": "presenter", "presenting": False, "step": None}
    for view in views:
        assert view.event("presenter", timeout=10) == {"type": "presenter",
                                                       "presenting": False}
        with pytest.raises(ConnectionClosed) as closed:
            view.pump(10)
            view.pump(10)
        assert closed.value.rcvd.code == 1000
    with pytest.raises(InvalidStatus) as refused:
        viewer(server, room[0])
    assert refused.value.response.status_code == 404
    status, body = room[0].get("/api/presenter/kernel")
    assert (status, body["error"]) == (404, "not_presenting")
    mine.close()


def test_an_attendee_cannot_type_into_the_presented_terminal(server, config, presenting):
    anna, mine = presenting
    view = viewer(server, anna)
    view.until("root@lab-trainer")
    view.send("touch /tmp/von-anna\r")
    view.send(b"\x03exit\r")
    view.control({"type": "resize", "cols": 20, "rows": 5})
    mine.send("stty size; echo danach-$((1+1))\r")  # what the shell got by now, it echoed
    out = mine.until("danach-2\r\n")
    assert b"von-anna" not in out and b"24 80" in out
    code, _ = LabHosts(config).run("trainer", "test -e /tmp/von-anna")
    assert code == 1
    view.until("danach-2\r\n")  # and Anna still watches: the viewer was not thrown out
    mine.close()
    view.close()


def test_the_trainers_hostname_and_process_names_come_back_as_text(server, presenting):
    anna, mine = presenting
    mine.run(f"python3 -c 'import socket; socket.sethostname(\"{MARKUP}\")'")
    # A process named in markup (its comm), with markup in its arguments.
    mine.run("(bash -c 'printf \"<b>fett</b>\" > /proc/$$/comm; sleep 600; :' &)")
    mine.run("(exec -a '<i>kursiv</i>' sleep 600 &)")
    deadline = time.monotonic() + 10
    while True:
        status, model = anna.get("/api/presenter/kernel")
        assert status == 200
        # Both started: the room's model is the one last read, maybe between the two.
        if any(p["command"] == "<b>fett</b>" for p in model["processes"]) and \
                "<i>kursiv</i> 600" in {p["args"] for p in model["processes"]}:
            break
        assert time.monotonic() < deadline, model["processes"]
        time.sleep(0.3)
    assert "<i>kursiv</i> 600" in {p["args"] for p in model["processes"]}
    assert MARKUP in {p["hostname"] for p in model["processes"]}
    mine.close()


def _flood(mine, size: int) -> None:
    """Output of about size bytes on the trainer's terminal, then a marker."""
    mine.send(f"head -c {size * 3 // 4} /dev/zero | base64 -w 100; echo FL''OOD-END\r")


def test_a_viewer_that_never_reads_holds_neither_the_trainer_nor_the_others(server, trainer):
    room = [Api.joined(server, name) for name in ("Anna", "Bert")]
    mine = own_terminal(server)
    trainer.post("/api/trainer/present", {"on": True})
    stalled = _never_reads(server, room[0].cookie)
    other = viewer(server, room[1])
    other.until("root@lab-trainer")
    for _ in range(3):  # megabytes more than the stalled viewer's socket and window hold
        _flood(mine, 4 << 20)
        mine.until("FLOOD-END\r\n", timeout=60)
        other.until("FLOOD-END\r\n", timeout=60)
        mine.out.clear()
        other.out.clear()
    t = time.monotonic()
    mine.send("x")
    mine.until("x")
    assert time.monotonic() - t < 0.5  # the trainer's echo is not held up either
    stalled.close()
    mine.close()
    other.close()


def _never_reads(server, cookie) -> socket.socket:
    u = urlsplit(server)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and holds little
    sock.sendall((f"GET /ws/presenter HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: {server}\r\nCookie: {cookie}\r\n\r\n")
                 .encode())
    return sock


def test_a_viewer_far_behind_gets_a_fresh_screen_once_it_has_caught_up(server, presenting):
    anna, mine = presenting
    view = viewer(server, anna, ack=False)  # reads, but acknowledges nothing
    view.until("root@lab-trainer")
    _flood(mine, 1 << 20)
    mine.until("FLOOD-END\r\n", timeout=60)
    while view.pump(2):  # all it is sent, until nothing more comes
        pass
    assert b"FLOOD-END" not in view.out and 256 << 10 < view.received < 512 << 10
    view.out.clear()
    view.control({"type": "ack", "bytes": view.received})  # caught up, at last
    view.until("FLOOD-END\r\n", timeout=10)
    assert view.out.startswith(b"\x1bc")  # a fresh screen, not the backlog
    assert len(view.out) < 200 << 10
    mine.close()
    view.close()


def test_viewers_hear_the_trainers_terminal_size(server, presenting):
    anna, mine = presenting
    view = viewer(server, anna)
    assert view.event("hello")["cols"] == 80
    mine.control({"type": "resize", "cols": 132, "rows": 40})
    assert view.event("size") == {"type": "size", "cols": 132, "rows": 40}
    mine.close()
    view.close()


def test_a_reset_of_the_trainers_lab_host_sends_viewers_to_the_new_one(server, trainer, presenting):
    anna, mine = presenting
    view = viewer(server, anna)
    view.until("root@lab-trainer")
    assert trainer.post("/api/trainer/reset", {"trainer": True})[0] == 200
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            view.pump(10)
    assert closed.value.rcvd.code == 1012  # the page reconnects...
    view = viewer(server, anna)  # ...to the fresh lab host's terminal
    view.until("root@lab-trainer")
    mine = own_terminal(server)
    mine.send("echo neu-$((2+3))\r")
    view.until("neu-5\r\n")
    mine.close()
    view.close()


def test_the_presenter_routes_need_a_session_and_a_body_that_says_on(server, trainer):
    status, body = Api(server).get("/api/presenter")
    assert (status, body["error"]) == (401, "no_session")
    assert Api(server).get("/api/presenter/kernel")[0] == 401
    trainer.post("/api/trainer/present", {"on": True})
    with pytest.raises(InvalidStatus) as refused:
        Term(server, None, path="/ws/presenter")
    assert refused.value.response.status_code == 403
    anna = Api.joined(server, "Anna")
    with pytest.raises(InvalidStatus) as refused:
        Term(server, anna.cookie, path="/ws/presenter", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    for bad in ({}, {"on": "yes"}, {"on": 1}, {"on": None}):
        status, body = trainer.post("/api/trainer/present", bad)
        assert (status, body["error"]) == (400, "bad_request"), bad
    assert trainer.get("/api/trainer/present")[1]["presenting"] is True


def test_the_projector_view_shows_the_trainers_step(server, trainer):
    opener = _trainer_browser(server)
    with opener.open(server + "/trainer/present/cgroups", timeout=30) as res:
        page = res.read().decode()
    assert "cgroup" in page.lower() and "lab-trainer" in page
    assert trainer.get("/api/trainer/present")[1] == {"presenting": False, "step": None}
    trainer.post("/api/trainer/present", {"on": True})
    assert trainer.get("/api/trainer/present")[1]["step"] == "cgroups"  # moved there
    with opener.open(server + "/trainer/lab", timeout=30) as res:
        assert res.url.endswith("/trainer/lab/cgroups") and "lab-trainer" in res.read().decode()
    with opener.open(server + "/trainer/present?lang=en", timeout=30) as res:
        assert 'lang="en"' in res.read().decode()


def test_stopping_the_server_leaves_nothing_of_presenting(server, config, presenting):
    anna, mine = presenting
    view = viewer(server, anna)
    view.until("root@lab-trainer")
    server.stop()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            view.pump(10)
    assert closed.value.rcvd.code == 1001
    assert LabHosts(config).list() == []
    mine.close()
    server.start()


def _trainer_browser(server):
    data = urllib.parse.urlencode({"token": TOKEN}).encode()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    opener.open(urllib.request.Request(server + "/trainer/login", data=data), timeout=30)
    return opener

