"""The kernel picture in a real browser: it follows the talk live, on the attendee's page and
in the trainer's watch view, and whatever the attendee names is drawn as text.

Screenshots stay in .artifacts/ at the top of the repository (ignored by git) after the run.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, TOKEN
from tests.test_browser import Page, browser, expect, tab  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.root, pytest.mark.browser]
ARTIFACTS = ROOT / ".artifacts"
PICTURE_MS = 10_000  # how long a test waits for the picture (the bench says how fast it is)
EVIL = "<img src=x onerror=alert(1)>"


def artifact(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def cookie_of(page, base: str) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies(base))


def run_steps(base: str, cookie: str, steps: list[str]) -> None:
    """Press Run on every block of steps, through the API (the page shows it happen)."""
    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method, headers={
            "Cookie": cookie, "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=300) as res:
            return json.load(res)

    for step in steps:
        for block in call("GET", f"/api/steps/{step}")["blocks"]:
            if block["runnable"]:
                call("POST", f"/api/steps/{step}/run", {"block": block["index"]})


def svg_text(page, selector: str) -> str:
    return page.eval_on_selector(selector, "el => el.textContent")


def wait_picture(page, selector: str, needles: list[str]) -> str:
    """The picture's SVG text once every needle is in it (PICTURE_MS at most)."""
    page.wait_for_function(
        """([sel, needles]) => { const s = document.querySelector(sel);
             return s && needles.every(n => s.textContent.includes(n)); }""",
        arg=[f"{selector} svg.kp-svg", needles], timeout=PICTURE_MS)
    return svg_text(page, f"{selector} svg.kp-svg")


def open_console(browser, base: str, lang: str = "de") -> Page:  # noqa: F811 (a fixture)
    """The trainer's console in lang (the browser's own wish is English)."""
    trainer = Page(browser)
    trainer.page.goto(base + "/trainer/login")
    trainer.page.fill("input[name=token]", TOKEN)
    trainer.page.click("form button[type=submit], form input[type=submit]")
    trainer.page.wait_for_url(base + "/trainer")
    trainer.page.goto(f"{base}/trainer?lang={lang}")
    return trainer


def watch(trainer: Page, name: str) -> None:
    row = trainer.page.locator("#rows tr", has_text=name)
    row.locator("button", has_text="T1").click()
    trainer.page.wait_for_selector("#watch:not([hidden]) #watch-kernel svg.kp-svg")


NETWORK = ["hallo", "containerende", "hostende", "172.40.1.1/26", "172.40.1.2/26"]


def test_the_network_step_draws_both_namespaces_and_the_cable(server, browser, tab):  # noqa: F811
    page = tab.page
    tab.join(server, "Anna")
    page.wait_for_url(server + "/step/intro")
    page.goto(server + "/step/network?lang=en")
    tab.wait_prompt()
    expect_view = page.locator("#kernel .kp-tab[aria-selected=true]")
    assert expect_view.inner_text().strip() == "Network"  # the step names its view
    run_steps(server, cookie_of(page, server),
              ["chroot", "namespaces", "mount", "cgroups", "overlay", "network"])

    text = wait_picture(page, "#kernel", NETWORK)
    assert re.search(r"lab host", text)
    cables = page.locator("#kernel svg path.kp-edge.kp-veth")
    assert cables.count() >= 1  # the cable (drawn in pieces where it crosses box borders)
    page.locator("#kernel details.kp-text summary").click()
    for needle in NETWORK:
        expect(page.locator("#kernel details.kp-text")).to_contain_text(needle)
    artifact(page, "kernel-network-attendee.png")

    trainer = open_console(browser, server)
    try:
        watch(trainer, "Anna")
        trainer.page.locator("#watch-kernel .kp-tab", has_text="Netzwerk").click()
        wait_picture(trainer.page, "#watch-kernel", NETWORK)
        artifact(trainer.page, "kernel-network-trainer.png")
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
    assert not tab.errors, tab.errors


def test_the_attendees_names_are_drawn_as_text_never_as_markup(server, browser, tab):  # noqa: F811
    page = tab.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.join(server, "Mallory")
    page.wait_for_url(server + "/step/intro")
    tab.wait_prompt()
    page.click("#term1")
    # hostname(1) refuses such a name; the kernel takes it from Python, as it would from C.
    page.keyboard.type(f"python3 -c \"import socket; socket.sethostname('{EVIL}')\"; "
                       f"(exec -a '{EVIL} x' sleep 300 &)\n")
    text = wait_picture(page, "#kernel", [EVIL])
    assert EVIL in text and not page.locator("#kernel img").count()
    page.locator("#kernel details.kp-text summary").click()
    expect(page.locator("#kernel details.kp-text")).to_contain_text(EVIL)
    assert not page.locator("#kernel details.kp-text img").count()
    artifact(page, "kernel-hostile-attendee.png")

    trainer = open_console(browser, server)
    trainer.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        watch(trainer, "Mallory")
        wait_picture(trainer.page, "#watch-kernel", [EVIL])
        assert not trainer.page.locator("#watch-kernel img").count()
        artifact(trainer.page, "kernel-hostile-trainer.png")
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
    assert dialogs == [] and not tab.errors, (dialogs, tab.errors)
