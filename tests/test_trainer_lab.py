"""The trainer's own lab host: made on demand, used like an attendee's, kept apart from the
group's, and made afresh by a new group or a reset."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import ROOT, TOKEN, traces
from tests.wsclient import Term

pytestmark = pytest.mark.root


@pytest.fixture
def trainer(server):
    return Api.trainer(server, TOKEN)


def own_terminal(server, n=1, token=TOKEN):
    return Term(server, None, path=f"/ws/trainer/terminal/{n}",
                headers={"Authorization": f"Bearer {token}"})


def test_the_trainer_has_a_lab_host_and_two_terminals_of_their_own(server, config, trainer):
    one, two = own_terminal(server, 1), own_terminal(server, 2)
    one.until("root@lab-trainer")
    two.until("root@lab-trainer")
    assert one.run("hostname").endswith("lab-trainer\r\n")
    two.run("touch /tmp/from-two")
    assert "from-two" in one.run("ls /tmp")  # one lab host, two shells
    assert LabHosts(config).get("trainer").hostname == "lab-trainer"
    one.close()
    two.close()


def test_the_trainer_runs_checks_and_catches_up_through_their_own_routes(server, trainer):
    term = own_terminal(server)
    term.until("root@lab-trainer")
    status, steps = trainer.get("/api/trainer/steps")
    assert status == 200 and [s["passed"] for s in steps] == [None] * len(steps)
    status, step = trainer.get("/api/trainer/steps/chroot")
    assert status == 200 and step["id"] == "chroot" and step["blocks"]
    status, body = trainer.post("/api/trainer/steps/namespaces/run", {"block": 0})
    assert status == 200 and body["results"][0]["exit_code"] is not None
    assert trainer.post("/api/trainer/steps/chroot/check")[1]["passed"] is False
    status, body = trainer.post("/api/trainer/steps/chroot/solve")
    assert status == 200 and body["passed"] is True
    term.event("closed")  # Catch-up made the lab host afresh: the page reconnects
    assert trainer.post("/api/trainer/steps/chroot/check")[1]["passed"] is True
    passed = {s["id"]: s["passed"] for s in trainer.get("/api/trainer/steps")[1]}
    assert passed["chroot"] is True
    assert trainer.get("/api/trainer/progress") == (200, {"state": "idle"})
    status, model = trainer.get("/api/trainer/kernel")
    assert status == 200 and model["processes"] and "version" in model
    status, task = trainer.post("/api/trainer/steps/cgroups/tasks/99/hint")
    assert (status, task["error"]) == (400, "bad_block")


def test_the_trainers_progress_is_none_of_the_groups(server, trainer):
    anna = Api.joined(server, "Anna")
    assert trainer.post("/api/trainer/steps/chroot/solve")[1]["passed"] is True
    trainer.get("/api/trainer/steps/mount")  # the trainer's current step
    rows = trainer.get("/api/trainer/attendees")[1]
    assert [(r["name"], r["passed"], r["step"]) for r in rows] == [("Anna", [], "intro")]
    assert not any(s["passed"] for s in anna.get("/api/steps")[1])
    req = urllib.request.Request(server + "/api/trainer/progress.csv",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as res:
        lines = res.read().decode().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Anna,") and "passed" not in lines[1]
    with urllib.request.urlopen(server + "/healthz", timeout=30) as res:
        assert b'"sandboxes":1' in res.read().replace(b" ", b"")  # Anna's alone


def test_the_trainers_lab_host_takes_no_attendees_place(server_env, server, trainer):
    server.stop()
    server_env["NSLAB_CAPACITY"] = "1"
    server.start()
    Api.joined(server, "Anna")
    term = own_terminal(server)  # the lab is full, and still the trainer gets theirs
    term.until("root@lab-trainer")
    term.close()


def test_a_new_group_and_a_reset_give_the_trainer_a_fresh_lab_host(server, config, trainer):
    assert trainer.post("/api/trainer/steps/chroot/solve")[1]["passed"] is True
    hosts = LabHosts(config)
    for body in ({"all": True}, {"trainer": True}):
        term = own_terminal(server)
        term.until("root@lab-trainer")
        term.run("touch /tmp/old")
        old = hosts.get("trainer")
        status, answer = trainer.post("/api/trainer/reset", body)
        assert status == 200, answer
        assert traces(hosts, old) == []  # ended, and nothing of it left
        assert term.event("closed")["why"] == "reset"
        passed = [s["passed"] for s in trainer.get("/api/trainer/steps")[1]]
        assert passed == [None] * len(passed)  # the trainer starts the talk afresh too
        term = own_terminal(server)  # made again on demand
        term.until("root@lab-trainer")
        assert "No such file" in term.run("ls /tmp/old")
        assert hosts.get("trainer").pid != old.pid
        term.close()
        assert trainer.post("/api/trainer/steps/chroot/solve")[1]["passed"] is True


@pytest.mark.parametrize("headers,status", [
    ({}, 401), ({"Authorization": "Bearer wrong"}, 403),
])
def test_the_trainers_lab_host_needs_the_trainers_credentials(server, headers, status):
    anna = Api.joined(server, "Anna")
    stranger = Api(server, anna.cookie, headers)
    for method, path in (("GET", "/api/trainer/steps"), ("GET", "/api/trainer/steps/chroot"),
                         ("POST", "/api/trainer/steps/chroot/run"),
                         ("POST", "/api/trainer/steps/chroot/check"),
                         ("POST", "/api/trainer/steps/chroot/solve"),
                         ("POST", "/api/trainer/steps/cgroups/tasks/1/hint"),
                         ("GET", "/api/trainer/kernel"), ("GET", "/api/trainer/progress"),
                         ("GET", "/api/trainer/present"), ("POST", "/api/trainer/present")):
        got, body = stranger.call(method, path, {} if method == "POST" else None)
        assert got == status and set(body) == {"error", "message"}, (path, body)
    for n in (1, 2):
        with pytest.raises(InvalidStatus) as refused:
            Term(server, anna.cookie, path=f"/ws/trainer/terminal/{n}", headers=headers)
        assert refused.value.response.status_code == status
    assert stranger.get("/healthz")[1]["sandboxes"] == 1  # Anna's: none was made for them


def test_the_trainers_pages_need_the_trainers_login(server):
    for path in ("/trainer/lab", "/trainer/lab/chroot", "/trainer/present",
                 "/trainer/present/chroot"):
        with urllib.request.urlopen(server + path, timeout=30) as res:
            assert res.url.endswith("/trainer/login"), path


@pytest.fixture
def short_expiry(server_env):
    server_env["NSLAB_IDLE_EXPIRY"] = "2"
    return server_env


def test_the_trainers_lab_host_left_alone_ends_but_never_while_presented(short_expiry, server,
                                                                          config, trainer):
    hosts = LabHosts(config)
    term = own_terminal(server)
    term.until("root@lab-trainer")
    term.close()
    deadline = time.monotonic() + 20
    while hosts.get("trainer") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hosts.get("trainer") is None  # nobody used it for longer than 2 s
    anna = Api.joined(server, "Anna")
    trainer.post("/api/trainer/present", {"on": True})
    view = Term(server, anna.cookie, path="/ws/presenter")  # makes it again, and watches it
    view.until("root@lab-trainer")
    time.sleep(5)  # the trainer has no terminal of it open: the room is looking at it
    assert hosts.get("trainer") is not None
    view.close()


def test_the_cli_gives_the_trainer_a_fresh_lab_host_and_leaves_the_group(server, config, trainer):
    anna = Api.joined(server, "Anna")
    term = own_terminal(server)
    term.until("root@lab-trainer")
    assert trainer.post("/api/trainer/steps/chroot/solve")[1]["passed"] is True
    hosts = LabHosts(config)
    lab = "a" + str(anna.get("/api/me")[1]["attendee"]["id"])
    old, annas = hosts.get("trainer"), hosts.get(lab)
    env = {**os.environ, "NSLAB_STATE_DIR": str(config.state_dir),
           "NSLAB_LIB_DIR": str(config.lib_dir)}
    res = subprocess.run([sys.executable, "-m", "web.cli", "reset", "--trainer"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "nothing left" in res.stdout, res.stderr
    assert traces(hosts, old) == []
    assert hosts.get(lab).pid == annas.pid  # the group is left as it was
    passed = [s["passed"] for s in trainer.get("/api/trainer/steps")[1]]
    assert passed == [None] * len(passed)
    term = own_terminal(server)  # the server makes it again on the next visit
    term.until("root@lab-trainer")
    assert hosts.get("trainer").pid != old.pid
    term.close()
