"""One attendee misbehaves, the others do not notice: fork bomb, memory bomb, full /tmp.

The culprit's lab host hits its own limits; the host stays responsive; another attendee
keeps typing; the culprit's lab host is reset without a trace. (How fast the others' echo
stays is measured in bench/containment.py; here it only has to keep answering.)
"""

import json
import time
import urllib.request

import pytest

from labsteps.sandbox.labhost import LabHosts
from tests.apiclient import Api
from tests.conftest import TOKEN, sh, traces
from tests.wsclient import Term

pytestmark = pytest.mark.root


@pytest.fixture
def room(server, config):
    """Mallory (who misbehaves) and Anna (who types), both joined; (hosts, anna's terminal)."""
    mallory = Api.joined(server, "Mallory")
    anna = Api.joined(server, "Anna")
    term = Term(server, anna.cookie)
    term.until("root@lab-")
    hosts = LabHosts(config)
    yield hosts, term, mallory
    term.close()


def typing_works(term, rounds=10):
    """Anna's echo comes back each time, however busy the machine is."""
    for i in range(rounds):
        assert f"ok-{i}" in term.run(f"echo ok-{i}", timeout=10)


def host_answers(server) -> None:
    # How fast, beside a bomb, is measured in bench/containment.py; here: that it answers.
    with urllib.request.urlopen(server + "/healthz", timeout=30) as res:
        assert json.load(res)["status"] == "ok"


def reset_clean(server, hosts, name):
    host = hosts.get(name)
    req = urllib.request.Request(server + "/api/trainer/reset", method="POST",
                                 data=json.dumps({"attendee": int(name[1:])}).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as res:
        assert res.status == 200
    assert traces(hosts, host) == []


def test_a_fork_bomb_stays_in_its_lab_host(server, room):
    hosts, term, _ = room
    sh(hosts, "bomb() { bomb | bomb & }; (bomb) >/dev/null 2>&1 &", name="a1")
    cg = hosts.cgroup_of(hosts.get("a1"))
    # The kernel's own count: a walk of cgroup.procs would see bombs born and dead meanwhile.
    def tasks() -> int:
        return int((cg.dirs()[0] / "pids.current").read_text())

    most, end = 0, time.monotonic() + 30
    while most < hosts.config.pids_max // 2 and time.monotonic() < end:  # until it has spread
        most = max(most, tasks())
        time.sleep(0.05)
    assert hosts.config.pids_max // 2 <= most <= hosts.config.pids_max
    time.sleep(1)  # and a while at its limit
    assert tasks() <= hosts.config.pids_max
    typing_works(term)
    host_answers(server)
    reset_clean(server, hosts, "a1")


def test_a_memory_bomb_is_killed_in_its_lab_host(server, room):
    hosts, term, _ = room
    code, out = sh(hosts, "tail /dev/zero; echo status=$?", name="a1", timeout=60)
    assert "status=137" in out  # the lab host's OOM killer, not the host's
    typing_works(term)
    host_answers(server)
    reset_clean(server, hosts, "a1")


def test_filling_tmp_fills_only_its_own_tmpfs(server, room):
    import shutil

    hosts, term, _ = room
    free_before = shutil.disk_usage("/").free
    code, out = sh(hosts, "dd if=/dev/zero of=/tmp/voll bs=1M count=2000 2>&1; df -m /tmp",
                   name="a1", timeout=60)
    assert "No space left on device" in out
    assert abs(shutil.disk_usage("/").free - free_before) < 100 * 2**20  # host disk untouched
    typing_works(term)
    reset_clean(server, hosts, "a1")


def test_inside_a_lab_host_the_host_is_out_of_reach(server, room):
    hosts, term, _ = room
    code, out = sh(hosts, """
nsenter -t 1 -m -u -i -n -p true && echo "pid 1 is $(cat /proc/1/comm)"
ls /proc | grep -c '^[0-9]'
cat /proc/1/mountinfo | grep -c ' / / ' || true
echo x > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE-SYSCTL
echo b > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ
insmod /nothing.ko 2>/dev/null; modprobe dummy 2>/dev/null && echo MODPROBE
ip link add x type dummy 2>/dev/null && ip link show x >/dev/null && echo own-dummy-ok
""", name="a1")
    assert "pid 1 is nslab-init" in out
    assert int(out.split("\n")[1]) < 10  # its own handful of processes
    for bad in ("WROTE-SYSCTL", "SYSRQ", "MODPROBE"):
        assert bad not in out, out
