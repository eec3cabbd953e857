"""Tasks (done alone, checked by state), chapters the trainer turns on, and steps a kernel
cannot offer: over HTTP and a real terminal, as an attendee and the trainer meet them."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from labsteps.talk.loader import load_steps
from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.wsclient import Term

pytestmark = pytest.mark.root
TASK = ("cgroups", 10)  # the cgroups step's task: a group drei with pids.max 3


def trainer(server, method: str, path: str, body: object = None):
    req = urllib.request.Request(server + path, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def solution(server) -> str:
    """The task's commands, as the step file has them for this host's cgroup version."""
    version = Api(server).get("/healthz")[1]["cgroup"]
    step = next(s for s in load_steps() if s.id == TASK[0])
    return step.blocks[TASK[1]].for_cgroup(version)


def how_solved(server, name: str) -> str | None:
    status, rows = trainer(server, "GET", "/api/trainer/attendees")
    me = next(r for r in rows if r["name"] == name)
    return me["tasks"].get(f"{TASK[0]}/{TASK[1]}")


def task_block(api: Api) -> dict:
    status, step = api.get(f"/api/steps/{TASK[0]}")
    return next(b for b in step["blocks"] if b["index"] == TASK[1])


def test_a_task_has_no_run_and_keeps_its_solution_until_asked(server):
    api = Api.joined(server, "Anna")
    block = task_block(api)
    assert block["kind"] == "task" and block["runnable"] is False
    assert block["command"] is None and block["hint"] is None and "drei" in block["task"]
    status, body = api.post(f"/api/steps/{TASK[0]}/run", {"block": TASK[1]})
    assert status == 400 and body["error"] == "not_runnable" and "task" in body["message"]
    status, body = api.post(f"/api/steps/{TASK[0]}/tasks/0/hint")
    assert status == 400 and body["error"] == "bad_block"
    status, body = api.post(f"/api/steps/{TASK[0]}/tasks/{TASK[1]}/solution")
    assert status == 200 and body["command"] == solution(server) and body["hint"]
    assert task_block(api)["command"] == solution(server)  # shown from now on


@pytest.mark.parametrize("way", ["alone", "hint", "solution", "catchup"])
def test_the_grid_shows_how_a_task_was_solved(server, way):
    name = f"Ben-{way}"
    api = Api.joined(server, name)
    assert how_solved(server, name) is None
    if way == "hint":  # a wrong attempt: Check before doing it answers with the hint
        status, result = api.post(f"/api/steps/{TASK[0]}/check")
        drei = next(c for c in result["checks"] if c["name"] == "drei")
        assert not drei["passed"] and "drei" in drei["hint"] and drei["title"] != "drei"
        assert task_block(api)["hint"] == drei["hint"]
    if way == "solution":
        api.post(f"/api/steps/{TASK[0]}/tasks/{TASK[1]}/solution")
    if way == "catchup":
        status, result = api.post(f"/api/steps/{TASK[0]}/solve", timeout=300)
    else:  # typed by hand into terminal 1, as the attendee would
        term = Term(server, api.cookie)
        term.event("hello")
        term.run(solution(server), timeout=30)
        term.close()
        status, result = api.post(f"/api/steps/{TASK[0]}/check")
    assert status == 200
    assert next(c for c in result["checks"] if c["name"] == "drei")["passed"], result
    assert how_solved(server, name) == way
    assert task_block(api)["solved"] == way


def opened(server: str, api: Api, path: str) -> http.client.HTTPResponse:
    """GET path with api's session, redirects not followed."""
    u = urllib.parse.urlsplit(server)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("GET", path, headers={"Cookie": api.cookie})
    res = conn.getresponse()
    res.read()
    conn.close()
    return res


def where_the_lab_leads(server: str, api: Api) -> str:
    """Where /lab (the start page's way back into the talk) sends api's attendee."""
    res = opened(server, api, "/lab")
    assert res.status == 302
    return urllib.parse.urlsplit(res.getheader("Location")).path


def test_chapters_the_trainer_turns_off_are_gone_for_the_group(server):
    deeper = [s.id for s in load_steps() if s.chapter == "deeper"]
    api = Api.joined(server, "Cleo")
    assert where_the_lab_leads(server, api) == "/step/intro"
    opened(server, api, f"/step/{deeper[0]}")  # Cleo reads ahead
    assert where_the_lab_leads(server, api) == f"/step/{deeper[0]}"
    status, body = trainer(server, "GET", "/api/trainer/chapters")
    assert status == 200 and [c["on"] for c in body["chapters"]] == [True, True]
    status, body = trainer(server, "POST", "/api/trainer/chapters", {"chapters": ["talk"]})
    assert status == 200 and [c["id"] for c in body["chapters"] if c["on"]] == ["talk"]
    status, steps = api.get("/api/steps")
    assert [s["id"] for s in steps] == [s.id for s in load_steps() if s.chapter == "talk"]
    for step_id in deeper:
        assert api.get(f"/api/steps/{step_id}")[0] == 404
    assert where_the_lab_leads(server, api) == "/step/intro"  # not to a step that is gone
    console = urllib.request.Request(server + "/trainer",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(console, timeout=30) as res:
        page = res.read().decode()
    assert '"id": "conclusion"' in page.replace("\\u0022", '"') or "conclusion" in page
    assert not any(f'"{s}"' in page for s in deeper)
    for bad in ([], ["nope"], "talk", None, [["talk"]], [{"id": "talk"}]):
        status, body = trainer(server, "POST", "/api/trainer/chapters", {"chapters": bad})
        assert status == 400 and body["error"] == "bad_request"
    status, body = trainer(server, "POST", "/api/trainer/chapters",
                           {"chapters": ["talk", "deeper"]})
    assert len(api.get("/api/steps")[1]) == len(load_steps())


@pytest.fixture
def nftables_off(server_env):
    """The trainer turned nf_tables off, as a kernel without it would have it (a named fake:
    this machine's kernel has it built in). Listed before `server`, so it starts with it."""
    server_env["NSLAB_FEATURES_OFF"] = "nf_tables"
    return server_env


def test_a_step_whose_kernel_feature_is_missing_shows_its_commands_only(nftables_off, server):
    needy = [s for s in load_steps() if "nf_tables" in s.needs]
    assert needy, "a step needs nf_tables (bridge-nat)"
    step = needy[0]
    api = Api.joined(server, "Dana")
    status, detail = api.get(f"/api/steps/{step.id}")
    assert status == 200 and detail["available"] is False and detail["missing"] == ["nf_tables"]
    assert all(not b["runnable"] for b in detail["blocks"]) and detail["blocks"]
    status, body = api.post(f"/api/steps/{step.id}/run", {"block": 0})
    assert status == 409 and body["error"] == "not_available" and "nf_tables" in body["message"]
    status, result = api.post(f"/api/steps/{step.id}/check")
    assert status == 200 and result["passed"] is None and result["available"] is False
    status, steps = api.get("/api/steps")
    assert next(s for s in steps if s["id"] == step.id)["passed"] is None  # not failed


@pytest.fixture
def trainer_named(server_env):
    server_env.update(NSLAB_TRAINER_NAME="Tina <b>Trainer</b>",
                      NSLAB_TRAINER_CONTACT="tina@example.org")
    return server_env


def test_the_trainer_is_named_above_the_talks_author_who_stays_credited(trainer_named, server):
    api = Api.joined(server, "Emil")
    for lang, credit in (("de", "aus dem Vortrag"), ("en", "built from the talk")):
        req = urllib.request.Request(f"{server}/step/intro?lang={lang}",
                                     headers={"Cookie": api.cookie})
        with urllib.request.urlopen(req, timeout=30) as res:
            page = res.read().decode()
        assert "Tina &lt;b&gt;Trainer&lt;/b&gt;" in page and "tina@example.org" in page
        assert page.index("tina@example.org") < page.index("erkan@linsenraum.de")
        assert credit in page and "<blockquote>" in page
    req = urllib.request.Request(f"{server}/step/chroot", headers={"Cookie": api.cookie})
    with urllib.request.urlopen(req, timeout=30) as res:
        assert "tina@example.org" not in res.read().decode()  # on the first step only


@pytest.fixture
def short_expiry(server_env):
    server_env["NSLAB_IDLE_EXPIRY"] = "5"  # longer than joining and connecting take
    return server_env


def test_a_lab_host_left_alone_ends_and_its_attendee_comes_back_to_a_fresh_one(short_expiry,
                                                                              server):
    import time
    api = Api.joined(server, "Fritz")
    status, result = api.post("/api/steps/intro/check")
    assert result["passed"]
    term = Term(server, api.cookie)
    term.event("hello")
    term.run("touch /tmp/merk")
    time.sleep(7)  # watched: kept, however long
    assert Api(server).get("/healthz")[1]["sandboxes"] == 1
    term.close()
    deadline = time.monotonic() + 30
    while Api(server).get("/healthz")[1]["sandboxes"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert Api(server).get("/healthz")[1]["sandboxes"] == 0  # gone: away longer than 5 s
    req = urllib.request.Request(f"{server}/step/intro?lang=en", headers={"Cookie": api.cookie})
    with urllib.request.urlopen(req, timeout=30) as res:
        page = res.read().decode()
    assert "You were away for a while" in page and 'id="restarted" hidden' not in page
    status, steps = api.get("/api/steps")
    assert steps[0]["passed"] is True  # the progress stayed
    term = Term(server, api.cookie)
    term.event("hello")
    assert "weg" in term.run("test -e /tmp/merk && echo da || echo weg")  # a fresh one
    term.close()
