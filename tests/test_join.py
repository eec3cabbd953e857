"""Joining as the page does: the answer comes at once, the lab host starts meanwhile, and
whoever needs it (a terminal, Run, a new group) waits for it."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.wsclient import Term

pytestmark = pytest.mark.root


def reset_all(server) -> tuple[int, object]:
    req = urllib.request.Request(server + "/api/trainer/reset", method="POST",
                                 data=json.dumps({"all": True}).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as res:
        return res.status, json.load(res)


def states(api: Api, until: str = "running", within: float = 30) -> list[str]:
    seen = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = api.get("/api/me")[1]["sandbox"]["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == until:
            break
        time.sleep(0.01)
    return seen


def test_a_page_joins_at_once_and_its_terminal_waits_for_the_lab_host(server):
    anna = Api.joined(server, "Anna", wait=False)
    assert states(anna)[-1] == "running"  # "starting" first, unless the start was quicker
    term = Term(server, anna.cookie)
    term.until("root@lab-anna")
    assert term.run("hostname").strip().endswith("lab-anna")
    assert anna.post("/api/steps/chroot/run")[0] == 200


def test_a_terminal_opened_right_after_joining_gets_the_new_lab_host(server, config):
    ben = Api.joined(server, "Ben", wait=False)
    term = Term(server, ben.cookie)  # at once: it waits for the start, never makes another
    term.until("root@lab-ben")
    assert states(ben) == ["running"]
    assert [h.hostname for h in LabHosts(config).list()] == ["lab-ben"]


def test_the_capacity_counts_lab_hosts_still_starting(server, server_env):
    server.stop()
    server_env["NSLAB_CAPACITY"] = "2"
    server.start()
    answers = []

    def join(name: str) -> None:
        try:
            Api.joined(server, name, wait=False)
            answers.append(201)
        except urllib.error.HTTPError as e:  # the one too many
            answers.append(e.code)

    threads = [threading.Thread(target=join, args=(n,)) for n in ("Cem", "Dana", "Emil")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers, key=str) == [201, 201, 503]


def test_a_new_group_right_after_a_rush_of_joins_leaves_nothing(server, config):
    for i in range(8):
        Api.joined(server, f"Teilnehmer {i}", wait=False)
    assert reset_all(server)[0] == 200  # while some are still starting
    time.sleep(0.5)
    assert LabHosts(config).list() == []


def test_wait_is_true_or_false(server):
    status, body = Api(server).post("/api/join", {"name": "Fritz", "wait": "no"})
    assert status == 400 and body["error"] == "bad_request"
    assert Api(server).post("/api/join", {"name": "Fritz"})[0] == 201  # the name is free


def test_a_language_chosen_stays_though_an_older_request_answers_later(server):
    """The cookie comes only with a change: an answer to a request sent with the old
    cookie (the page's own fetches, racing a language switch) cannot put it back."""
    anna = Api.joined(server, "Greta", wait=False)
    old = anna.cookie
    req = urllib.request.Request(server + "/api/me", headers={"Cookie": old})
    with urllib.request.urlopen(req, timeout=30) as res:
        assert res.headers.get_all("Set-Cookie") is None
    anna.get("/api/steps/intro?lang=en")
    assert anna.cookie != old  # the language is in the new cookie
    assert anna.get("/api/steps/intro")[1]["title"] == "Me, and the goal"
