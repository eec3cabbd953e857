"""The trainer's CLI: nslab sandbox create / exec / list / destroy, and nslab doctor."""

import os
import subprocess
import sys

import pytest

from labsteps.config import Config
from labsteps.sandbox import doctor
from tests.conftest import ROOT


@pytest.fixture
def nslab(config):
    env = {**os.environ, "NSLAB_STATE_DIR": str(config.state_dir),
           "NSLAB_LIB_DIR": str(config.lib_dir)}

    def run(*args, check=True):
        res = subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        if check:
            assert res.returncode == 0, res.stderr
        return res

    yield run
    run("sandbox", "destroy", "--all", check=False)


@pytest.mark.root
def test_sandbox_lifecycle(nslab):
    assert "hostname lab-kurs1" in nslab("sandbox", "create", "kurs1").stdout
    assert "kurs1\tlab-kurs1\trunning" in nslab("sandbox", "list").stdout
    res = nslab("sandbox", "exec", "kurs1", "--", "sh", "-c", "echo $(id -u)@$(hostname); exit 7",
                check=False)
    assert res.returncode == 7 and res.stdout == "0@lab-kurs1\n"
    assert nslab("sandbox", "exec", "kurs1", "--", "echo", "a b; c").stdout == "a b; c\n"
    assert "destroyed kurs1" in nslab("sandbox", "destroy", "kurs1").stdout
    assert nslab("sandbox", "list").stdout == ""


@pytest.mark.root
def test_errors_are_one_clear_line(nslab):
    res = nslab("sandbox", "exec", "nobody", "--", "true", check=False)
    assert res.returncode == 2 and res.stderr == "nslab: no lab host named 'nobody'\n"
    res = nslab("sandbox", "create", "Bad Name", check=False)
    assert res.returncode == 2 and "bad lab host name" in res.stderr
    res = nslab("sandbox", "destroy", check=False)
    assert res.returncode == 2 and "--all" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.root
def test_doctor_counts_lab_hosts_without_a_server(nslab):
    assert "[ok  ] lab hosts left: none without their server" in \
        nslab("doctor", "--no-probe").stdout
    nslab("sandbox", "create", "verwaist")  # the CLI exits: the lab host has no server now
    assert "1 lab host(s) run without a server" in nslab("doctor", "--no-probe").stdout


@pytest.mark.root
def test_doctor_passes_here_with_a_real_probe(nslab):
    out = nslab("doctor").stdout
    assert "[ok  ] probe:" in out and "this machine can run nslab" in out
    assert "[ok  ] nested user namespaces:" in out  # a lab host's root can make one here
    assert "[ok  ] nf_tables:" in out and "[ok  ] tools: all present" in out
    assert "FAIL" not in out


def test_doctor_says_what_apparmor_does_to_a_user_namespace_inside_a_lab_host(tmp_path):
    """Ubuntu 24.04's restriction, with a named fake of its sysctl (no Ubuntu here)."""
    fake_sysctl = tmp_path / "apparmor_restrict_unprivileged_userns"
    fake_sysctl.write_text("1\n")
    found = doctor.nested_userns(works=False, sysctl=fake_sysctl)
    assert not found.ok and "apparmor_restrict_unprivileged_userns=1" in found.detail
    assert "Operation not permitted" in found.detail and "sysctl -w" in found.fix
    fake_sysctl.write_text("0\n")
    assert "AppArmor" not in doctor.nested_userns(works=False, sysctl=fake_sysctl).detail
    assert doctor.nested_userns(works=True, sysctl=fake_sysctl).ok


def test_doctor_names_a_missing_tool_with_its_package(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda cmd: None if cmd == "nft" else "/x")
    tools = doctor._tools()[0]
    assert not tools.ok and "nftables" in tools.detail and tools.fix == "apt-get install nftables"


def test_doctor_names_the_fix(nslab, tmp_path):
    env_lib = tmp_path / "empty-lib"
    env_lib.mkdir()
    res = subprocess.run([sys.executable, "-m", "web.cli", "doctor", "--no-probe"], cwd=ROOT,
                         env={**os.environ, "NSLAB_LIB_DIR": str(env_lib),
                              "NSLAB_STATE_DIR": str(tmp_path / "s")},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "[FAIL] vorlage.tar" in res.stdout and "fix: make install" in res.stdout


def test_doctor_names_a_missing_kernel_feature_with_its_fix(monkeypatch, tmp_path):
    """A kernel without nf_tables (a named fake: this one has it built in)."""
    monkeypatch.setattr(doctor.features, "available", lambda name, off=(): False)
    config = Config.from_env(env={}, state_dir=tmp_path)
    found = {f.name: f for f in doctor._features(config)}["nf_tables"]
    assert "never loads it itself" in found.detail
    assert "NSLAB_LOAD_MODULES=nf_tables" in found.fix and "security" in found.fix
