"""/proc/PID/stat is read in one place, right even for a command name like `a) b (c`."""

from __future__ import annotations

import os
import subprocess
import time

from labsteps.sandbox import proc


def test_a_command_name_with_parentheses_and_spaces_does_not_shift_the_fields(tmp_path):
    odd = tmp_path / "a) b (c"
    odd.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(odd), "30"])
    try:
        for _ in range(100):  # until the exec has renamed it
            s = proc.stat(child.pid)
            if s is not None and s.comm == "a) b (c":
                break
            time.sleep(0.01)
        assert s.comm == "a) b (c" and s.pid == child.pid
        assert s.ppid == os.getpid() and s.state in "RSD"
        assert s.started == proc.stat(child.pid).started > 0
        assert proc.is_running(child.pid, s.started)
        assert not proc.is_running(child.pid, s.started + 1)  # a reused pid is another process
    finally:
        child.kill()
        child.wait()
    assert proc.stat(child.pid) is None and not proc.is_running(child.pid, s.started)


def test_an_exited_process_not_yet_waited_for_is_not_running():
    child = subprocess.Popen(["true"])
    while (s := proc.stat(child.pid)) is not None and s.state != "Z":
        time.sleep(0.01)
    assert s is not None and s.state == "Z"
    assert not proc.is_running(child.pid, s.started)
    child.wait()
