"""The kernel model over HTTP: after Run of each talk step it shows what that step built,
live while a terminal is open, and the attendee's own text comes back as text."""

import time

import pytest

from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.wsclient import Term

pytestmark = pytest.mark.root
NEW = ("pid", "mnt", "uts", "net", "ipc")  # what `unshare -p -f -m -u -n -i` makes new


def run_step(api: Api, step_id: str) -> None:
    status, detail = api.get(f"/api/steps/{step_id}")
    assert status == 200
    for block in detail["blocks"]:
        if block["runnable"]:
            status, body = api.post(f"/api/steps/{step_id}/run", {"block": block["index"]})
            assert status == 200, (step_id, block, body)


def kernel(api: Api) -> dict:
    status, model = api.get("/api/me/kernel")
    assert status == 200, model
    return model


def built(model: dict) -> dict:
    """The model without what moves by itself (counters, the version) and without the
    terminals' shells (Run opens one when it first types into a terminal)."""
    shells = {p["pid"] for p in model["processes"] if p["ppid"] == 1 and p["terminal"]}
    return {"processes": sorted((p["pid"], p["command"], p["root"]) for p in model["processes"]
                                if p["pid"] not in shells),
            "netns": sorted((n["id"], tuple(n["names"]), str(n["interfaces"]))
                            for n in model["netns"]),
            "mounts": sorted(str(m) for m in model["mounts"]),
            "cgroups": sorted((c["path"], str((c["pids"] or {}).get("max")),
                               tuple(set(c["procs"]) - shells)) for c in model["cgroups"])}


def containers(model: dict, root: str) -> list[dict]:
    """Processes with root as their root, in new namespaces of every kind `unshare` made."""
    own = model["labhost"]["namespaces"]
    return [p for p in model["processes"] if p["root"] == root and
            all(p["namespaces"][k] != own[k] for k in NEW)]


def test_after_each_talk_step_the_model_shows_what_it_built(server):
    api = Api.joined(server, "Anna")
    status, steps = api.get("/api/steps")
    before = kernel(api)
    assert before["processes"] == [] and before["mounts"] == [] and before["version"] >= 1
    assert [c["path"] for c in before["cgroups"]] == ["/"]
    outer = before["cgroups"][0]["outer"]  # the lab's limits, on a parent the attendee cannot
    assert isinstance(outer["pids"]["max"], int) and isinstance(outer["memory"]["max"], int)
    for s in [s["id"] for s in steps]:
        run_step(api, s)
        model = kernel(api)
        own = model["labhost"]["namespaces"]
        if s in ("intro", "container-vs-vm", "docker", "chroot", "conclusion"):
            assert built(model) == built(before), s  # builds nothing that runs or mounts
        elif s == "namespaces":
            sh = [p for p in containers(model, "/tmp/container") if p["command"] == "sh"]
            assert sh, model["processes"]
        elif s == "mount":
            binds = [m for m in model["mounts"] if m["target"] == "/tmp/container/srv"]
            assert binds and binds[0]["bind_of"] == "/var/tmp", model["mounts"]
            assert binds[0]["mntns"] != own["mnt"]
        elif s == "cgroups":
            lala = next(c for c in model["cgroups"] if c["path"] == "/lala")
            assert lala["pids"]["max"] == 5
            assert {p["pid"] for p in containers(model, "/tmp/container")} & set(lala["procs"])
        elif s == "overlay":
            overlays = [m for m in model["mounts"] if m["fstype"] == "overlay"
                        and m["mntns"] == own["mnt"] and m["lower"] == ["/tmp/container"]]
            assert len(overlays) == 2 and len({m["upper"] for m in overlays}) == 2
            assert {m["target"] for m in overlays} == {"/tmp/runningcontainer1",
                                                       "/tmp/runningcontainer2"}
        elif s == "network":
            hallo = next(n for n in model["netns"] if n["names"] == ["hallo"])
            inside = {i["name"]: i for i in hallo["interfaces"]}
            assert inside["containerende"]["addresses"][:1] == ["172.40.1.1/26"]
            assert inside["containerende"]["peer"] == {"netns": own["net"], "name": "hostende"}
            lab = next(n for n in model["netns"] if n["id"] == own["net"])
            end = next(i for i in lab["interfaces"] if i["name"] == "hostende")
            assert end["addresses"][:1] == ["172.40.1.2/26"] and end["kind"] == "veth"
            assert end["peer"] == {"netns": hallo["id"], "name": "containerende"}
        elif s == "nsenter":
            second = containers(model, "/tmp/runningcontainer2")
            assert second, model["processes"]
            net = next(n for n in model["netns"] if n["id"] == second[0]["namespaces"]["net"])
            assert [i["name"] for i in net["interfaces"]] == ["lo"]
        before = model


def test_the_model_follows_the_terminal_and_rests_when_it_does(server):
    api = Api.joined(server, "Bert")
    term = Term(server, api.cookie)
    term.event("hello")
    term.run("true")
    first = kernel(api)
    # A job started with & changes the lab host without a prompt of its own making, and
    # its "[1] 42" comes before it has become sleep (here half a second before, so that
    # the read the output asks for, 0.1 s after it, surely misses it: the watch's last
    # read, for `first`, is over a second ago). Nothing is printed after that; the page,
    # fetching the model on each event as it does, still sees the sleep.
    time.sleep(1.2)
    later = "import os, sys, time; time.sleep(0.5); os.execvp(sys.argv[1], sys.argv[1:])"
    term.send(f"unshare -u sh -c 'hostname kiste; exec python3 -c \"{later}\" sleep 300' &\r")
    deadline = time.monotonic() + 10
    while True:
        event = term.event("kernel", timeout=max(0.1, deadline - time.monotonic()))
        if event["version"] <= first["version"]:
            continue
        model = kernel(api)
        assert model["version"] >= event["version"]
        sleeper = [p for p in model["processes"] if p["command"] == "sleep"]
        if sleeper:
            break
    assert sleeper[0]["hostname"] == "kiste" and sleeper[0]["terminal"] == 1
    time.sleep(2.5)  # the last output's read, and the looks after it, are done
    reads = health(server)["kernel_reads"]
    version = kernel(api)["version"]  # (a look after may have seen a counter move)
    time.sleep(3)
    assert health(server)["kernel_reads"] == reads  # no activity, no reads
    assert kernel(api)["version"] == version  # nothing new: the same model
    assert health(server)["kernel_reads"] == reads
    term.close()


def test_what_the_attendee_names_comes_back_as_text(server):
    evil = "<img src=x onerror=alert(1)>"
    api = Api.joined(server, "Cleo")
    term = Term(server, api.cookie)
    term.event("hello")
    # hostname(1) checks the name; the kernel takes any bytes, and so may the attendee.
    term.run(f"python3 -c \"import socket; socket.sethostname('{evil}')\"; "
             f"(exec -a '{evil}' sleep 300 &)")
    deadline = time.monotonic() + 10
    while True:  # the job may exec after the prompt; the watch's next look finds it
        model = kernel(api)
        if any(p["args"].startswith(evil) for p in model["processes"]) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert model["labhost"]["hostname"] == evil
    assert any(p["args"].startswith(evil) for p in model["processes"])
    status, same = trainer_get(server, "/api/trainer/attendees")
    me = next(a for a in same if a["name"] == "Cleo")
    status, seen = trainer_get(server, f"/api/trainer/attendees/{me['id']}/kernel")
    assert status == 200 and seen["labhost"]["hostname"] == evil
    term.close()


def test_asking_before_there_is_a_lab_host_or_for_nobody_is_a_clear_error(server):
    status, body = trainer_get(server, "/api/trainer/attendees/999/kernel")
    assert status == 404 and body["error"] == "unknown_attendee"
    status, body = Api(server).get("/api/me/kernel")
    assert status == 401 and body["message"]


def health(server) -> dict:
    return Api(server).get("/healthz")[1]


def trainer_get(server, path: str):
    import json
    import urllib.error
    import urllib.request
    req = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_what_the_attendee_plants_under_run_netns_neither_hangs_nor_leads_out(server):
    api = Api.joined(server, "Dana")
    term = Term(server, api.cookie)
    term.event("hello")
    term.run("ip netns add welt && mkfifo /run/netns/rohr && echo x >/run/netns/datei && "
             "ln -s /etc/shadow /run/netns/schatten && ln -s ../../.. /run/netns/hoch")
    model = kernel(api)  # answers (a FIFO opened for reading would block it for good)
    named = {name: n for n in model["netns"] for name in n["names"]}
    assert set(named) == {"welt"}
    assert [i["name"] for i in named["welt"]["interfaces"]] == ["lo"]
    term.close()
