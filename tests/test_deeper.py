"""The chapter "deeper" over HTTP: Run every block, type every task's solution into the
terminal, Check; Catch-up from a fresh lab host; a wrong attempt gets the task's hint."""

import json
import urllib.request

import pytest

from labsteps.talk.loader import load_steps
from tests.apiclient import Api
from tests.wsclient import Term

pytestmark = pytest.mark.root
DEEPER = ["pivot-root", "user-namespaces", "capabilities", "memory-cpu", "bridge-nat",
          "your-own-run"]


def steps() -> dict:
    return {s.id: s for s in load_steps() if s.chapter == "deeper"}


def cgroup_version(server) -> str:
    with urllib.request.urlopen(server + "/healthz", timeout=10) as res:
        return json.load(res)["cgroup"]


def typed(api: Api, n: int, command: str) -> str:
    """The attendee types command into terminal n; its output."""
    term = Term(api.base, api.cookie, n)
    try:
        term.event("hello")
        return term.run(command, timeout=90)
    finally:
        term.close()


def test_the_chapter_files_are_complete():
    found = steps()
    assert [s.id for s in sorted(found.values(), key=lambda s: s.order)] == DEEPER
    for s in found.values():
        tasks = [b for b in s.blocks if b.kind == "task"]
        assert tasks, s.id
        assert all(b.command.count("\n") == 0 for b in tasks), s.id  # typed as one line
        last = s.parts[-1]
        assert isinstance(last, dict) and "man " in last["de"] and "man " in last["en"], s.id


def test_the_chapter_walked_over_http(server):
    api = Api.joined(server, "Tiefer")
    version = cgroup_version(server)
    status, result = api.post("/api/steps/conclusion/solve")
    assert status == 200 and result["passed"], result
    chapter = steps()
    outputs = {}
    for step_id in DEEPER:
        step = chapter[step_id]
        status, detail = api.get(f"/api/steps/{step_id}")
        assert detail["chapter"] == "deeper"
        if not detail["available"]:  # a kernel without what it needs (the cgroup v2 VM's
            status, after = api.post(f"/api/steps/{step_id}/check")  # has no nf_tables)
            assert after["available"] is False and after["passed"] is None, after
            assert not any(b["runnable"] for b in detail["blocks"])
            continue
        status, before = api.post(f"/api/steps/{step_id}/check")
        assert status == 200 and not before["passed"], (step_id, before)
        out = []
        for block, shown in zip(step.blocks, detail["blocks"]):
            if block.kind == "task":
                assert shown["command"] is None  # hidden until asked for
                out.append(typed(api, block.terminal, block.for_cgroup(version)))
                continue
            if not shown["runnable"]:
                continue
            status, body = api.post(f"/api/steps/{step_id}/run", {"block": block.index})
            assert status == 200, (step_id, block.index, body)
            result = body["results"][0]
            if block.expect is not None and block.wait:
                assert result["exit_code"] == block.expect, (step_id, result)
            out.append(result["output"])
        status, after = api.post(f"/api/steps/{step_id}/check")
        assert after["passed"], (step_id, after)
        outputs[step_id] = "\n".join(out)
    assert "images" in outputs["pivot-root"]  # the escape saw the lab host's /lab
    assert "Killed" in outputs["memory-cpu"] and "nr_throttled" in outputs["memory-cpu"]
    assert "Hallo von web-a" in outputs.get("bridge-nat", "Hallo von web-a")
    for name in ("web1", "web2", "web3"):
        assert f"Hallo von {name}" in outputs["your-own-run"], outputs["your-own-run"][-2000:]


def test_a_wrong_attempt_gets_the_tasks_hint(server):
    api = Api.joined(server, "Anna")
    step = steps()["user-namespaces"]
    task = next(b for b in step.blocks if b.kind == "task")
    status, result = api.post("/api/steps/user-namespaces/check?lang=en")
    failed = {c["name"]: c for c in result["checks"]}[task.check]
    assert not failed["passed"] and failed["hint"] == task.hint["en"]
    status, detail = api.get("/api/steps/user-namespaces?lang=en")
    shown = detail["blocks"][task.index]
    assert shown["hint"] == task.hint["en"] and shown["command"] is None


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_chapter_in_either_language(server, lang):
    api = Api.joined(server, "Anna")
    chapter = steps()
    for step_id in DEEPER:
        status, detail = api.get(f"/api/steps/{step_id}?lang={lang}")
        assert status == 200 and detail["title"] == chapter[step_id].title[lang]
        assert all(p["html"] for p in detail["parts"] if "html" in p)
        for shown, block in zip(detail["blocks"], chapter[step_id].blocks):
            if block.kind == "task":
                assert shown["task"] and block.hint[lang]
        assert all(c["title"] and c["hint"] for c in detail["checks"])
    other = {"de": "en", "en": "de"}[lang]
    assert chapter["pivot-root"].title[lang] != chapter["pivot-root"].title[other]


def test_catch_up_to_the_chapters_end_from_a_fresh_lab_host(server):
    api = Api.joined(server, "Spaet")
    status, result = api.post("/api/steps/your-own-run/solve")
    assert status == 200 and result["passed"], result
    for step_id in DEEPER[:-1]:  # the way there left what each step built
        status, result = api.post(f"/api/steps/{step_id}/check")
        assert result["passed"] or result.get("available") is False, (step_id, result)
