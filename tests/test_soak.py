"""A short soak (bench/soak.py runs the long one): groups in a row leave nothing behind."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.root


def test_three_groups_in_a_row_leak_nothing():
    res = subprocess.run([sys.executable, "bench/soak.py", "--cycles", "3", "--attendees", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "leaks 0," in res.stdout and "verdict: OK" in res.stdout, res.stdout
