"""The vorlage template image: busybox, the web page, and deliberately no zsh."""

import tarfile

import pytest

from labsteps.sandbox.image import build


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = build(tmp_path_factory.mktemp("img") / "vorlage.tar")
    with tarfile.open(path) as tar:
        yield {m.name: m for m in tar.getmembers()}, tar


def test_has_the_applets_the_talk_uses(image):
    members, _ = image
    for applet in ("bin/sh", "bin/mount", "bin/hostname", "usr/sbin/httpd", "usr/bin/wget",
                   "sbin/ip", "bin/ping", "usr/bin/top", "bin/ps"):
        assert applet in members, applet
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode & 0o111


def test_has_no_zsh_and_empty_mount_points(image):
    members, _ = image
    assert not any(name.endswith("zsh") for name in members)
    for d in ("proc", "sys", "dev", "tmp"):
        assert members[d].isdir()
    assert not any(n.startswith("proc/") for n in members)
    assert members["tmp"].mode == 0o1777


def test_etc_and_the_hostname_page(image):
    members, tar = image
    for f in ("etc/passwd", "etc/group", "etc/hostname", "etc/os-release"):
        assert members[f].isfile()
    assert tar.extractfile("etc/passwd").read().startswith(b"root:x:0:0:")
    page = tar.extractfile("var/www/cgi-bin/index.cgi").read().decode()
    assert "$(hostname)" in page and members["var/www/cgi-bin/index.cgi"].mode & 0o111
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
