"""Lab hosts start from one start-up process that forks a helper for each; it never
outlives its server, and a lost one is started again."""

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

from labsteps.errors import LabHostError
from labsteps.sandbox.labhost import LabHosts
from labsteps.sandbox.starter import Starter
from tests.conftest import ROOT, sh

pytestmark = pytest.mark.root


def starters() -> list[int]:
    """Start-up processes on this machine that are children of this test."""
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "starter import serve"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            os.waitpid(pid, os.WNOHANG)  # ours: a zombie counts as gone once reaped
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def test_a_class_of_lab_hosts_comes_from_one_start_up_process(hosts):
    before = set(starters())  # other tests' labs in this process may have theirs
    for name in ("anna", "ben", "cem"):
        hosts.create(name)
    assert len(set(starters()) - before) == 1
    for name in ("anna", "ben", "cem"):
        assert sh(hosts, "hostname; id -u", name) == (0, f"lab-{name}\n0\n")


def lab_and_its_starter(config) -> tuple[LabHosts, int]:
    """A lab of its own (not the hosts fixture's) and its start-up process, which a lab
    host made and destroyed again has brought up."""
    before = set(starters())
    hosts = LabHosts(config)
    try:
        hosts.create("anna")
        [pid] = set(starters()) - before
    finally:  # a lab host made here has no fixture to sweep it
        hosts.destroy("anna")
    return hosts, pid


def test_closing_the_lab_ends_the_start_up_process(config):
    hosts, pid = lab_and_its_starter(config)
    hosts.close()
    assert gone(pid)
    with pytest.raises(LabHostError, match="stopping"):
        hosts.create("ben")


def test_a_lost_start_up_process_is_started_again(hosts):
    before = set(starters())
    hosts.create("anna")
    [pid] = set(starters()) - before
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    hosts.create("ben")  # a new one answers
    assert sh(hosts, "hostname", "ben") == (0, "lab-ben\n")
    assert len(set(starters()) - before) == 1


def test_a_helper_that_fails_says_why_and_the_next_one_works(hosts):
    starter = Starter({"PATH": "/usr/bin:/bin"})
    try:
        reply = starter.start({"uid": 1})  # not a spec a lab host can start from
        assert "KeyError" in reply["error"]
        assert "error" in starter.start({})
    finally:
        starter.close()
    hosts.create("anna")  # the lab's own start-up process is not disturbed
    assert sh(hosts, "true") == (0, "")


def test_a_lab_dropped_without_closing_lets_its_start_up_process_go(config):
    hosts, pid = lab_and_its_starter(config)
    del hosts
    gc.collect()
    assert gone(pid)


def test_the_start_up_process_ends_with_a_server_killed_hard(config, hosts):
    # A child that makes a lab host, then dies by SIGKILL without closing anything.
    script = ("import os, sys, signal; sys.path.insert(0, sys.argv[1]);"
              "from labsteps.config import Config; from labsteps.sandbox.labhost import LabHosts;"
              "from pathlib import Path;"
              "h = LabHosts(Config.from_env(env={}, state_dir=Path(sys.argv[2]),"
              " lib_dir=Path(sys.argv[3])));"
              "h.create('anna'); print(h._starter._proc.pid, flush=True);"
              "os.kill(os.getpid(), signal.SIGKILL)")
    out = subprocess.run([sys.executable, "-c", script, str(ROOT), str(config.state_dir),
                          str(config.lib_dir)], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    assert gone(pid), "the start-up process outlived its server"
    assert [h.name for h in hosts.list()] == ["anna"]  # the lab host it made is swept after
