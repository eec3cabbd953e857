"""Run never fills a placeholder from a state still changing: a block that starts a
container in the background hands over only once that container runs, under load too."""

import pytest

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api

pytestmark = pytest.mark.root


def starved(config, name: str, share: float):
    """Give lab host name only share of a core (its cgroup's CPU quota, set from outside),
    as a class of 100 pressing Run at once leaves each lab host little CPU."""
    hosts = LabHosts(config)
    host = hosts.get(name)
    for h, top in zip(hosts.layout.hierarchies, hosts.cgroup_of(host).dirs()):
        if hosts.layout.version == "v2":
            (top / "cpu.max").write_text(f"{int(share * 100000)} 100000")
        elif "cpu" in h.options.split(","):
            (top / "cpu.cfs_quota_us").write_text(str(int(share * 100000)))


def test_the_pid_after_a_background_container_is_that_containers(server, config):
    api = Api.joined(server, "Anna")
    status, result = api.post("/api/steps/overlay/solve", timeout=600)
    assert status == 200 and result["passed"], result
    starved(config, "a1", 0.03)
    status, step = api.get("/api/steps/nsenter")
    start = next(b for b in step["blocks"] if b["command"].endswith("sleep infinity &"))
    for _ in range(3):  # each run starts one more container; the newest must be named
        status, body = api.post("/api/steps/nsenter/run", {"block": start["index"]},
                                timeout=120)
        assert status == 200, body
        status, step = api.get("/api/steps/nsenter")
        after = step["blocks"][start["index"] + 1]
        status, model = api.get("/api/me/kernel")
        sleepers = [p for p in model["processes"]
                    if p["root"] == "/tmp/runningcontainer2" and p["command"] == "sleep"]
        assert sleepers, "Run handed over before the container it started was running"
        newest = max(sleepers, key=lambda p: p["pid"])
        assert after["command"] == f"nsenter -t {newest['pid']} -n ip -br a", (after, newest)
        status, body = api.post("/api/steps/nsenter/run", {"block": start["index"] + 1},
                                timeout=120)
        assert status == 200 and body["results"][0]["output"].split() == ["lo", "DOWN"], body
