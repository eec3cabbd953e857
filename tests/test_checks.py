"""Checks that prove what their step claims: each one against the loophole an earlier,
looser version let through, and against the real thing, in a real lab host."""

import time

import pytest

from labsteps.talk.checks import container_running, named_netns
from labsteps.talk.inspect import LabView
from tests.conftest import sh

pytestmark = pytest.mark.root

PREPARE = "set -e\n" + """mkdir /tmp/container && tar xf /lab/images/vorlage.tar -C /tmp/container
mkdir /tmp/upper1 /tmp/work1 /tmp/runningcontainer1
mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper1,workdir=/tmp/work1 /tmp/runningcontainer1
mkdir -p /var/run/netns
"""
# The overlay step's web check, as 08-overlay.toml asks it.
WEB = {"root": "/tmp/runningcontainer1", "listens": 80}


def start(hosts, root: str, inside: str) -> LabView:
    """A container on root (its own pid, mount, uts, net and ipc namespaces) running inside,
    left running; returns a view once it is there."""
    before = len(LabView(hosts, "anna").containers())
    code, out = sh(hosts, f"unshare -p -f -m -u -n -i chroot {root} sh -c '{inside}' "
                          "</dev/null >/dev/null 2>&1 &")
    assert code == 0, out
    deadline = time.monotonic() + 10
    while len(LabView(hosts, "anna").containers()) <= before:
        assert time.monotonic() < deadline, "the container did not start"
        time.sleep(0.05)
    return LabView(hosts, "anna")


def until(check, *args, seconds: float = 10, **kwargs) -> bool:
    """check's answer once it is True, or after seconds (a daemon takes a moment to listen)."""
    deadline = time.monotonic() + seconds
    while not check(*args, **kwargs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return check(*args, **kwargs)


def stop_containers(hosts) -> None:
    for c in LabView(hosts, "anna").containers():
        sh(hosts, f"kill -9 {c.labpid}")
    deadline = time.monotonic() + 10
    while LabView(hosts, "anna").containers():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_web_container_check_wants_its_root_and_port_80(labhost):
    assert sh(labhost, PREPARE)[0] == 0
    # Any container passed before: one on the plain image, serving on port 80, did.
    view = start(labhost, "/tmp/container", "httpd -p 80 -h /var/www; exec sleep 600")
    assert until(container_running, view, listens=80)  # it does listen on 80
    assert container_running(view)  # the old check, without arguments
    assert not container_running(view, **WEB)  # but its / is not the overlay
    stop_containers(labhost)

    # On the overlay, but nothing listens on port 80: a shell, then a server on 8080.
    view = start(labhost, "/tmp/runningcontainer1", "exec sleep 600")
    assert not container_running(view, **WEB)
    stop_containers(labhost)
    view = start(labhost, "/tmp/runningcontainer1", "httpd -p 8080 -h /var/www; exec sleep 600")
    assert until(container_running, view, listens=8080)
    assert not container_running(view, **WEB)
    stop_containers(labhost)

    # The step's container: the first overlay as its /, its httpd on port 80.
    view = start(labhost, "/tmp/runningcontainer1",
                 "hostname www1; mount -t proc proc /proc; httpd -p 80 -h /var/www; "
                 "exec sleep 600")
    assert until(container_running, view, **WEB)
    code, out = sh(labhost, f"readlink /proc/{view.containers()[0].labpid}/root")
    assert out.strip() == "/tmp/runningcontainer1"  # what the check compared, seen inside


def test_the_named_netns_check_wants_a_running_containers_network(labhost):
    assert sh(labhost, PREPARE)[0] == 0
    view = start(labhost, "/tmp/runningcontainer1", "exec sleep 600")
    container = view.containers()[0].labpid
    assert not named_netns(view, "hallo")  # nothing named yet

    # A dangling link: the old check (test -e || test -L) passed it.
    sh(labhost, "ln -s /proc/999999/ns/net /var/run/netns/hallo")
    assert sh(labhost, "test -L /var/run/netns/hallo")[0] == 0
    assert not named_netns(view, "hallo")

    # A link that resolves, but to another namespace: the lab host's own network ...
    sh(labhost, "ln -sfn /proc/1/ns/net /var/run/netns/hallo")
    assert sh(labhost, "test -e /var/run/netns/hallo")[0] == 0
    assert not named_netns(view, "hallo")
    # ... or the network of a process that is no container (no pid namespace of its own).
    code, out = sh(labhost, """unshare -n sleep 600 </dev/null >/dev/null 2>&1 &
until [ "$(readlink /proc/$!/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
ln -sfn /proc/$!/ns/net /var/run/netns/hallo && readlink -f /var/run/netns/hallo""")
    assert code == 0, out
    assert not named_netns(view, "hallo")

    # The talk's link to the container's network; and the bind mount `ip netns add` makes.
    sh(labhost, f"ln -sfn /proc/{container}/ns/net /var/run/netns/hallo")
    assert named_netns(view, "hallo")
    code, out = sh(labhost, f"touch /var/run/netns/bind && "
                            f"mount --bind /proc/{container}/ns/net /var/run/netns/bind")
    assert code == 0, out
    assert named_netns(view, "bind")

    # The container ends: its link dangles, and the check says so.
    sh(labhost, "umount /var/run/netns/bind")
    stop_containers(labhost)
    assert not named_netns(LabView(labhost, "anna"), "hallo")
