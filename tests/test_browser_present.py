"""The trainer teaches from the front, in a real browser: the trainer's own step page, the
Present switch, the "Trainer" tab on an attendee's page (the trainer's terminal, read-only,
and their kernel picture), the offer to follow the trainer to a step, and the projector view
in German and English at a projector's sizes.

Screenshots stay in .artifacts/ (present-de-1920.png, attendee-trainer-tab.png, ...).
"""

from __future__ import annotations

import pytest

from tests.test_browser import Page, browser, expect, tab  # noqa: F401 (fixtures)
from tests.test_browser_console import as_trainer
from tests.test_browser_kernel import EVIL, artifact, open_console, wait_picture

pytestmark = [pytest.mark.root, pytest.mark.browser]
LIVE_MS = 10_000  # how long a test waits for presenting to reach a page (bench/ says how fast)
SIZES = [(1920, 1080), (1280, 720)]


def screen(page, host: str) -> str:
    """What the terminal in host shows, row by row, as xterm.js's DOM renderer draws it."""
    return page.eval_on_selector_all(
        f"{host} .xterm-rows > div",
        "rows => rows.map(r => r.textContent.replace(/\\u00a0/g, ' ').trimEnd()).join('\\n')")


def wait_screen(page, host: str, needle: str, timeout: int = LIVE_MS) -> str:
    page.wait_for_function(
        """([host, needle]) => [...document.querySelectorAll(host + ' .xterm-rows > div')]
             .some(r => r.textContent.replace(/\\u00a0/g, ' ').includes(needle))""",
        arg=[host, needle], timeout=timeout)
    return screen(page, host)


def trainer_lab(browser, base: str, step: str, lang: str = "en") -> Page:  # noqa: F811
    """The trainer's own step page, logged in, with the trainer's shell at its prompt."""
    trainer = open_console(browser, base, lang)
    trainer.page.goto(f"{base}/trainer/lab/{step}?lang={lang}")
    wait_screen(trainer.page, "#term1", "root@", 20_000)
    return trainer


def label_height(page, host: str) -> float:
    """The smallest name drawn in host's kernel picture, in CSS pixels as it is shown."""
    return page.evaluate("""host => Math.min(...[...document.querySelectorAll(
        host + ' .kp-svg text.kp-label')].map(t => t.getBoundingClientRect().height))""", host)


def type_in(page, host: str, text: str) -> None:
    page.click(host)
    page.keyboard.type(text)


def run_all(base: str, steps: list[str]) -> None:
    """Run every block of steps on the trainer's lab host, through the trainer's API."""
    for step in steps:
        for block in as_trainer(base, "GET", f"/api/trainer/steps/{step}")["blocks"]:
            if block["runnable"]:
                as_trainer(base, "POST", f"/api/trainer/steps/{step}/run", {"block": block["index"]})


def test_the_room_sees_the_trainers_terminal_while_the_trainer_presents(server, browser, tab):  # noqa: F811
    page = tab.page
    tab.join(server, "Anna")
    page.wait_for_url(server + "/step/intro")
    tab.wait_prompt()
    tabs = page.locator("#term-tabs")
    expect(tabs).to_be_hidden()  # nobody presents yet

    trainer = trainer_lab(browser, server, "namespaces")
    tp = trainer.page
    try:
        switch = tp.locator("#present")
        expect(switch).to_have_attribute("aria-checked", "false")
        expect(tp.locator("#to-console")).to_have_attribute("href", "/trainer")
        expect(tp.locator("#to-projector")).to_have_attribute("href", "/trainer/present")
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true")

        # The attendee's page grows a Trainer tab, and offers the trainer's step; it stays put.
        expect(tabs).to_be_visible(timeout=LIVE_MS)
        follow = page.locator("#follow")
        expect(follow).to_be_visible()
        expect(follow).to_contain_text("The trainer is on step 5: Namespaces — go there?")
        page.locator("#tab-trainer").click()
        expect(page.locator("#presenter-pane")).to_be_visible()
        expect(page.locator("#term1")).to_be_hidden()  # the attendee's own, behind their tab

        type_in(tp, "#term1", "echo presented-$((6*7))\n")
        wait_screen(page, "#presenter-term", "presented-42")
        wait_picture(page, "#presenter-kernel", ["lab-trainer", "bash"])
        artifact(page, "attendee-trainer-tab.png")
        # The trainer's size, the font made to fit: lines break where the trainer's do.
        rows = "host => document.querySelectorAll(host + ' .xterm-rows > div').length"
        fits = """host => { const h = document.querySelector(host);
                     return h.querySelector('.xterm-screen').offsetWidth <= h.clientWidth; }"""
        before = tp.evaluate(rows, "#term1")
        assert page.evaluate(rows, "#presenter-term") == before
        assert page.evaluate(fits, "#presenter-term")
        tp.set_viewport_size({"width": 1400, "height": 700})
        tp.wait_for_function(f"() => ({rows})('#term1') < {before}")
        page.wait_for_function(f"() => ({rows})('#presenter-term') === {tp.evaluate(rows, '#term1')}",
                               timeout=LIVE_MS)
        assert page.evaluate(fits, "#presenter-term")
        page.reload()  # the tab stays chosen, and the screen comes back as it was
        expect(page.locator("#presenter-pane")).to_be_visible()
        wait_screen(page, "#presenter-term", "presented-42")

        # Watching only: what the attendee types reaches no shell; the selection copies.
        type_in(page, "#presenter-term", "echo typed-by-anna\n")
        tp.wait_for_timeout(1000)
        assert "typed-by-anna" not in screen(tp, "#term1")
        assert "typed-by-anna" not in screen(page, "#presenter-term")
        # ... and Tab moves on, as anywhere in a page: no shell here to complete
        page.focus("#presenter-term textarea")  # reached with Tab, say
        page.keyboard.press("Tab")
        assert page.evaluate("() => !document.activeElement.closest('#presenter-term')")

        # Back on their own terminal, the attendee's page holds no socket to the trainer's
        # and draws nothing of it; the Trainer tab again shows what happened meanwhile.
        sockets = []
        page.on("websocket", lambda ws: sockets.append(ws) if "/ws/presenter" in ws.url else None)
        page.locator("#tab-own").click()
        expect(page.locator("#term1")).to_be_visible()
        page.wait_for_function("() => !document.querySelector('#presenter-term .xterm')",
                               timeout=LIVE_MS)
        type_in(tp, "#term1", "echo while-away-$((6*7))\n")
        wait_screen(tp, "#term1", "while-away-42")
        page.locator("#tab-trainer").click()
        wait_screen(page, "#presenter-term", "while-away-42")
        assert "presented-42" in screen(page, "#presenter-term")
        wait_picture(page, "#presenter-kernel", ["lab-trainer", "bash"])
        page.locator("#tab-own").click()
        page.wait_for_function("() => !document.querySelector('#presenter-term .xterm')",
                               timeout=LIVE_MS)
        assert len(sockets) == 1
        if not sockets[0].is_closed():
            sockets[0].wait_for_event("close", timeout=LIVE_MS)
        for _ in range(6):  # to and fro, quicker than sockets open and close
            page.locator("#tab-trainer").click()
            page.locator("#tab-own").click()
        page.locator("#tab-trainer").click()
        wait_screen(page, "#presenter-term", "while-away-42")
        assert page.locator("#presenter-term .xterm").count() == 1
        assert page.locator("#presenter-term .term-overlay").count() == 1  # none left behind

        # The trainer moves on: a new offer, and still no jump.
        tp.goto(f"{server}/trainer/lab/mount")
        expect(follow).to_contain_text("The trainer is on step 6: Mounts — go there?",
                                       timeout=LIVE_MS)
        assert page.url == server + "/step/intro"
        page.locator("#follow-dismiss").click()
        expect(follow).to_be_hidden()

        # Presenting ends: the tab goes, the attendee's own terminals come back.
        tp.locator("#present").click()
        expect(tp.locator("#present")).to_have_attribute("aria-checked", "false")
        expect(tabs).to_be_hidden(timeout=LIVE_MS)
        expect(page.locator("#presenter-pane")).to_be_hidden()
        expect(page.locator("#term1")).to_be_visible()
        tab.wait_prompt()
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
    assert not tab.errors, tab.errors


def test_the_console_leads_to_the_trainers_lab_host_and_presents_it(server, browser):  # noqa: F811
    trainer = open_console(browser, server, "de")
    page = trainer.page
    try:
        page.set_viewport_size({"width": 1280, "height": 720})
        box = page.locator("#my-lab")
        expect(box).to_contain_text("Meine Lab-Maschine")
        switch = box.locator("#present")
        expect(switch).to_have_attribute("aria-checked", "false")
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true")
        assert as_trainer(server, "GET", "/api/trainer/present")["presenting"] is True
        page.reload()
        expect(page.locator("#present")).to_have_attribute("aria-checked", "true")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
        artifact(page, "console-my-lab.png")

        page.click("#open-lab")
        page.wait_for_url(f"{server}/trainer/lab/intro")
        wait_screen(page, "#term1", "root@lab-trainer")
        wait_screen(page, "#term2", "root@lab-trainer")
        expect(page.locator("#present")).to_have_attribute("aria-checked", "true")
        expect(page.locator(".who")).to_contain_text("lab-trainer")
        expect(page.locator("#hand, #term-tabs, #follow")).to_have_count(0)
        page.click('.sidebar a:has-text("Filesystem? chroot!")')
        page.wait_for_url(f"{server}/trainer/lab/chroot")
        figure = page.locator('figure.block[data-block="0"]')
        figure.locator("button.run").click()
        expect(figure.locator("output.result.ok")).to_have_text("Exit-Status 0")
        wait_screen(page, "#term1", "mkdir /tmp/container")
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.locator("#kernel .kp-tab", has_text="Prozesse").click()  # chroot opens Mounts
        wait_picture(page, "#kernel", ["lab-trainer"])
        artifact(page, "trainer-lab.png")
        page.click("#present")
        expect(page.locator("#present")).to_have_attribute("aria-checked", "false")
        assert as_trainer(server, "GET", "/api/trainer/present")["presenting"] is False
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()


NAME = "Maria <b>M</b>"


@pytest.fixture
def named_env(server_env):
    """A trainer with a name, markup in it (listed before `server`, so it starts with it)."""
    server_env["NSLAB_TRAINER_NAME"] = NAME
    return server_env


def test_following_the_trainer_is_the_attendees_choice(named_env, server, browser, tab):  # noqa: F811
    as_trainer(server, "POST", "/api/trainer/present", {"on": True})
    page = tab.page
    tab.join(server, "Bert")
    page.wait_for_url(server + "/step/intro")
    tab.wait_prompt()
    expect(page.locator("#tab-trainer")).to_contain_text(f"Trainer: {NAME}")
    follow = page.locator("#follow")
    as_trainer(server, "GET", "/api/trainer/steps/chroot")  # opening a step moves the trainer
    expect(follow).to_be_visible(timeout=LIVE_MS)
    expect(follow).to_contain_text(f"{NAME} is on step 4: A file system? chroot! — go there?")
    assert page.locator("#page b, #term-tabs b").count() == 0
    page.wait_for_timeout(500)
    assert page.url == server + "/step/intro"
    page.locator("#follow-go").click()
    page.wait_for_url(server + "/step/chroot")
    expect(page.locator("#follow")).to_be_hidden()  # here now
    # The trainer never opened their lab host: the tab's socket makes it, then the picture.
    page.locator("#tab-trainer").click()
    wait_screen(page, "#presenter-term", "root@lab-maria")  # named after the trainer
    hostname = as_trainer(server, "GET", "/api/trainer/kernel")["processes"][0]["hostname"]
    page.locator("#presenter-kernel .kp-tab", has_text="Processes").click()
    wait_picture(page, "#presenter-kernel", [hostname])
    as_trainer(server, "POST", "/api/trainer/present", {"on": False})
    expect(page.locator("#term-tabs")).to_be_hidden(timeout=LIVE_MS)
    assert not tab.errors, tab.errors


def test_the_trainers_hostname_is_text_on_the_attendees_page(server, browser, tab):  # noqa: F811
    page = tab.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    trainer = trainer_lab(browser, server, "namespaces")
    try:
        # hostname(1) refuses such a name; the kernel takes it from Python, as it would from C.
        type_in(trainer.page, "#term1", f"python3 -c \"import socket; socket.sethostname('{EVIL}')\"; "
                                         f"(exec -a '{EVIL} x' sleep 300 &)\n")
        trainer.page.locator("#present").click()
        expect(trainer.page.locator("#present")).to_have_attribute("aria-checked", "true")
        tab.join(server, "Mallory")
        page.wait_for_url(server + "/step/intro")
        tab.wait_prompt()
        page.locator("#tab-trainer").click()
        text = wait_picture(page, "#presenter-kernel", [EVIL])
        assert EVIL in text
        page.locator("#presenter-kernel details.kp-text summary").click()
        expect(page.locator("#presenter-kernel details.kp-text")).to_contain_text(EVIL)
        assert page.locator("#page img").count() == 0
        artifact(page, "attendee-trainer-hostile.png")
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
    assert dialogs == [] and not tab.errors, (dialogs, tab.errors)


def test_the_projector_view_in_both_languages(server, browser):  # noqa: F811
    run_all(server, ["chroot", "namespaces", "mount", "cgroups", "overlay", "network"])
    as_trainer(server, "POST", "/api/trainer/present", {"on": True})
    trainer = open_console(browser, server, "de")
    page = trainer.page
    try:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(f"{server}/trainer/present/network?lang=de")
        wait_screen(page, "#term1", "root@")
        expect(page.locator("h1")).to_have_text("Netzwerk?")
        expect(page.locator(".p-where")).to_have_text("Schritt 9 von 17")
        expect(page.locator(".sidebar, table.grid")).to_have_count(0)
        figure = page.locator('figure.block[data-block="0"]')  # pstree -p, in the room's sight
        figure.locator("button.run").click()
        expect(figure.locator("output.result.ok")).to_have_text("Exit-Status 0")
        type_in(page, "#term1", "clear; ip -br a; ip netns exec hallo ip -br a\n")
        wait_screen(page, "#term1", "containerende")

        # ← in the terminal is the shell's; a click into the text, and it is the page's.
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(300)
        assert "/trainer/present/network" in page.url
        page.click("#p-text h1")
        page.keyboard.press("ArrowRight")
        page.wait_for_url(f"{server}/trainer/present/nsenter")
        assert as_trainer(server, "GET", "/api/trainer/present")["step"] == "nsenter"
        wait_screen(page, "#term1", "root@")
        page.click("#term1")
        page.keyboard.press("PageUp")  # a clicker's key: the page's even in the terminal
        page.wait_for_url(f"{server}/trainer/present/network")

        for lang in ("de", "en"):
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{server}/trainer/present/network?lang={lang}")
                wait_screen(page, "#term1", "root@")
                wait_picture(page, "#kernel", ["hallo"])
                page.wait_for_function("() => document.fonts.status === 'loaded'")
                artifact(page, f"present-{lang}-{width}.png")
                if lang == "de" and width == 1920:  # the terminal has the focus: type at once
                    assert page.evaluate("() => document.activeElement.closest('#term1')")
                assert page.evaluate("() => document.documentElement.scrollWidth") <= width
                assert page.evaluate("() => document.documentElement.scrollHeight") <= height
                size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
                assert size >= (23 if height >= 1080 else 17), size
                keys = page.locator(".p-keys").inner_text()
                assert ("Bild" in keys) == (lang == "de")
                # The picture is laid out to its wide box: names readable from the back.
                assert label_height(page, "#kernel") >= (18 if height >= 1080 else 16)
                if lang == "de":
                    for view in ("Prozesse", "Cgroups"):
                        page.locator("#kernel .kp-tab", has_text=view).click()
                        page.wait_for_function(  # drawn: its label names the view
                            "v => document.querySelector('#kernel svg.kp-svg')"
                            ".getAttribute('aria-label').startsWith(v)", arg=view)
                        artifact(page, f"present-{lang}-{width}-{view.lower()}.png")
                        assert label_height(page, "#kernel") >= 12  # a process tree is wide
                    page.locator("#kernel .kp-tab", has_text="Netzwerk").click()

        # What an attendee sees of it, for the README.
        expect(page.locator("#present")).to_have_attribute("aria-checked", "true")
        anna = Page(browser)
        try:
            anna.join(server, "Anna")
            anna.page.wait_for_url(server + "/step/intro")
            anna.wait_prompt()
            anna.page.locator("#tab-trainer").click()
            wait_screen(anna.page, "#presenter-term", "containerende")
            anna.page.locator("#presenter-kernel .kp-tab", has_text="Network").click()
            wait_picture(anna.page, "#presenter-kernel", ["hallo"])
            artifact(anna.page, "attendee-trainer-tab-network.png")
            assert not anna.errors, anna.errors
        finally:
            anna.close()
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
