"""A terminal's processes: the shell is adopted by the lab host's init, and closing the
terminal hangs up and then kills what is left."""

import os
import re
import signal
import time

import pytest

from labsteps.terminal.pty import Terminals
from tests.conftest import sh

pytestmark = pytest.mark.root


class Sink:
    unacked = 0

    def __init__(self):
        self.out = bytearray()

    def output(self, data):
        self.out += data

    def event(self, message):
        pass


@pytest.fixture
def shell(labhost):
    """Terminal 1 of anna's lab host at its first prompt: (terminals, terminal, its output)."""
    terms = Terminals(labhost)
    term = terms.get("anna", 1)
    sink = Sink()
    term.attach(sink)
    assert term.wait_for(lambda: term.state == "prompt", 30)
    yield terms, term, sink
    terms.shutdown()


def test_the_shell_hangs_from_the_lab_hosts_init(labhost, shell):
    _terms, term, _sink = shell
    term.write(b"sleep 30 &\r")
    tree = ""
    deadline = time.monotonic() + 30
    while "bash---sleep" not in tree.replace(" ", "") and time.monotonic() < deadline:
        tree = sh(labhost, "pstree -A 1")[1]  # until the job has started
    assert tree.startswith("nslab-init") and "bash---sleep" in tree.replace(" ", ""), tree


def test_closing_a_terminal_ends_its_processes(labhost, shell):
    terms, term, _sink = shell
    # One job that ignores the hang-up, one that does not.
    term.write(b"nohup sleep 1001 >/dev/null 2>&1 & sleep 1002 &\r")
    count = ""
    deadline = time.monotonic() + 30
    while count != "2" and time.monotonic() < deadline:  # until both have started
        count = sh(labhost, "pgrep -c -x sleep || true")[1].strip()
    assert count == "2"
    terms.close_all("anna", grace=0.5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sh(labhost, "pgrep -f 'sleep 100[12]' || true")[1].strip() == "" and \
                sh(labhost, "pgrep -x bash | wc -l")[1].strip() == "1":  # only this check's
            break
        time.sleep(0.2)
    assert sh(labhost, "pgrep -f 'sleep 100[12]' || echo none")[1].strip() == "none"


def test_shells_start_with_default_signal_dispositions(shell):
    _terms, term, sink = shell
    term.write(b"grep SigIgn /proc/$$/status; sh -c 'grep SigIgn /proc/$$/status';"
               b" echo DO''NE\r")
    deadline = time.monotonic() + 30
    while b"DONE" not in sink.out and time.monotonic() < deadline:
        time.sleep(0.05)
    _shell, child = (int(m, 16) for m in re.findall(rb"SigIgn:\s+([0-9a-f]+)", sink.out))
    # The child of the interactive shell does not ignore SIGINT, SIGPIPE or SIGXFSZ, which
    # a Python server ignores and would otherwise hand down.
    for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
        assert not child & (1 << (sig - 1)), (sig, sink.out.decode())


def test_a_shell_that_cannot_be_had_is_a_lab_host_error(labhost):
    # Out of file descriptors (a busy server): openpty fails. The caller gets the lab's
    # error, which the web side answers as 503 lab_host, not an OSError's 500.
    import resource

    from labsteps.errors import LabHostError

    terminals = Terminals(labhost)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
    try:
        with pytest.raises(LabHostError, match="could not start a shell"):
            terminals.get("anna", 1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    terminals.close_all("anna")


def test_the_terminal_tells_what_runs_in_its_foreground(shell):
    _terms, term, _sink = shell

    def becomes(expected):
        deadline = time.monotonic() + 10
        while term.foreground() != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return term.foreground()

    assert term.foreground() == ("bash", True)  # its own shell, at the prompt
    term.write(b"sleep 30\r")
    assert becomes(("sleep", False)) == ("sleep", False)
    term.write(b"\x03")
    assert becomes(("bash", True)) == ("bash", True)
    term.write(b"exec sh\r")  # the talk's `exec sh`: the same process, now sh
    assert becomes(("sh", True)) == ("sh", True)
