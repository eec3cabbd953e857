"""A real browser walks the attendee's story: join, type into terminal 1, Run, Check, reload.

Headless Chromium from Debian's `chromium` package, driven by Playwright for Python (its own
browser download is not used). Without chromium or playwright the tests skip, except under
NSLAB_REQUIRE_ROOT=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from tests.apiclient import Api
from tests.conftest import REQUIRE_ROOT, TOKEN

pytestmark = [pytest.mark.root, pytest.mark.browser]

CHROMIUM = os.environ.get("NSLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSED = re.compile(r"(^|\s)passed(\s|$)")
WAIT_MS = 20_000  # every wait is bounded by this (a Run or a Check takes well under a second)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the fixture, as a skip or (in CI) a failure
    sync_playwright = None


def _missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed: .venv/bin/pip install playwright"
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if REQUIRE_ROOT:
            pytest.fail(f"{missing} (NSLAB_REQUIRE_ROOT=1 forbids skipping the browser test)")
        pytest.skip(missing)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                              timeout=WAIT_MS)
        yield b
        b.close()


class Page:
    """A fresh browser context and page; records console errors and uncaught exceptions."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900},
                                           locale="en-US")
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} ({m.location.get('url')})"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def rows(self, n: int = 1) -> list[str]:
        """Terminal n's rendered rows as xterm.js's DOM renderer shows them."""
        return self.page.eval_on_selector_all(
            f"#term{n} .xterm-rows > div",
            "rows => rows.map(r => r.textContent.replace(/\\u00a0/g, ' ').trimEnd())")

    def wait_rows(self, test, n: int = 1, what: str = "") -> list[str]:
        """Poll terminal n's rows until test(rows) holds; fail with the screen after WAIT_MS."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            rows = self.rows(n)
            if test(rows):
                return rows
            if time.monotonic() > deadline:
                screen = "\n".join(rows)
                pytest.fail(f"terminal {n} never showed {what}; it shows:\n{screen}")
            self.page.wait_for_timeout(50)

    def wait_prompt(self, n: int = 1) -> list[str]:
        return self.wait_rows(lambda rows: any("root@lab-" in r for r in rows), n,
                              "the prompt root@lab-")

    def join(self, base: str, name: str, code: str | None = None) -> None:
        page = self.page
        page.goto(base + "/")
        page.fill("#join input[name=name]", name)
        if code is not None:
            page.fill("#join input[name=code]", code)
        page.click("#join button[type=submit]")

    def enter(self, base: str, name: str, path: str = "/step/intro") -> None:
        """Join as name, open path (a step page), and wait for terminal 1's prompt."""
        self.join(base, name)
        self.page.wait_for_url(base + "/step/intro", timeout=WAIT_MS)
        if path != "/step/intro":
            self.page.goto(base + path)
        self.wait_prompt()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser):
    t = Page(browser)
    yield t
    t.close()


def pseudo(page, selector: str, which: str, prop: str = "content") -> str:
    return page.eval_on_selector(
        selector, f"(el) => getComputedStyle(el, '{which}').getPropertyValue('{prop}')")


def test_an_attendee_joins_types_runs_checks_and_reloads(server, tab, tmp_path):
    page = tab.page
    tab.join(server, "Anna")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    expect(page.locator(".who")).to_contain_text("Anna")
    tab.wait_prompt()

    # Typed with the keyboard into xterm.js (step.js focuses terminal 1), echoed back rendered.
    page.click("#term1")
    page.keyboard.type("echo $((6*7))\n")
    tab.wait_rows(lambda rows: "42" in rows, what="the line 42")
    assert any("echo $((6*7))" in r for r in tab.rows())

    # Run the first two blocks of the chroot step: result line, and the command in T1.
    page.goto(server + "/step/chroot")
    tab.wait_prompt()
    for index, command in [(0, "mkdir /tmp/container"),
                           (1, "tar xf /lab/images/vorlage.tar -C /tmp/container")]:
        figure = page.locator(f'figure.block[data-block="{index}"]')
        figure.locator("button.run").click()
        result = figure.locator("output.result.ok")
        expect(result).to_be_visible(timeout=WAIT_MS)
        expect(result).to_have_text("exit status 0")
        assert pseudo(page, f'figure[data-block="{index}"] .result', "::before") == '"✓ "'
        tab.wait_rows(lambda rows, c=command: any(c in r for r in rows), what=command)
        expect(figure.locator("button.run")).to_be_enabled()

    page.screenshot(path=str(tmp_path / "chroot-run.png"))

    # Check: the checklist says so and the sidebar entry turns green.
    side = page.locator('.sidebar li[data-step="chroot"]')
    expect(side).not_to_have_class(PASSED)
    page.click("#check")
    expect(side).to_have_class(PASSED, timeout=WAIT_MS)
    expect(page.locator("#checklist li.passed.all")).to_have_text("All done!")
    tick = 'nav.sidebar li[data-step="chroot"] a'
    assert pseudo(page, tick, "::after") == '" ✓"'
    # Green: the accent colour, which the ✓ of a good result line shows as well.
    green = pseudo(page, 'figure[data-block="0"] .result', "::before", "color")
    assert pseudo(page, tick, "::after", "color") == green == "rgb(11, 110, 79)"

    page.screenshot(path=str(tmp_path / "chroot-checked.png"))

    # A reload: the server replays the screen into a fresh terminal 1.
    # The screen as it is once the last row is a prompt: the run's output has rendered.
    before = [r for r in tab.wait_rows(
        lambda rows: [r for r in rows if r.strip()][-1:] and
        [r for r in rows if r.strip()][-1].rstrip().endswith("#"),
        what="a prompt on the last row") if r.strip()]
    assert any("tar xf" in r for r in before) and "42" in before
    page.reload()
    tab.wait_rows(lambda rows: [r for r in rows if r.strip()] == before,
                  what="the same screen as before the reload:\n" + "\n".join(before))
    expect(side).to_have_class(PASSED)  # the server remembers the check too

    page.screenshot(path=str(tmp_path / "chroot-reloaded.png"))
    assert not tab.errors, tab.errors


@pytest.fixture
def code_env(server_env):
    """A workshop code the attendee must type (listed before `server`, so it starts with it)."""
    server_env["NSLAB_WORKSHOP_CODE"] = "KURS42"
    return server_env


def test_joining_takes_the_workshop_code(code_env, server, tab, tmp_path):
    page = tab.page
    tab.join(server, "Bert", code="FALSCH")
    expect(page.locator("#join-error")).to_contain_text("not the workshop code")
    assert page.url == server + "/"
    expect(page.locator("#join button[type=submit]")).to_be_enabled()
    # The refused join is a 403 the browser reports on its console; nothing else may be there.
    refused = [e for e in tab.errors if "403" in e and "/api/join" in e]
    assert len(refused) == 1, tab.errors
    tab.errors.remove(refused[0])

    page.fill("#join input[name=code]", "kurs42")  # typed in lower case: accepted too
    page.click("#join button[type=submit]")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    tab.wait_prompt()
    page.screenshot(path=str(tmp_path / "joined.png"))
    assert not tab.errors, tab.errors


def test_the_cursor_blinks_without_an_animation(server, tab):
    """xterm.js's own blink is an endless CSS animation, which makes Chromium draw a frame per
    refresh while the terminal has the focus (every echo waited behind them: bench/browser.py).
    terminal.js blinks the cursor by a class instead; nothing on the page animates."""
    page = tab.page
    tab.join(server, "Carla")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    tab.wait_prompt()
    page.click("#term1")
    cursor = "document.querySelector('#term1 .xterm-cursor.xterm-cursor-blink.xterm-cursor-block')"
    background = f"{cursor} && getComputedStyle({cursor}).backgroundColor"
    for shown in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"):
        page.wait_for_function(f"() => {background} === '{shown}'", timeout=WAIT_MS)
        assert page.evaluate("() => document.getAnimations().length") == 0

    # Without the focus xterm.js draws an outline, which does not blink.
    page.click("h1")
    page.wait_for_function(
        "() => document.querySelector('#term1 .xterm-cursor.xterm-cursor-outline') &&"
        " !document.querySelector('#term1').classList.contains('cursor-off')", timeout=WAIT_MS)
    assert not tab.errors, tab.errors


def test_a_paste_too_large_is_refused_on_the_page_and_the_terminal_stays(server, tab):
    """The server closes a socket on input past NSLAB_MAX_INPUT (1009): the page says so
    before sending, and the connection, the shell and the line being typed stay."""
    page = tab.page
    sockets = []
    page.on("websocket", lambda ws: "/ws/terminal/1" in ws.url and sockets.append(ws))
    tab.join(server, "Pia")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    tab.wait_prompt()
    page.click("#term1")
    page.keyboard.type("echo still ")
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.setData("text/plain", "x".repeat(300 * 1024));
        document.querySelector("#term1 textarea").dispatchEvent(
            new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
    }""")
    overlay = page.locator("#term1 .term-overlay")
    expect(overlay).to_contain_text("Too much pasted at once")
    expect(overlay).to_contain_text("at most 256 KiB")
    overlay.locator("button").click()
    expect(overlay).to_be_hidden()
    page.keyboard.type("$((20+3))\n")  # the focus is back in the terminal
    tab.wait_rows(lambda rows: "still 23" in rows, what="the line still 23")
    assert not any("xxxxxxxx" in r for r in tab.rows())  # none of the paste was sent
    assert len(sockets) == 1 and not sockets[0].is_closed()
    assert not tab.errors, tab.errors


def test_check_says_in_the_pages_language_when_the_lab_is_away_or_the_session_gone(
        server, tab):
    """Not the browser's "Failed to fetch", nor the API's English on a German page."""
    page = tab.page
    tab.enter(server, "Rosa", "/step/intro?lang=de")
    checklist = page.locator("#checklist li.failed")
    server.stop()
    page.click("#check")
    expect(checklist).to_have_text("Keine Verbindung zum Lab (es startet vielleicht gerade "
                                   "neu). Versuch es gleich noch einmal.")
    server.start()
    status, _ = Api.trainer(server, TOKEN).post("/api/trainer/reset", {"all": True})
    assert status == 200
    page.click("#check")
    expect(checklist).to_contain_text("Deine Sitzung ist abgelaufen")
    # The browser logs each request and websocket the lab did not answer while it was away
    # (and the 401s after the new group); a script's own error would be a pageerror.
    network = ("Failed to load resource", "ERR_CONNECTION", "WebSocket connection to")
    assert not [e for e in tab.errors if not any(n in e for n in network)], tab.errors


def test_the_restarted_notice_can_be_closed(server, tab, tmp_path):
    page = tab.page
    tab.join(server, "Ines")
    page.wait_for_url(server + "/step/intro", timeout=WAIT_MS)
    tab.wait_prompt()
    server.stop()
    server.start()  # its lab hosts are gone: each attendee's is made afresh
    page.goto(server + "/step/intro?lang=de")
    notice = page.locator("#restarted")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Das Lab wurde neu gestartet")
    page.screenshot(path=str(tmp_path / "restarted.png"))
    notice.get_by_role("button", name="Schließen").click()
    expect(notice).to_be_hidden()
    network = ("Failed to load resource", "ERR_CONNECTION", "WebSocket connection to")
    assert not [e for e in tab.errors if not any(n in e for n in network)], tab.errors
