"""Destroying a lab host leaves nothing behind; a killed owner's lab hosts are swept."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labsteps.sandbox import cgroup
from labsteps.sandbox.labhost import LabHosts
from tests.conftest import ROOT, sh, traces
from tests.test_isolation import WALKTHROUGH

pytestmark = pytest.mark.root


def test_destroy_after_the_whole_walkthrough_leaves_nothing(hosts):
    host = hosts.create("anna")
    assert sh(hosts, WALKTHROUGH + "\nsleep 300 &\n", timeout=60)[0] == 0
    assert traces(hosts, host)  # there is something to clean up
    hosts.destroy("anna")
    assert traces(hosts, host) == []
    hosts.destroy("anna")  # twice is fine


def test_double_forked_and_escaped_processes_are_found_through_the_cgroup(hosts):
    host = hosts.create("anna")
    sh(hosts, "setsid sh -c 'sleep 300 &' ; (unshare -p -f sleep 300 &) ; "
              "mkdir /sys/fs/cgroup/pids/own 2>/dev/null || mkdir /sys/fs/cgroup/own; "
              "sh -c 'echo $$ > /sys/fs/cgroup/pids/own/tasks 2>/dev/null || "
              "echo $$ > /sys/fs/cgroup/own/cgroup.procs; exec sleep 300' &")
    assert len(hosts.cgroup_of(host).pids()) >= 4
    hosts.destroy("anna")
    assert traces(hosts, host) == []


def test_a_killed_owner_leaves_lab_hosts_that_the_next_start_sweeps(config):
    script = ("import sys; sys.path.insert(0, sys.argv[1]);"
              "from pathlib import Path; from labsteps.config import Config;"
              "from labsteps.sandbox.labhost import LabHosts;"
              "h = LabHosts(Config.from_env(env={}, state_dir=Path(sys.argv[2]), "
              "lib_dir=Path(sys.argv[3])));"
              "[h.create(n) for n in ('anna', 'bert')]; print('ready', flush=True);"
              "import time; time.sleep(60)")
    owner = subprocess.Popen([sys.executable, "-c", script, str(ROOT), str(config.state_dir),
                              str(config.lib_dir)], stdout=subprocess.PIPE)
    assert owner.stdout.readline().strip() == b"ready"
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    hosts = LabHosts(config)
    left = hosts.list()
    assert {h.name for h in left} == {"anna", "bert"} and all(h.alive() for h in left)
    assert sorted(hosts.sweep()) == ["anna", "bert"]
    for h in left:
        assert traces(hosts, h) == []


def test_a_stopped_lab_host_is_reported_and_can_be_made_again(hosts):
    host = hosts.create("anna")
    os.kill(host.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while host.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not host.alive()
    from labsteps.sandbox.labhost import LabHostError

    with pytest.raises(LabHostError, match="stopped"):
        hosts.run("anna", "true")
    hosts.create("anna")
    assert sh(hosts, "echo back")[1].strip() == "back"


def test_a_slot_is_taken_again_while_its_last_owner_is_still_being_cleaned_up():
    """A new group's attendee may get the slot a leaving one frees, in the same millisecond."""
    layout = cgroup.detect()
    failures: list[str] = []
    claimed: list[int] = []
    lost: list[int] = []
    slots = (4090, 4090, 4091)  # two owners of one slot race for it; a third, for the parent
    start = threading.Barrier(len(slots))

    def churn(slot: int) -> None:
        cg = cgroup.LabCgroup(layout, slot, 0, 0)
        mine = 0
        start.wait()
        deadline = time.monotonic() + 120
        # Counted in claims, not attempts: how often the rival wins depends on the machine's load.
        while mine < 100 and time.monotonic() < deadline:
            try:
                if not cg.claim():
                    lost.append(slot)
                    time.sleep(0)
                    continue
            except Exception as e:
                failures.append(repr(e))
                continue
            mine += 1
            claimed.append(slot)
            try:
                cg.create(cgroup.Limits())
                failures.extend(str(p) for p in cg.procs_files(cgroup.LAB) +
                                cg.procs_files(cgroup.INIT) if not p.exists())
            except Exception as e:  # whatever it is, the test must see it, not the thread
                failures.append(repr(e))
            finally:
                try:
                    cg.remove()
                except Exception as e:
                    failures.append(repr(e))

    threads = [threading.Thread(target=churn, args=(s,)) for s in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert claimed.count(4090) == 200 and claimed.count(4091) == 100
    assert lost.count(4090) > 0 and lost.count(4091) == 0  # the two owners did meet
    assert not any(cgroup.LabCgroup(layout, s, 0, 0).exists() for s in slots)


def test_a_stopping_lab_makes_no_more_lab_hosts_or_shells(hosts):
    from labsteps.sandbox.labhost import LabHostError
    from labsteps.terminal.pty import TerminalGone, Terminals

    hosts.create("anna")
    terms = Terminals(hosts)
    terms.get("anna", 1)
    hosts.close()
    terms.shutdown()
    with pytest.raises(LabHostError, match="stopping"):
        hosts.create("bert")
    with pytest.raises(TerminalGone, match="stopping"):
        terms.get("anna", 2)
    assert hosts.sweep() == ["anna"]  # what there is still goes
    assert hosts.list() == []


def test_a_lab_host_goes_when_a_process_entering_it_lost_its_parent(hosts):
    """nsenter, killed while its child runs inside (a shell spawning as a reset comes): the
    child is adopted by this process, the subreaper, and the lab host's pid 1 cannot finish
    exiting until someone reaps it."""
    host = hosts.create("anna")
    argv, env = hosts.command(host, ["/bin/sleep", "600"])
    nsenter = subprocess.Popen(argv, env=env)  # sh execs env, which execs nsenter: one pid

    def sleeping() -> bool:
        return any(Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
                   for pid in hosts.processes("anna") if Path(f"/proc/{pid}").exists())

    deadline = time.monotonic() + 30
    while not sleeping() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sleeping()
    nsenter.kill()
    nsenter.wait()
    hosts.destroy("anna")  # LabHostError "not reaped" before the orphan was reaped
    assert traces(hosts, host) == []
