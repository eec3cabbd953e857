"""The whole talk over HTTP, as the step page drives it: check, run every block, check."""

import threading
import time

import pytest

from labsteps.talk.loader import load_steps
from tests.apiclient import Api
from tests.wsclient import Term

pytestmark = pytest.mark.root
# Steps whose check passes before their blocks run: the first three only ask whether the lab
# host runs; the conclusion looks at a container, which the nsenter step left running.
ALWAYS = {"intro", "container-vs-vm", "docker", "conclusion"}


def walk(api: Api) -> dict[str, list[dict]]:
    """Run the talk; returns each step's results. Asserts as an attendee would look."""
    outputs = {}
    status, steps = api.get("/api/steps")
    assert status == 200 and all(s["passed"] is None for s in steps)
    for s in steps:
        status, before = api.post(f"/api/steps/{s['id']}/check")
        assert status == 200
        assert before["passed"] == (s["id"] in ALWAYS), (s["id"], before)
        assert all(c["hint"] for c in before["checks"] if not c["passed"])
        status, detail = api.get(f"/api/steps/{s['id']}")
        results = []
        for block in detail["blocks"]:
            if block["kind"] == "task":  # done alone: its solution typed into the terminal
                status, help = api.post(f"/api/steps/{s['id']}/tasks/{block['index']}/solution")
                typed(api, block["terminal"], help["command"])
                continue
            if not block["runnable"]:
                continue
            status, body = api.post(f"/api/steps/{s['id']}/run", {"block": block["index"]})
            assert status == 200, (s["id"], block, body)
            result = body["results"][0]
            if block["expect"] is not None and block["wait"]:
                assert result["exit_code"] == block["expect"], (s["id"], result)
            results.append(result)
        status, after = api.post(f"/api/steps/{s['id']}/check")
        assert after["passed"], (s["id"], after)
        outputs[s["id"]] = results
    status, steps = api.get("/api/steps")
    assert all(s["passed"] for s in steps)
    return outputs


def typed(api: Api, n: int, command: str) -> None:
    term = Term(api.base, api.cookie, n)
    try:
        term.event("hello")
        term.run(command, timeout=60)
    finally:
        term.close()


def output(results, needle):
    return next(r["output"] for r in results if needle in r["command"])


def test_the_whole_talk_passes_and_shows_its_evidence(server):
    out = walk(Api.joined(server, "Anna"))
    ns = out["namespaces"]
    assert "Error, do this: mount -t proc proc /proc" in output(ns, "chroot /tmp/container ps")
    inside = next(r for r in ns if r["command"] == "ps ax")["output"].splitlines()[1:]
    assert len(inside) <= 3 and inside[0].split()[0] == "1"  # few processes, sh is PID 1
    assert output(out["mount"], "cat /srv/gruss.txt").strip() == "Grüße vom Lab-Host"
    assert "can't fork" in output(out["cgroups"], "sleep 60")
    assert "max " in output(out["cgroups"], "pids.events")
    layers = output(out["overlay"], "ls /tmp/runningcontainer1/srv")
    assert "notiz.txt" in layers.split("runningcontainer1/srv:")[1].split("\n\n")[0]
    assert "notiz.txt" not in layers.split("/tmp/container/srv:")[1].split("\n\n")[0]
    assert " 0% packet loss" in output(out["network"], "ping")
    assert "Hallo von www1" in output(out["network"], "wget")
    assert "LISTEN" in output(out["nsenter"], "ss -tln")
    assert "CET" in output(out["nsenter"], "date") or "CEST" in output(out["nsenter"], "date")


def test_two_attendees_walk_the_talk_at_once(server):
    apis = [Api.joined(server, "Anna"), Api.joined(server, "Bert")]
    errors = []

    def go(api):
        try:
            walk(api)
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=go, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_catch_up_to_the_last_step_passes_its_checks(server):
    api = Api.joined(server, "Spaet")
    status, result = api.post("/api/steps/conclusion/solve")
    assert status == 200 and result["passed"], result
    status, result = api.post("/api/steps/network/check")
    assert result["passed"]  # the way there left the network in place too


def test_run_every_block_of_a_step_at_once(server):
    api = Api.joined(server, "Anna")
    status, body = api.post("/api/steps/chroot/run")
    assert status == 200
    steps = {s.id: s for s in load_steps()}
    assert [r["block"] for r in body["results"]] == \
        [b.index for b in steps["chroot"].blocks if b.runnable]
    assert api.post("/api/steps/chroot/check")[1]["passed"]


@pytest.mark.parametrize("path,body,raw,status,code", [
    ("/api/steps/nope/run", {}, None, 404, "unknown_step"),
    ("/api/steps/..%2f..%2fetc/run", {}, None, 404, None),
    ("/api/steps/chroot/run", {"block": 99}, None, 400, "bad_block"),
    ("/api/steps/chroot/run", {"block": "eins"}, None, 400, "bad_block"),
    ("/api/steps/docker/run", {"block": 0}, None, 400, "not_runnable"),
    ("/api/steps/chroot/run", None, b"{not json", 400, "bad_json"),
    # 2 KB nested past Python's recursion limit: its parser gives up, which is no 500
    ("/api/steps/chroot/run", None, b'{"block": ' + b"[" * 1000 + b"]" * 1000 + b"}",
     400, "bad_json"),
    ("/api/steps/cgroups/run", {"block": 7}, None, 409, "not_ready"),  # no container yet
])
def test_bad_requests_get_the_error_shape(server, path, body, raw, status, code):
    api = Api.joined(server, "Anna")
    got, answer = api.call("POST", path, body if raw is None else None, raw=raw)
    assert got == status, answer
    assert set(answer) == {"error", "message"} and answer["message"]
    if code:
        assert answer["error"] == code


def test_run_while_the_terminal_is_busy_is_a_conflict(server):
    api = Api.joined(server, "Anna")
    term = Term(server, api.cookie)
    term.until("root@lab-")
    term.send("echo RUN''NING; sleep 20\r")
    term.until("RUNNING")  # output: the shell has marked the command's start before it
    deadline = time.monotonic() + 10
    while True:  # busy at once; named once bash's child has the terminal and is sleep
        status, answer = api.post("/api/steps/intro/run", {"block": 0})
        assert status == 409 and answer["error"] == "terminal_busy"
        if "sleep runs there" in answer["message"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "sleep runs there" in answer["message"] and "Ctrl-C" in answer["message"]
    term.out.clear()
    term.send(b"\x03")
    term.until("root@lab-")
    assert api.post("/api/steps/intro/run", {"block": 0})[0] == 200
    term.close()


def test_run_says_to_type_exit_when_a_shell_of_its_own_waits_there(server):
    """`exec sh` typed where the talk has it only inside a container: the plain sh marks no
    prompt, so Run cannot tell it waits, and Ctrl-C would not help."""
    api = Api.joined(server, "Anna")
    term = Term(server, api.cookie)
    term.until("root@lab-")
    term.until("# ")  # bash's prompt, whole: the "# " after this can only be sh's
    term.out.clear()
    term.send("exec sh\r")
    term.until("# ")
    deadline = time.monotonic() + 10
    while True:  # the shell is marked busy once sh has replaced it
        status, answer = api.post("/api/steps/intro/run", {"block": 0})
        if status != 200 or time.monotonic() > deadline:
            break
    assert status == 409 and answer["error"] == "terminal_busy"
    assert "(sh)" in answer["message"] and "exit" in answer["message"], answer
    term.send("exit\r")  # the terminal's shell ends; the next Run starts a fresh one
    assert term.event("exit") is not None
    term.close()
    status, body = api.post("/api/steps/intro/run", {"block": 0})
    assert status == 200 and body["results"][0]["exit_code"] == 0, body


def test_a_command_that_leaves_a_shell_of_its_own_times_out_saying_so(server):
    """The pivot_root step's `cd / && exec sh` run on a fresh lab host, out of its order:
    the lab host's plain sh marks no prompt, so Run waits its 30 s, then says what to do."""
    api = Api.joined(server, "Anna")
    steps = {s.id: s for s in load_steps()}
    block = next(b for b in steps["pivot-root"].blocks if b.command == "cd / && exec sh")
    status, answer = api.post("/api/steps/pivot-root/run", {"block": block.index})
    assert status == 504 and answer["error"] == "timeout", answer
    assert "no prompt" in answer["message"] and "(sh)" in answer["message"] and \
        "exit" in answer["message"], answer


def test_the_api_wants_a_session(server):
    status, answer = Api(server).post("/api/steps/intro/run", {"block": 0})
    assert status == 401 and answer["error"] == "no_session"


def test_steps_in_either_language(server):
    api = Api.joined(server, "Anna")
    status, de = api.get("/api/steps/namespaces?lang=de")
    status, en = api.get("/api/steps/namespaces?lang=en")
    assert de["title"] == en["title"] == "Namespaces"
    assert de["parts"][0]["html"] != en["parts"][0]["html"]
    assert api.get("/api/steps")[1][3]["title"] == "A file system? chroot!"  # remembered


def test_the_network_steps_blocks_run_twice_and_mkdir_does_not_stop_them(server):
    """`mkdir -p /var/run/netns`: run all again (or after `ip netns add`, which makes the
    folder) gets past it; the talk's plain mkdir would stop "run all" right there."""
    api = Api.joined(server, "Anna")
    status, result = api.post("/api/steps/network/solve")
    assert status == 200 and result["passed"], result
    status, body = api.post("/api/steps/network/run")
    assert status == 200
    mkdir = next(r for r in body["results"] if "mkdir" in r["command"])
    assert mkdir["command"] == "mkdir -p /var/run/netns" and mkdir["exit_code"] == 0, mkdir
    # The next block is the ln -s, which fails the second time: hallo is there already.
    assert body["results"][-1]["command"].startswith("ln -s ")
    assert api.post("/api/steps/network/check")[1]["passed"]
