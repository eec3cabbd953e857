"""The lab as a trainer without Docker runs it: Dockerfile.host built and run with podman.

The image is built from this checkout on a Debian 12 base made here with debootstrap (no
registry serves images on this network; the base is kept between runs, the image is rebuilt
on podman's layer cache) and run with the README's flags: --privileged --cgroupns=host, the
port on 127.0.0.1 only, the state on a volume. A browser on this machine then joins, types
into terminal 1 of its lab host, and the trainer's cleanup leaves nothing on the machine.
How the image is made and run: tests/container/podman.py.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import REQUIRE_ROOT
from tests.container import podman
from tests.wsclient import Term, join

pytestmark = [pytest.mark.root, pytest.mark.container]

TOKEN = "trainer-secret-for-container-tests"


@pytest.fixture(scope="module")
def image() -> str:
    """The nslab image of this checkout (a cold build takes minutes, a warm one seconds)."""
    if not podman.available():
        if REQUIRE_ROOT:
            pytest.fail("podman is not installed, and NSLAB_REQUIRE_ROOT=1 needs the container "
                        "test to run: apt-get install podman")
        pytest.skip("podman is not installed (apt-get install podman)")
    return podman.build(base=podman.ensure_base()).id


@pytest.fixture
def lab(image: str):
    running = podman.Lab.start(image, env={"NSLAB_WORKSHOP_CODE": "",
                                           "NSLAB_TRAINER_TOKEN": TOKEN})
    yield running
    running.remove()


def test_the_image_serves_the_lab_and_its_terminal_and_leaves_nothing_behind(lab):
    with urllib.request.urlopen(lab.url + "/healthz", timeout=10) as res:
        health = json.load(res)
    assert res.status == 200 and health["status"] == "ok", health

    # An attendee joins and types into terminal 1, as the page does: keys as binary frames.
    term = Term(lab.url, join(lab.url, "anna"), origin=lab.url)
    term.until("root@lab-", timeout=30)
    term.send("echo $((6*7))\r")
    term.until(b"42\r\n", timeout=30)  # the echoed line says 6*7; only the shell says 42
    assert "lab-anna" in term.run("hostname", timeout=30)
    term.close()

    # Their lab host, seen from the machine: its cgroups and processes.
    cgroups = lab.labhost_cgroups()
    assert cgroups, "no lab host cgroups found on the machine"
    processes = podman.processes_in(cgroups)
    assert processes, f"no processes in {cgroups}"

    # The end of the course: the lab hosts are ended, then the container and its volume.
    assert "destroyed" in lab.destroy_labhosts()
    lab.remove()
    assert [str(c) for c in cgroups if c.exists()] == []
    assert podman.still_running(processes) == []
