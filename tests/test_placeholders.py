"""Run never fills a placeholder from a state still changing: a block that starts a
container in the background hands over only once that container runs, under load too."""

import subprocess

import pytest

from tests.apiclient import Api

pytestmark = pytest.mark.root


@pytest.fixture
def busy_machine():
    """Both cores of this machine busy, as a class pressing Run at once makes them."""
    burners = [subprocess.Popen(["nice", "-n", "-5", "sh", "-c", "while :; do :; done"])
               for _ in range(4)]
    yield
    for b in burners:
        b.kill()
        b.wait()


def test_the_pid_after_a_background_container_is_that_containers(server, busy_machine):
    api = Api.joined(server, "Anna")
    status, result = api.post("/api/steps/overlay/solve", timeout=600)
    assert status == 200 and result["passed"], result
    status, step = api.get("/api/steps/nsenter")
    start = next(b for b in step["blocks"] if b["command"].endswith("sleep infinity &"))
    for _ in range(5):  # each run starts one more container; the newest must be named
        status, body = api.post("/api/steps/nsenter/run", {"block": start["index"]},
                                timeout=120)
        assert status == 200, body
        status, step = api.get("/api/steps/nsenter")
        after = step["blocks"][start["index"] + 1]
        status, model = api.get("/api/me/kernel")
        newest = max((p for p in model["processes"]
                      if p["root"] == "/tmp/runningcontainer2" and p["command"] == "sleep"),
                     key=lambda p: p["pid"])
        assert after["command"] == f"nsenter -t {newest['pid']} -n ip -br a", (after, newest)
        status, body = api.post("/api/steps/nsenter/run", {"block": start["index"] + 1},
                                timeout=120)
        assert status == 200 and body["results"][0]["output"].split() == ["lo", "DOWN"], body
