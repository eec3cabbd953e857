"""The step page with a keyboard only, in a half-screen window and on a phone: Escape, then
Tab leaves a terminal; Run pressed with a key leaves the focus on it; the terminals stay
beside the text down to a narrow window, the step list opens from the bar, and a phone's
page never scrolls sideways.

Screenshots stay in .artifacts/ at the top of the repository (ignored by git) after the run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.apiclient import Api
from tests.conftest import ROOT, TOKEN
from tests.test_browser import WAIT_MS, browser, expect, tab  # noqa: F401 (fixtures)
from tests.test_browser_kernel import artifact

pytestmark = [pytest.mark.root, pytest.mark.browser]


def focused(page) -> str:
    """What has the focus: a terminal's number ("term1") or the element's id or text."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const term = el.closest(".term[data-n]");
        return term ? term.id : (el.id || el.textContent.trim());
    }""")


def test_escape_then_tab_leaves_a_terminal_and_a_lone_escape_still_reaches_the_shell(
        server, tab):  # noqa: F811 (a fixture)
    page = tab.page
    tab.enter(server, "Kai", "/step/chroot?lang=en")
    page.click("#term1")
    expect(page.locator("#term-leave-1")).to_be_visible()  # said while the terminal has it
    page.keyboard.press("Tab")  # the shell's: completion, the focus stays
    assert focused(page) == "term1"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert focused(page) == "term2"  # the next thing in the page: terminal 2
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "term1"
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Tab")  # back into the page: the last thing before terminal 1
    assert focused(page) == "Next →"
    expect(page.locator("#term-leave-1")).to_be_hidden()
    described = page.get_attribute("#term1 textarea", "aria-describedby")
    assert described == "term-leave-1"

    # Escape then another key is the shell's as ever: ESC . puts the last word back.
    page.click("#term1")
    page.keyboard.type("echo tab-")
    page.keyboard.press("Tab")  # no completion for "tab-": nothing happens
    page.keyboard.type("out\n")
    tab.wait_rows(lambda rows: "tab-out" in rows, what="tab-out")
    page.keyboard.type("echo ")
    page.keyboard.press("Escape")
    page.keyboard.press(".")
    page.keyboard.press("Enter")
    tab.wait_rows(lambda rows: rows.count("tab-out") == 2, what="tab-out twice")
    # A lone Escape goes to the shell a moment later, with no key after it
    page.keyboard.type("read -rsn1 k; printf 'got %q\\n' \"$k\"\n")
    page.keyboard.press("Escape")
    tab.wait_rows(lambda rows: "got $'\\E'" in rows, what="got $'\\E'")
    # Escape, then a click elsewhere: the Escape was not meant for the shell
    page.keyboard.type("echo one-")
    page.keyboard.press("Escape")
    page.click("h1")
    page.wait_for_timeout(800)
    page.click("#term1")
    page.keyboard.type("two\n")  # an Escape before it would have made this M-t...
    tab.wait_rows(lambda rows: "one-two" in rows, what="one-two")
    assert focused(page) == "term1"
    assert not tab.errors, tab.errors


def test_run_pressed_with_a_key_keeps_the_focus_on_run(server, tab):  # noqa: F811
    page = tab.page
    tab.enter(server, "Lea", "/step/chroot?lang=en")
    first = page.locator("figure.block[data-block='0']")
    first.locator("button.run").focus()
    page.keyboard.press("Enter")
    expect(first.locator(".result")).to_have_text("exit status 0")
    assert focused(page) == "Run"  # still on the button: Tab goes on to the next one
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the second block's Run (its Copy button came first)
    expect(page.locator("figure.block[data-block='1'] .result")).to_have_text("exit status 0")
    assert focused(page) == "Run"
    first.locator("button.run").click()  # with the mouse: the terminal, to type on
    expect(first.locator(".result")).to_contain_text("exit status 1")  # it is there now
    page.wait_for_function("() => document.activeElement.closest('#term1') !== null")
    assert not tab.errors, tab.errors


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_half_screen_window_keeps_the_terminals_beside_the_text(server, tab,  # noqa: F811
                                                                  lang):
    page = tab.page
    page.set_viewport_size({"width": 800, "height": 900})
    tab.enter(server, "Mia", f"/step/chroot?lang={lang}")
    text = page.locator("article.content").bounding_box()
    term = page.locator("#term1").bounding_box()
    assert term["x"] >= text["x"] + text["width"] - 1 and term["y"] < 200, (text, term)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    steps = page.locator("#steps")
    toggle = page.locator("#steps-toggle")
    expect(steps).to_be_hidden()
    artifact(page, f"half-screen-{lang}.png")
    toggle.click()
    expect(steps).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    current = steps.locator("li.current a")
    expect(current).to_be_focused()
    page.wait_for_timeout(300)  # slid in
    artifact(page, f"half-screen-steps-{lang}.png")
    page.keyboard.press("Escape")
    expect(steps).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    steps.locator("li[data-step='mount'] a").click()
    page.wait_for_url(server + "/step/mount", timeout=WAIT_MS)
    expect(page.locator("#steps")).to_be_hidden()
    assert not tab.errors, tab.errors


def test_a_phone_reads_the_step_without_scrolling_sideways(server, tab):  # noqa: F811
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    tab.join(server, "Noa")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    # The steps with the longest commands, links and paths (a URL breaks where it must)
    for step in ("docker", "mount", "overlay", "pivot-root"):
        page.goto(server + f"/step/{step}?lang=en")
        page.locator("#term1").scroll_into_view_if_needed()  # xterm.js draws what is in view
        tab.wait_prompt()
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, step
        # Every command is shown whole: it wraps at its spaces, its buttons go under it.
        clipped = page.evaluate("""() => [...document.querySelectorAll("figure.block pre")]
            .filter((pre) => pre.scrollWidth > pre.clientWidth + 1
                             && !pre.textContent.split(/\\s/).some((w) => w.length > 30))
            .map((pre) => pre.textContent)""")
        assert clipped == [], step
    expect(page.locator(".who")).to_be_in_viewport()
    artifact(page, "phone.png")
    page.locator("#steps-toggle").click()
    expect(page.locator("#steps li.current")).to_be_in_viewport()
    assert page.locator("#steps").bounding_box()["height"] > 400
    page.wait_for_timeout(300)
    artifact(page, "phone-steps.png")
    assert not tab.errors, tab.errors


def test_the_page_says_when_the_trainer_resets_its_lab_host_or_begins_a_new_group(
        server, config, tab):  # noqa: F811 (a fixture)
    page = tab.page
    hellos = []  # terminal 1's sockets that have said hello: connected

    def socket(ws):
        if "/ws/terminal/1" in ws.url:
            ws.on("framereceived", lambda f: '"hello"' in str(f) and hellos.append(ws))

    page.on("websocket", socket)
    tab.enter(server, "Ole", "/step/chroot?lang=de")
    connected = len(hellos)
    trainer = Api.trainer(server, TOKEN)
    status, people = trainer.get("/api/trainer/attendees")
    ole = next(a["id"] for a in people if a["name"] == "Ole")
    assert trainer.post("/api/trainer/reset", {"attendee": ole})[0] == 200
    banner = page.locator("#restarted")
    expect(banner).to_contain_text("hat deinen Lab-Host zurückgesetzt")
    for _ in range(400):  # reconnected to the fresh one (20 s at most)
        if len(hellos) > connected:
            break
        page.wait_for_timeout(50)
    assert len(hellos) > connected
    tab.wait_prompt()
    artifact(page, "reset-by-trainer-de.png")
    banner.get_by_role("button", name="Schließen").click()
    expect(banner).to_be_hidden()

    assert trainer.post("/api/trainer/reset", {"all": True})[0] == 200
    expect(banner).to_contain_text("Eine neue Gruppe hat begonnen")
    expect(page.locator("#term1 .term-overlay")).to_contain_text("Sitzung ist abgelaufen")
    artifact(page, "new-group-de.png")
    banner.get_by_role("link", name="Neu beitreten").click()
    page.wait_for_url(server + "/", timeout=WAIT_MS)

    # A page that was away when the group began finds out on reconnecting, and says so too
    tab.enter(server, "Ole")
    server.stop()
    cli = subprocess.run([sys.executable, "-m", "web.cli", "reset", "--all"], cwd=ROOT,
                         env={**os.environ, "NSLAB_STATE_DIR": str(config.state_dir),
                              "NSLAB_LIB_DIR": str(config.lib_dir)},
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr  # a new group while the lab was away
    server.start()
    expect(banner).to_contain_text("Deine Sitzung ist abgelaufen")
    expect(banner.get_by_role("link", name="Neu beitreten")).to_be_visible()
    # The old session's page asked for what it no longer may (the 401s after the new group)
    network = ("Failed to load resource", "ERR_CONNECTION", "WebSocket connection to")
    assert not [e for e in tab.errors if not any(n in e for n in network)], tab.errors
