"""The talk's kernel operations, run literally in a fresh lab host, as an attendee would."""

import pytest

from tests.conftest import sh

pytestmark = pytest.mark.root

EXTRACT = "mkdir /tmp/container && tar xf /lab/images/vorlage.tar -C /tmp/container"
# The talk's two overlay mounts, a write in each, and who sees what (four parts split by --).
TWO_OVERLAYS = "set -e\n" + """mkdir /tmp/upper1 /tmp/work1 /tmp/runningcontainer1
mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper1,workdir=/tmp/work1 /tmp/runningcontainer1
mkdir /tmp/upper2 /tmp/work2 /tmp/runningcontainer2
mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper2,workdir=/tmp/work2 /tmp/runningcontainer2
echo eins > /tmp/runningcontainer1/srv/nur-in-1
echo zwei > /tmp/runningcontainer2/srv/nur-in-2
ls /tmp/runningcontainer1/srv; echo --; ls /tmp/runningcontainer2/srv; echo --
ls /tmp/container/srv; echo --; ls /tmp/upper1/srv"""
# The talk's network namespace by hand: a sleeping process's net namespace named hallo,
# a veth pair into it, addresses on both ends. The caller pings, then ends it with kill %1.
VETH = "set -e\n" + """unshare -n sleep 60 &
# the symlink must not catch the namespace it is leaving
until [ "$(readlink /proc/$!/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
mkdir /var/run/netns
ln -s /proc/$!/ns/net /var/run/netns/hallo
ip link add hostende type veth peer name containerende
ip link set containerende netns hallo
ip netns exec hallo ip link set containerende up
ip netns exec hallo ip a add 172.40.1.1/26 dev containerende
ip link set hostende up
ip a add 172.40.1.2/26 dev hostende
"""


def test_attendee_is_root_on_a_host_of_their_own(labhost):
    code, out = sh(labhost, "id -u; hostname; ip -o link | wc -l; cat /proc/self/cgroup")
    assert code == 0
    uid, hostname, links, *_ = out.split()
    assert (uid, hostname, links) == ("0", "lab-anna", "1")  # only lo


def test_chroot_into_the_template_and_zsh_is_missing(labhost):
    assert sh(labhost, EXTRACT)[0] == 0
    code, out = sh(labhost, "chroot /tmp/container zsh")
    assert code == 127 and "zsh" in out and "No such file" in out
    code, out = sh(labhost, "chroot /tmp/container cat /etc/os-release")
    assert code == 0 and "nslab vorlage" in out


def test_namespaces_hups_then_proc(labhost):
    sh(labhost, EXTRACT)
    code, out = sh(labhost, "readlink /proc/self/ns/*")
    assert code == 0 and "pid:[" in out and "user:[" in out
    # The "Hups": a new pid namespace, but /proc in the template is empty.
    code, out = sh(labhost, "unshare -p -f -m -u -n -i chroot /tmp/container ps ax")
    assert code == 1 and "mount -t proc proc /proc" in out
    code, out = sh(labhost, "unshare -p -f -m -u -n -i chroot /tmp/container "
                            "sh -c 'mount -t proc proc /proc && ps ax'")
    assert code == 0
    rows = [r for r in out.splitlines()[1:] if r.strip()]
    assert len(rows) <= 3 and rows[0].split()[0] == "1"
    # The mount happened in the new mount namespace: the lab host sees an empty dir.
    assert sh(labhost, "ls -A /tmp/container/proc") == (0, "")


def test_proc_mount_is_invisible_to_the_lab_host_while_the_container_runs(labhost):
    sh(labhost, EXTRACT)
    script = ("unshare -p -f -m -u -n -i chroot /tmp/container "
              "sh -c 'mount -t proc proc /proc; touch /tmp/mounted; sleep 5' & "
              "until [ -e /tmp/container/tmp/mounted ]; do sleep 0.05; done; "
              "ls -A /tmp/container/proc | wc -l; grep -c container/proc /proc/self/mountinfo; "
              "kill %1")
    code, out = sh(labhost, script)
    assert out.split() == ["0", "0"]


def test_two_overlay_mounts_keep_their_own_writes(labhost):
    sh(labhost, EXTRACT)
    code, out = sh(labhost, TWO_OVERLAYS)
    assert code == 0, out
    one, two, lower, upper1 = (part.split() for part in out.split("--"))
    assert one == ["nur-in-1"] and two == ["nur-in-2"] and lower == []
    assert upper1 == ["nur-in-1"]


def test_pids_cgroup_stops_the_sixth_process(labhost):
    layout = labhost.layout.version
    group = "/sys/fs/cgroup/pids/lala" if layout == "v1" else "/sys/fs/cgroup/lala"
    join = "tasks" if layout == "v1" else "cgroup.procs"
    code, out = sh(labhost, f"""
mkdir {group}
echo 5 >{group}/pids.max
bash -c 'echo $$ >{group}/{join}; for i in 1 2 3 4 5 6; do sleep 3 & done; wait' 2>&1
cat {group}/pids.events""", timeout=60)
    assert "fork: retry: Resource temporarily unavailable" in out or \
        "Resource temporarily unavailable" in out, out
    assert "max 0" not in out


def test_veth_and_netns_answer_ping(labhost):
    code, out = sh(labhost, VETH + "ip netns exec hallo ip a s\nping -c 2 -W 2 172.40.1.1\n"
                   "kill %1", timeout=60)
    assert code == 0, out
    assert " 0% packet loss" in out


def test_ip_netns_add_works_as_well(labhost):
    code, out = sh(labhost, "ip netns add hallo && ip netns exec hallo ip -o link && "
                            "ip netns list")
    assert code == 0, out
    assert "lo" in out and "hallo" in out
