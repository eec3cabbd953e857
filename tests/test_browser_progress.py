"""Long waits are visible in a real browser: a Run queued behind someone's Catch-up says its
place, and a Catch-up says which step and block it is at, with a bar, in the page's language
(after a reload in the middle of it too); both go once the work is done.

Screenshots stay in .artifacts/ at the top of the repository (ignored by git) after the run.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.apiclient import Api
from tests.test_browser import WAIT_MS, browser, expect, tab  # noqa: F401 (fixtures)
from tests.test_browser_kernel import artifact

pytestmark = [pytest.mark.root, pytest.mark.browser]
LONG = "your-own-run"  # the last step: its Catch-up runs every block of the lab, some 15 s
CATCHUP_MS = 120_000  # how long a Catch-up may take on a busy machine


@pytest.fixture
def one_at_a_time(server_env):
    """One Run, Check or Catch-up at work at once (listed before `server`)."""
    server_env["NSLAB_BATCH_AT_ONCE"] = "1"


def test_a_queued_run_and_a_catchup_show_where_they_are(one_at_a_time, server,
                                                        tab):  # noqa: F811 (a fixture)
    page = tab.page
    page.on("dialog", lambda d: d.accept())  # Catch-up asks first
    tab.join(server, "Anna")
    page.wait_for_url(server + "/step/intro")
    page.goto(server + "/step/intro?lang=de")
    tab.wait_prompt()
    box = page.locator("#progress")
    assert box.get_attribute("role") == "status" and box.get_attribute("aria-live") == "polite"
    expect(box).to_be_empty()

    # Ben's Catch-up holds the one turn; Anna's Run waits behind it, and says so.
    ben = Api.joined(server, "Ben")
    threading.Thread(target=lambda: ben.post(f"/api/steps/{LONG}/solve"), daemon=True).start()
    until_working(ben)
    figure = page.locator('figure.block[data-block="0"]')
    figure.locator("button.run").click()
    expect(box).to_have_text("Wartet: Platz 1 in der Schlange")
    expect(figure.locator("output.result")).to_have_text("Wartet: Platz 1 in der Schlange")
    artifact(page, "progress-queued-de.png")
    # Ben's Catch-up done, Anna's Run has its turn: the result, and the line is gone.
    expect(figure.locator("output.result.ok")).to_have_text("Exit-Status 0", timeout=CATCHUP_MS)
    expect(box).to_be_empty()

    # Anna's own Catch-up: step k of n, block i of m, the step's title, a bar.
    page.goto(server + f"/step/{LONG}")
    tab.wait_prompt()
    page.click("#solve")
    at = re.compile(r"^Schritt (\d+) von 17 · Block \d+ von \d+: \S")
    expect(box.locator(".progress-text")).to_have_text(at)
    bar = box.locator("progress")
    expect(bar).to_be_visible()
    assert 0 <= float(bar.get_attribute("value") or 0) < float(bar.get_attribute("max"))
    artifact(page, "progress-catchup-de.png")

    # Reloaded in English in the middle of it: the page asks where it is, and says it in English.
    page.goto(server + f"/step/{LONG}?lang=en")
    expect(box.locator(".progress-text")).to_have_text(
        re.compile(r"^Step (\d+) of 17 · Block \d+ of \d+: \S"))
    expect(bar).to_be_visible()
    assert "Schritt" not in box.inner_text()
    artifact(page, "progress-catchup-en.png")
    expect(box).to_be_empty(timeout=CATCHUP_MS)  # done: gone (this page did not ask for it)
    assert not tab.errors, tab.errors


def until_working(api: Api) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while api.get("/api/me/progress")[1].get("state") != "working":
        assert time.monotonic() < deadline, "Ben's Catch-up did not start"
        time.sleep(0.05)
