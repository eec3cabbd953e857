"""The talk's kernel operations in a lab host on a cgroup-v2-only kernel, in a VM.

The machines nslab is developed on have cgroup v1; this runs nslab's own LabHosts code in a
qemu guest booted with cgroup_no_v1=all (see tests/vm/cgroup2_vm.py), so the v2 paths of
labsteps/sandbox/cgroup.py and labsteps/sandbox/mounts.py run for real. The guest program prints each
step's exit status and output between markers; the asserts are made here, on the host.
The second test runs the project's lab host test files unchanged with pytest in the VM.
"""

from __future__ import annotations

import json
import re
import shlex
import sys

import pytest

from tests.test_talk_kernel import EXTRACT, TWO_OVERLAYS, VETH
from tests.vm import cgroup2_vm

pytestmark = [pytest.mark.root, pytest.mark.vm]

# Runs in the guest, as real root, with the repository as its working directory.
GUEST = r'''
import json, os, sys, tempfile, traceback
from pathlib import Path

from labsteps.sandbox import cgroup
from labsteps.config import Config
from labsteps.sandbox.labhost import LabHosts
from tests.conftest import traces


def step(name, code, out):
    print(f"@@BEGIN {name}")
    print(out.decode(errors="replace") if isinstance(out, bytes) else out, end="")
    print(f"\n@@END {name} {code}", flush=True)


def guarded(name, fn):
    try:
        return fn()
    except BaseException:
        step(name, "error", traceback.format_exc())
        return None


layout = cgroup.detect()
step("detect", 0, layout.version)
config = Config.from_env(env={}, state_dir=Path(tempfile.mkdtemp()) / "state",
                         lib_dir=Path(os.environ.get("NSLAB_LIB_DIR", "/usr/local/lib/nslab")))
hosts = LabHosts(config)
host = guarded("create", lambda: hosts.create("anna"))
if host is not None:
    step("create", 0, json.dumps({"slot": host.slot, "uid": host.uid, "pid": host.pid}))
    top = Path("/sys/fs/cgroup/nslab") / f"s{host.slot}"
    step("limits", 0, "".join(f"{f} {(top / f).read_text()}" for f in
                              ("pids.max", "memory.max", "cgroup.subtree_control",
                               "lab/cgroup.subtree_control", "lab/init/cgroup.procs"))
         + f"LabHosts.memory {hosts.memory(host)}\n")
    for name, script, timeout in json.loads(sys.stdin.read()):
        guarded(name, lambda: step(name, *hosts.run("anna", script, timeout=timeout)))
    guarded("destroy", lambda: step("destroy", 0, hosts.destroy("anna") or ""))
    left = traces(hosts, host)
    left += [f"cgroup {p}" for p in Path("/sys/fs/cgroup/nslab").glob("**/")]
    step("traces", 0, "\n".join(left))
'''

STEPS = [
    ("whoami", "id -u; hostname; cat /proc/self/cgroup; "
               "cat /sys/fs/cgroup/cgroup.controllers; ls -ld /sys/fs/cgroup", 30),
    ("extract", EXTRACT, 60),
    ("ps", "unshare -p -f -m -u -n -i chroot /tmp/container "
           "sh -c 'mount -t proc proc /proc; ps ax'", 30),
    ("overlay", TWO_OVERLAYS, 30),
    # The talk's v2 commands, literally.
    ("pids", """mkdir /sys/fs/cgroup/lala
echo 5 > /sys/fs/cgroup/lala/pids.max
bash -c 'echo $$ > /sys/fs/cgroup/lala/cgroup.procs; for i in 1 2 3 4 5 6; do sleep 3 & done; wait' 2>&1
echo "pids.events: $(cat /sys/fs/cgroup/lala/pids.events)"
""", 90),
    # The limits sit on the parent of the lab host's cgroup namespace root: out of reach.
    ("limits-locked", "echo max > /sys/fs/cgroup/pids.max; echo status $?; "
                      "cat /sys/fs/cgroup/pids.max", 30),
    ("veth", VETH + "ping -c 1 -W 5 172.40.1.1\nkill %1", 60),
    # Left running on purpose: destroy must end it.
    ("leave-running", "setsid sleep 600 >/dev/null 2>&1 & mkdir /sys/fs/cgroup/lala/sub && "
                      "echo $! > /sys/fs/cgroup/lala/sub/cgroup.procs && cat /proc/$!/cgroup",
     30),
]


# Terminal escape sequences (OSC, such as the shell integration marks of the lab host's bash).
OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def parse(output: str) -> dict[str, tuple[str, str]]:
    """{step: (exit status, output)} from the guest's markers."""
    found = {}
    output = OSC.sub("", output)
    for m in re.finditer(r"^@@BEGIN (\S+)\n(.*?)\n@@END \1 (\S+)$", output, re.S | re.M):
        found[m.group(1)] = (m.group(3), m.group(2))
    return found


@pytest.fixture(scope="module")
def guest() -> tuple[dict[str, tuple[str, str]], str]:
    reason = cgroup2_vm.unavailable_reason()
    if reason:
        pytest.skip(f"cgroup v2 VM: {reason}")
    script = (f"{shlex.quote(sys.executable)} -c {shlex.quote(GUEST)} "
              f"<<'NSLAB_STEPS'\n{json.dumps(STEPS)}\nNSLAB_STEPS")
    code, output = cgroup2_vm.run_in_v2_vm(script, timeout=600)
    return parse(output), f"exit status {code}, guest output:\n{output}"


def test_lab_host_on_cgroup_v2_runs_the_talk(guest):
    steps, log = guest

    def ok(name: str) -> str:
        assert name in steps, f"no step {name}: {log}"
        code, out = steps[name]
        assert code == "0", f"step {name} exited {code}:\n{out}\n\n{log}"
        return out

    assert ok("detect") == "v2", log
    ok("create")
    limits = ok("limits")
    assert "pids.max 512" in limits and f"memory.max {512 << 20}" in limits, limits
    assert "pids" in limits.split("lab/cgroup.subtree_control")[1].split("\n")[0], limits
    assert int(limits.split("LabHosts.memory ")[1].split()[0]) > 0, limits

    uid, hostname, cg, controllers, *_ = ok("whoami").splitlines()
    assert (uid, hostname, cg) == ("0", "lab-anna", "0::/init")
    assert {"pids", "memory"} <= set(controllers.split())

    ok("extract")
    rows = [r for r in ok("ps").splitlines()[1:] if r.strip()]
    assert rows and len(rows) <= 3 and rows[0].split()[0] == "1", rows

    one, two, lower, upper1 = (part.split() for part in ok("overlay").split("--"))
    assert one == ["nur-in-1"] and two == ["nur-in-2"] and lower == [] and upper1 == ["nur-in-1"]

    pids = ok("pids")
    assert "Resource temporarily unavailable" in pids, pids
    events = re.search(r"pids.events: max (\d+)", pids)
    assert events and int(events.group(1)) > 0, pids

    locked = ok("limits-locked")
    assert "status 1" in locked, locked
    assert "Permission denied" in locked or "Operation not permitted" in locked, locked

    veth = ok("veth")
    assert " 0% packet loss" in veth, veth

    assert ok("leave-running").strip() == "0::/lala/sub"
    ok("destroy")
    assert ok("traces").strip() == "", "left after destroy:\n" + steps["traces"][1]


# The project's own lab host tests, run unchanged by pytest inside the VM.
SUITES = ("tests/test_talk_kernel.py", "tests/test_isolation.py", "tests/test_destroy.py",
          "tests/test_kernel_model.py", "tests/test_deeper.py")


def test_lab_host_suites_pass_on_cgroup_v2():
    reason = cgroup2_vm.unavailable_reason()
    if reason:
        pytest.skip(f"cgroup v2 VM: {reason}")
    script = (f"{shlex.quote(sys.executable)} -m pytest -q -rfE -p no:cacheprovider "
              f"{' '.join(SUITES)}")
    code, output = cgroup2_vm.run_in_v2_vm(script, timeout=900,
                                           env={"NSLAB_REQUIRE_ROOT": "1"})
    output = OSC.sub("", output)
    assert code == 0, output[-8000:]
    assert re.search(r"^\d+ passed", output, re.M), output[-8000:]
