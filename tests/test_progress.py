"""Long waits are visible: with one turn at a time, a Run behind a Catch-up hears its place
and then works; the Catch-up tells which block of which step runs, in order, over the
terminal websocket and GET /api/me/progress; a failing Run gives its turn back."""

from __future__ import annotations

import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from labsteps.talk.loader import load_steps
from tests.apiclient import Api
from tests.wsclient import Term

pytestmark = pytest.mark.root
TARGET = "nsenter"  # Catch-up to here runs some seventy blocks: long enough to queue behind
NUMBER = [s.id for s in load_steps()].index(TARGET) + 1  # as the sidebar counts


@pytest.fixture
def one_at_a_time(server_env):
    """One Run, Check or Catch-up at work at once (listed before `server`)."""
    server_env["NSLAB_BATCH_AT_ONCE"] = "1"


def in_background(call) -> tuple[threading.Thread, list]:
    answer: list = []
    thread = threading.Thread(target=lambda: answer.append(call()), daemon=True)
    thread.start()
    return thread, answer


def progress(api: Api) -> dict:
    status, body = api.get("/api/me/progress")
    assert status == 200, body
    return body


def until(predicate, timeout: float = 60, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(every)
    return found


def where(p: dict) -> tuple[int, int]:
    """A Catch-up's place in its work: (step number, block in it)."""
    return p.get("step_no", 0), p.get("block", 0)


def test_a_run_behind_a_catchup_hears_its_place_then_works(one_at_a_time, server):
    anna, ben = Api.joined(server, "Anna"), Api.joined(server, "Ben")
    assert progress(anna) == {"state": "idle"}
    ben_term = Term(server, ben.cookie)
    ben_term.event("hello")

    catchup, caught_up = in_background(lambda: anna.post(f"/api/steps/{TARGET}/solve"))
    seen = [until(lambda: (p := progress(anna))["state"] == "working" and p)]
    assert seen[0]["what"] == "catchup" and seen[0]["step"] == TARGET
    # The lab host is made afresh first (its terminals close): listen once that is done.
    seen.append(until(lambda: "at" in (p := progress(anna)) and p))
    anna_term = Term(server, anna.cookie)

    run, ran = in_background(lambda: ben.post("/api/steps/intro/run", {"block": 0}))
    queued = until(lambda: (p := progress(ben))["state"] == "queued" and p)
    assert queued == {"state": "queued", "place": 1, "what": "run", "step": "intro"}
    while catchup.is_alive():  # Anna's Catch-up, as the page would poll it
        p = progress(anna)
        if p["state"] == "working":
            seen.append(p)
        time.sleep(0.05)
    catchup.join()
    assert caught_up[0][0] == 200 and caught_up[0][1]["passed"], caught_up
    run.join(60)
    assert ran[0][0] == 200 and ran[0][1]["results"][0]["exit_code"] == 0, ran

    # Ben: his place, then his turn, then done, each said once.
    said = [ben_term.event("progress") for _ in range(3)]
    assert said[0] == {"type": "progress", **queued}
    assert said[1] == {"type": "progress", "state": "working", "what": "run", "step": "intro",
                       "block": 1, "blocks": 1}
    assert said[2] == {"type": "progress", "state": "done"}
    assert progress(ben) == {"state": "idle"}

    # Anna: step and block only ever move on, over the socket and the GET alike.
    heard = []
    while (e := anna_term.event("progress"))["state"] != "done":
        heard.append(e)
    for got in (heard, seen):
        assert [where(p) for p in got] == sorted(where(p) for p in got), got
    assert len({where(p) for p in heard}) > 10 and len({where(p) for p in seen}) > 3
    last = heard[-1]
    assert last["step_no"] == last["steps"] == NUMBER and last["at"] == TARGET
    assert last["block"] == last["blocks"] and last["done"] == last["total"]
    assert last["title"]["de"] and last["title"]["en"]
    assert progress(anna) == {"state": "idle"}


def test_a_failing_run_gives_its_turn_back(one_at_a_time, server):
    assert Api(server).get("/api/me/progress")[0] == 401  # an attendee's own, as /api/me
    ben = Api.joined(server, "Ben")
    # No container runs yet: the block that names one fails, inside its turn.
    status, body = ben.post("/api/steps/conclusion/run", {"block": 1})
    assert status == 409 and body["error"] == "not_ready", body
    assert progress(ben) == {"state": "idle"}
    # The one turn there is was given back: the next Run gets it at once.
    run, ran = in_background(lambda: ben.post("/api/steps/intro/run", {"block": 0}))
    run.join(30)
    assert ran and ran[0][0] == 200, ran
    # A wrong request (no such block) does not wait for a turn at all.
    status, body = ben.post("/api/steps/intro/run", {"block": 99})
    assert status == 400 and body["error"] == "bad_block"


def test_a_page_that_reconnects_at_once_does_not_spoil_a_catchup(server):
    """Catch-up makes the lab host afresh and closes its terminals; the page reconnects at
    once. It must wait for the new lab host, not make yet another under Catch-up's feet."""
    anna = Api.joined(server, "Anna")
    term = Term(server, anna.cookie)
    term.event("hello")
    catchup, caught_up = in_background(lambda: anna.post(f"/api/steps/{TARGET}/solve"))
    reconnects = 0
    while catchup.is_alive():
        try:
            term.pump(0.05)
        except ConnectionClosed:
            term = Term(server, anna.cookie)  # as terminal.js does on 1012, only sooner
            reconnects += 1
    catchup.join()
    assert reconnects >= 1
    assert caught_up[0][0] == 200 and caught_up[0][1]["passed"], caught_up
