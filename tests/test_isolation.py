"""Lab hosts are isolated: from the real host, from each other, and from their own limits."""

import os
import socket
import subprocess
import threading

import pytest

from tests.conftest import sh
from tests.test_talk_kernel import EXTRACT, VETH

pytestmark = pytest.mark.root

WALKTHROUGH = EXTRACT + """
set -e
mkdir /tmp/upper1 /tmp/work1 /tmp/runningcontainer1
mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper1,workdir=/tmp/work1 /tmp/runningcontainer1
hostname > /tmp/runningcontainer1/srv/wer
""" + VETH + """ping -c 1 -W 2 172.40.1.1 >/dev/null
echo "ping ok"
cat /tmp/runningcontainer1/srv/wer
ls /tmp
kill %1
"""


def test_two_lab_hosts_run_the_talk_at_once_with_the_same_names(hosts):
    hosts.create("anna")
    hosts.create("bert")
    results = {}

    def walk(name):
        results[name] = sh(hosts, WALKTHROUGH, name=name, timeout=60)

    threads = [threading.Thread(target=walk, args=(n,)) for n in ("anna", "bert")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("anna", "bert"):
        code, out = results[name]
        assert code == 0, out
        assert "ping ok" in out and f"lab-{name}" in out
    a, b = hosts.get("anna"), hosts.get("bert")
    assert a.uid != b.uid and a.slot != b.slot


def test_lab_hosts_do_not_see_each_other(hosts):
    hosts.create("anna")
    hosts.create("bert")
    sh(hosts, "touch /tmp/von-anna; sleep 300 & echo started", name="anna")
    code, out = sh(hosts, "ls /tmp; pgrep -c -x sleep; ip -o link | wc -l", name="bert")
    assert "von-anna" not in out
    assert out.split()[-2:] == ["0", "1"]  # no sleep; only lo


def test_another_nslab_with_another_state_folder_gets_other_ids(hosts, config, tmp_path):
    from dataclasses import replace

    from labsteps.sandbox.labhost import LabHosts

    other = LabHosts(replace(config, state_dir=tmp_path / "other-state"))
    try:
        mine = hosts.create("anna")
        theirs = other.create("anna")
        assert mine.uid != theirs.uid
        assert sh(other, "hostname")[1].strip() == "lab-anna"
    finally:
        other.sweep()


def test_host_files_are_read_only_and_hidden(labhost):
    code, out = sh(labhost, """
for f in /usr/bin/nslab-was-here /etc/nslab-was-here; do
  touch $f 2>/dev/null && echo "WROTE $f"; done
mount -o remount,rw /lab/images/vorlage.tar 2>/dev/null
echo x >> /lab/images/vorlage.tar 2>/dev/null && echo "WROTE image"
echo x >> /etc/passwd 2>/dev/null && echo "WROTE passwd"
mount -o remount,rw /usr 2>/dev/null; touch /usr/bin/nslab-was-here 2>/dev/null && echo WROTE-RW
umount /etc 2>/dev/null; ls /etc | wc -l
ls / ; test -e /work && echo "SEES /work"; test -e /var/lib/nslab && echo "SEES state"
""")
    assert "WROTE" not in out and "SEES" not in out, out
    assert not os.path.exists("/usr/bin/nslab-was-here")
    assert not os.path.exists("/etc/nslab-was-here")


def test_host_disks_cannot_be_mounted(labhost):
    code, out = sh(labhost, "mknod /tmp/disk b 254 0 && echo MKNOD; "
                            "mount /dev/vda /mnt 2>&1 && echo MOUNTED; "
                            "mount -t ext4 /tmp/disk /mnt 2>&1 && echo MOUNTED")
    assert "MKNOD" not in out and "MOUNTED" not in out, out


def test_host_processes_are_invisible_and_unreachable(labhost):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        code, out = sh(labhost, f"ps ax | wc -l; kill -0 {sleeper.pid} 2>&1; echo kill=$?; "
                                "cat /proc/1/comm; nsenter -t 1 -m -p true && echo own-init")
        lines = out.split("\n")
        assert int(lines[0]) < 8, out  # header, init, bash, ps, wc
        assert "kill=1" in out and "nslab-init" in out
        assert sleeper.poll() is None
    finally:
        sleeper.kill()


def test_host_loopback_services_are_unreachable(labhost):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        code, out = sh(labhost, f"timeout 3 bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' "
                                "2>&1; echo rc=$?")
        assert "rc=0" not in out
        srv.settimeout(0.2)
        with pytest.raises(TimeoutError):
            srv.accept()


def test_limits_cannot_be_raised_from_inside(labhost):
    v1 = labhost.layout.version == "v1"
    pids = "/sys/fs/cgroup/pids/pids.max" if v1 else "/sys/fs/cgroup/pids.max"
    code, out = sh(labhost, f"echo max > {pids} 2>&1 && echo RAISED; "
                            "ls /sys/fs/cgroup/../../.. >/dev/null; "
                            f"cat /sys/fs/cgroup/{'pids/' if v1 else ''}cgroup.procs | wc -l")
    assert "RAISED" not in out, out
    # The limit itself sits on the parent, which is not even visible inside.
    cg = labhost.cgroup_of(labhost.get("anna"))
    assert int((cg.dirs()[0] / "pids.max").read_text()) == labhost.config.pids_max


def test_a_fork_bomb_is_held_by_the_pids_limit_and_destroy_ends_it(labhost):
    code, out = sh(labhost, "bomb() { bomb | bomb & }; (bomb) 2>/dev/null & sleep 2; echo alive",
                   timeout=30)
    host = labhost.get("anna")
    cg = labhost.cgroup_of(host)
    assert int((cg.dirs()[0] / "pids.current").read_text()) <= labhost.config.pids_max
    labhost.destroy("anna")
    assert not labhost.cgroup_of(host).exists()
