"""The server dies hard with a room full of attendees; the next start cleans up and goes on."""

import os
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import TOKEN, traces
from tests.wsclient import Term

pytestmark = pytest.mark.root


def test_kill_9_with_ten_attendees_then_start(server, config):
    apis = [Api.joined(server, f"Teilnehmerin {i}") for i in range(10)]
    for api in apis:
        assert api.post("/api/steps/chroot/run")[0] == 200
        assert api.post("/api/steps/chroot/check")[1]["passed"]
    terms = [Term(server, api.cookie) for api in apis[:5]]  # half of them are typing
    for t in terms:
        t.until("root@lab-")
    hosts = LabHosts(config)
    before = hosts.list()
    assert len(before) == 10

    server.stop(kill=True)
    assert all(h.alive() for h in before)  # orphaned, still running
    server.start()

    for h in before:
        assert traces(hosts, h) == [], h.name  # swept at start
    for api in apis:
        status, me = api.get("/api/me")
        assert status == 200 and me["sandbox"]["state"] == "none"
        assert api.get("/api/steps")[1][3] == {"id": "chroot", "title": "Filesystem? chroot!",
                                                "passed": True}
    # and the lab goes on: a visit makes a fresh lab host
    t = Term(server, apis[0].cookie)
    t.until("root@lab-", timeout=30)  # the lab host is made again first
    assert "lab-teilnehmerin-0" in t.run("hostname")
    t.close()


def test_a_stop_with_browsers_attached_ends_their_sessions_and_leaves_nothing(server, config):
    """systemctl stop while a class is in: open terminals and the trainer's event stream
    must not hold the server until gunicorn kills it before the lab hosts are swept."""
    api = Api.joined(server, "Anna")
    term = Term(server, api.cookie)
    term.until("root@lab-", timeout=30)
    req = urllib.request.Request(server + "/api/trainer/events",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    stream = urllib.request.urlopen(req, timeout=30)
    stream.readline()
    hosts = LabHosts(config)
    [host] = hosts.list()

    server.stop()  # SIGTERM

    with pytest.raises(ConnectionClosed) as closed:
        while True:
            term.pump(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # said, not cut
    # The rest of the last event, then a clean end (a cut chunked stream raises IncompleteRead).
    # (An event whose snapshot was taken as the server stopped may still come whole.)
    rest = stream.read().decode()
    assert all(line.startswith(("data: ", ": still here")) for line in rest.split("\n") if line)
    assert traces(hosts, host) == []


def test_a_worker_whose_master_was_killed_leaves_the_sweep_to_the_next_start(server, config):
    """A new server may already be starting on the state folder: two sweeps must not race."""
    Api.joined(server, "Anna")
    hosts = LabHosts(config)  # this process is a subreaper now: the orphaned worker comes here
    [host] = hosts.list()
    worker = server.worker_pid()
    server.proc.kill()  # the master only
    server.proc.wait()
    deadline = time.monotonic() + 30  # the worker looks for its master about once a second
    while time.monotonic() < deadline:
        try:
            if os.waitpid(worker, os.WNOHANG)[0] == worker:
                break
        except ChildProcessError:
            if not os.path.exists(f"/proc/{worker}"):
                break
        time.sleep(0.05)
    else:
        pytest.fail("the worker outlived its master")
    assert host.alive()  # not swept on the way out...
    server.start()
    assert traces(hosts, host) == []  # ...but by the next start
