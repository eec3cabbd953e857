"""Fixtures, from the bottom up: config -> hosts -> lab host; config -> app -> client; server.

Tests marked ``root`` need real root (namespaces, cgroups). Without it they skip, except
when NSLAB_REQUIRE_ROOT=1 (CI): then every skip is a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labsteps.config import Config
from labsteps.sandbox.labhost import LabHosts

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "trainer-secret-for-tests"  # the trainer token of every test lab
REQUIRE_ROOT = os.environ.get("NSLAB_REQUIRE_ROOT") == "1"
IS_ROOT = os.geteuid() == 0


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") and not IS_ROOT:
        pytest.skip("needs root: run `make test` as root")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ROOT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under NSLAB_REQUIRE_ROOT=1, which forbids skips: " \
                          f"{report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}"


@pytest.fixture(scope="session")
def lib_dir() -> Path:
    """The installed vorlage.tar and nslab-init (make install puts them there)."""
    path = Path(os.environ.get("NSLAB_LIB_DIR", "/usr/local/lib/nslab"))
    missing = [p for p in ("vorlage.tar", "nslab-init")
               if not (path / p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in {path}: run `make install` first")
    return path


@pytest.fixture
def config(tmp_path: Path, lib_dir: Path) -> Config:
    return Config.from_env(env={}, state_dir=tmp_path / "state", lib_dir=lib_dir,
                           trainer_token=TOKEN)


@pytest.fixture
def hosts(config: Config):
    """This test's lab hosts; whatever it leaves is destroyed, and must go without a trace."""
    manager = LabHosts(config)
    yield manager
    manager.sweep()
    manager.close()


@pytest.fixture
def labhost(hosts: LabHosts):
    """A fresh lab host, root inside: (manager, name)."""
    hosts.create("anna")
    return hosts


def sh(hosts: LabHosts, script: str, name: str = "anna", timeout: float = 30):
    """Run script in the lab host; (exit status, output as text)."""
    code, out = hosts.run(name, script, timeout=timeout)
    return code, out.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(str):
    """The base URL of a running server (so it can be used as one), with its processes."""

    proc: subprocess.Popen
    env: dict

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve"], cwd=ROOT,
                                     env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60  # the start sweeps what a crash left
        while True:
            try:
                urllib.request.urlopen(self + "/healthz", timeout=1)
                return
            except OSError as e:
                if getattr(e, "code", None) == 503:
                    return
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail("server did not start:\n" + self.proc.stdout.read().decode())
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if kill:  # a crash: SIGKILL to the worker (which holds the lab) and the master
            try:
                os.kill(self.worker_pid(), 9)
            except (OSError, IndexError, ValueError):
                pass
            self.proc.kill()
            self.proc.wait()
            # The master may have forked a new worker between the two kills; left alone, it
            # would answer the next start's health check with the old lab.
            for pid in self.processes():
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        else:
            self.proc.terminate()
        try:
            self.proc.wait(30)  # gunicorn gives its threads 10 s, then the lab sweeps
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def processes(self) -> list[int]:
        """Every process of this server (master, workers), found by its port in its environ."""
        mine = f"NSLAB_PORT={self.env['NSLAB_PORT']}".encode()
        found = []
        for entry in os.scandir("/proc"):
            try:
                if entry.name.isdigit() and mine in Path(entry.path, "environ").read_bytes() \
                        .split(b"\0") and b"web.cli" in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def rss(self) -> int:
        """Resident memory of the worker process, bytes."""
        for line in Path(f"/proc/{self.worker_pid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


@pytest.fixture
def server_env(config: Config) -> dict:
    """The environment `nslab serve` starts with; a test may change it first."""
    return {**os.environ, "NSLAB_STATE_DIR": str(config.state_dir),
            "NSLAB_LIB_DIR": str(config.lib_dir), "NSLAB_PORT": str(free_port()),
            "NSLAB_TRAINER_TOKEN": config.trainer_token, "NSLAB_WS_PING": "5",
            "NSLAB_WORKSHOP_CODE": ""}


@pytest.fixture
def server(config: Config, server_env: dict):
    """A real `nslab serve` on 127.0.0.1 with this test's state folder; yields its base URL."""
    running = Server(f"http://127.0.0.1:{server_env['NSLAB_PORT']}")
    running.env = server_env
    running.start()
    yield running
    running.stop()
    LabHosts(config).sweep()


def traces(hosts: LabHosts, host) -> list[str]:
    """What is left on the real host of a lab host: must be nothing after destroy.

    Processes and cgroups as LabHosts.leftovers finds them (an exited process, whose pid
    the host's init reaps in its own time after a crash of the server, holds nothing; a
    slot that a new lab host took meanwhile is not a leftover); plus mounts in the host's
    table and interfaces on the host, which must never appear at all."""
    left = hosts.leftovers(host)
    mounts = Path("/proc/self/mountinfo").read_text()
    left += [f"mount {line}" for line in mounts.splitlines() if "nslab" in line or "/lab/" in line]
    left += [f"interface {n}" for n in ("hostende", "containerende")
             if Path("/sys/class/net", n).exists()]
    return left
