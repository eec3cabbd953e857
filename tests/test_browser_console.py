"""The trainer's console with a class of 100 in a real browser: the room at a glance above the
grid (per step passed, failed, working on it, hands; who is stuck longest), sorting and the
name filter kept across live updates, in German and in English, at a projector's 1920x1080
and 1280x720 without horizontal scrolling.

The class is made through the real API only: 100 joins (a lab host each), then Check on the
first steps (intro, container-vs-vm and docker pass with a running lab host; chroot fails
until its blocks ran), and for a few attendees Run of every block of chroot and namespaces
before their Check: real passes. Screenshots stay in .artifacts/ (console-de-1920.png, ...).
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.apiclient import Api
from tests.conftest import TOKEN
from tests.test_browser import browser, expect  # noqa: F401 (a fixture)
from tests.test_browser_kernel import EVIL, artifact, open_console

pytestmark = [pytest.mark.root, pytest.mark.browser]

N = 100
FIRST = ["Anna", "Bert", "Cleo", "Dana", "Emil", "Fatma", "Georg", "Hanna", "Ivo", "Jana",
         "Kemal", "Lena", "Mika", "Nora", "Oskar", "Paula", "Rafael", "Sofia", "Timo", "Zoë"]
NAMES = [f"{FIRST[i % 20]} {chr(65 + i // 20)}." for i in range(N)]  # Anna A. ... Zoë E.
EARLY = ["intro", "container-vs-vm", "docker"]  # pass whenever the lab host runs
STUCK = NAMES[5:11]    # on chroot first, failing it: the longest stuck
REAL = NAMES[30:32]    # Run every block of chroot and namespaces, then Check: real passes
HANDS = [NAMES[6], NAMES[47], NAMES[63]]
CODE = "KURS42"
SIZES = [(1920, 1080), (1280, 720)]


@pytest.fixture
def class_env(server_env):
    """Room for the class, and a workshop code (listed before `server`, so it starts with it)."""
    server_env["NSLAB_CAPACITY"] = str(N + 5)
    server_env["NSLAB_WORKSHOP_CODE"] = CODE
    return server_env


def joined(base: str, name: str) -> Api:
    api = Api(base)
    assert api.post("/api/join", {"name": name, "code": CODE})[0] == 201
    return api


def as_trainer(base: str, method: str, path: str, body: object = None):
    """What the trainer's API answers (an HTTPError for any error); a Run takes its time."""
    req = urllib.request.Request(base + path, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=300) as res:
        return json.load(res)


def check(api: Api, step: str, passes: bool) -> None:
    status, body = api.post(f"/api/steps/{step}/check")
    assert status == 200 and body["passed"] is passes, (step, body)


def run_all(api: Api, step: str) -> None:
    for block in api.get(f"/api/steps/{step}")[1]["blocks"]:
        if block["runnable"]:
            assert api.post(f"/api/steps/{step}/run", {"block": block["index"]})[0] == 200


def make_class(base: str) -> dict[str, Api]:
    """100 attendees with a spread of progress, made as a class makes it (see the docstring)."""
    with ThreadPoolExecutor(16) as pool:
        apis = dict(zip(NAMES, pool.map(lambda n: joined(base, n), NAMES), strict=True))
        as_trainer(base, "POST", "/api/trainer/chapters", {"chapters": ["talk"]})

        for name in STUCK:  # one after the other on chroot, failing it two or three times
            for step in EARLY:
                check(apis[name], step, True)
            for _ in range(2 + NAMES.index(name) % 2):
                check(apis[name], "chroot", False)

        def onwards(name):
            i = NAMES.index(name)
            for step in EARLY if name in REAL else EARLY[:i % 5 + 1]:
                check(apis[name], step, True)
            if name in REAL:
                for step in ("chroot", "namespaces"):
                    run_all(apis[name], step)
                    check(apis[name], step, True)
                return
            if i % 5 >= 3:  # 3: on chroot, failing it; 4: on namespaces, failing it too
                check(apis[name], "chroot", False)
            if i % 5 == 4:
                check(apis[name], "namespaces", False)
        list(pool.map(onwards, [n for n in NAMES if n not in STUCK]))
    for name in HANDS:
        assert apis[name].post("/api/me/hand", {"raised": True})[0] == 200
    return apis


def expected_glance(rows: list[dict], steps: list[str]) -> dict[str, dict[str, int]]:
    """What the glance must show per step, from GET /api/trainer/attendees."""
    n = {s: {"passed": 0, "failed": 0, "working": 0, "hands": 0} for s in steps}
    for r in rows:
        for s in r["passed"]:
            n[s]["passed"] += s in n
        for s in r["failed"]:
            n[s]["failed"] += s in n
        if r["step"] in n:
            n[r["step"]]["working"] += r["step"] not in r["passed"]
            n[r["step"]]["hands"] += r["hand_raised"]
    return n


def shown_glance(page) -> dict[str, dict[str, int]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#glance button[data-step]')].map(b => [b.dataset.step, Object.fromEntries(
        ['passed', 'failed', 'working', 'hands'].map(k =>
          [k, Number(b.querySelector('.n-' + k + ' b').textContent)]))]))""")


def names(page) -> list[str]:
    return page.eval_on_selector_all("#rows td.name", "tds => tds.map(td => td.title)")


def sort_by(page, key: str) -> None:
    page.click(f"th[data-sort={key}] button")


def test_the_console_of_a_class_of_100(class_env, server, browser):  # noqa: F811 (a fixture)
    t0 = time.monotonic()
    apis = make_class(server)
    made = time.monotonic() - t0
    steps = [s["id"] for s in apis[NAMES[0]].get("/api/steps")[1]]
    assert len(steps) == 11  # the talk alone, as a 90-minute slot has it
    rows = as_trainer(server, "GET", "/api/trainer/attendees")
    assert len(rows) == N
    want = expected_glance(rows, steps)
    # What the spread makes, whatever the page says: a check on the definitions above.
    assert want["intro"] == {"passed": N, "failed": 0, "working": 0, "hands": 0}
    assert want["chroot"]["passed"] == len(REAL) and want["namespaces"]["passed"] == len(REAL)
    rest = [i for i, n in enumerate(NAMES) if n not in STUCK and n not in REAL]
    assert want["chroot"]["failed"] == len(STUCK) + sum(i % 5 >= 3 for i in rest)
    assert want["chroot"]["working"] == len(STUCK) + sum(i % 5 == 3 for i in rest)
    assert want["chroot"]["hands"] == 2 and want["docker"]["hands"] == 1 and sum(w["hands"] for w in want.values()) == 3
    stuck = sorted((r for r in rows if r["stuck_since"]), key=lambda r: (r["stuck_since"], r["id"]))
    assert [r["name"] for r in stuck[:5]] == STUCK[:5]

    trainer = open_console(browser, server, "de")
    page = trainer.page
    try:
        page.set_viewport_size({"width": 1920, "height": 1080})
        expect(page.locator("#rows tr")).to_have_count(N)
        assert shown_glance(page) == want
        shown = page.locator("#stuck li")
        expect(shown).to_have_count(5)
        assert [shown.nth(i).locator(".s-name").inner_text() for i in range(5)] == STUCK[:5]
        for i in range(5):  # each with its step, its time there and its failed checks
            item, row = shown.nth(i), next(r for r in rows if r["name"] == STUCK[i])
            assert item.locator(".s-step").inner_text() == "4"
            assert item.locator(".s-fails").inner_text() == f"✗{row['fails']['chroot']}"
        assert shown.nth(1).locator(".raised").count() == 1  # NAMES[6]'s hand

        # Sorting: by name, the other way round, then the server's order again.
        sort_by(page, "name")
        assert names(page) == sorted(NAMES, key=str.casefold)
        sort_by(page, "name")
        assert names(page) == sorted(NAMES, key=str.casefold, reverse=True)
        sort_by(page, "name")
        assert names(page) == [r["name"] for r in rows]
        sort_by(page, "step")
        where = {r["name"]: steps.index(r["step"]) for r in rows}
        assert [where[n] for n in names(page)] == sorted(where.values())
        sort_by(page, "passed")
        done = {r["name"]: len(r["passed"]) for r in rows}
        assert [done[n] for n in names(page)] == sorted(done.values())
        sort_by(page, "stuck")
        assert names(page)[:5] == STUCK[:5]
        assert page.get_attribute("th[data-sort=stuck]", "aria-sort") == "ascending"

        # The filter, as it is typed, in any case; it and the sort outlive a live update.
        page.locator("#filter").press_sequentially("zOË")
        expect(page.locator("#rows tr")).to_have_count(5)
        assert sorted(names(page)) == [n for n in NAMES if n.startswith("Zoë")]
        expect(page.locator("#shown")).to_have_text(f"5 von {N}")
        check(apis["Zoë B."], "mount", False)  # on namespaces (failed) until now
        before = time.monotonic()
        page.wait_for_function("""() => [...document.querySelectorAll('#rows tr')].some(tr =>
            tr.textContent.includes('Zoë B.') && tr.querySelectorAll('td.failed').length === 3)""",
                               polling="raf")  # chroot, namespaces, mount
        live = time.monotonic() - before
        assert live < 5  # the stream looks twice a second; bench/ says how soon on a quiet box
        expect(page.locator("#rows tr")).to_have_count(5)
        assert page.get_attribute("th[data-sort=stuck]", "aria-sort") == "ascending"
        assert names(page)[-1] == "Zoë B."  # the newest on a step of the five stuck
        page.locator("#filter").fill("")

        # A step of the glance filters the grid to who is on it.
        page.click("#glance button[data-step=chroot]")
        on_chroot = [r["name"] for r in rows if r["step"] == "chroot"]
        expect(page.locator("#rows tr")).to_have_count(len(on_chroot))
        assert sorted(names(page)) == sorted(on_chroot)
        page.click("#step-filter")
        expect(page.locator("#rows tr")).to_have_count(N)
        page.click("#stuck li:first-child button")  # the longest stuck: their row, in sight
        picked = page.locator("#rows tr.picked")
        expect(picked.locator("td.name")).to_have_attribute("title", STUCK[0])
        expect(picked).to_be_in_viewport()
        sort_by(page, "stuck")
        sort_by(page, "stuck")  # back to the server's order: hands first
        assert names(page)[:3] == HANDS

        for lang in ("de", "en"):
            page.goto(f"{server}/trainer?lang={lang}")
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                expect(page.locator("#rows tr")).to_have_count(N)
                page.wait_for_function("() => document.fonts.status === 'loaded'")
                assert page.evaluate("() => document.documentElement.scrollWidth") <= width
                glance = page.locator(".glance").bounding_box()
                grid = page.locator("table.grid").bounding_box()
                assert glance["y"] + glance["height"] <= grid["y"] < height - 200  # rows in sight
                artifact(page, f"console-{lang}-{width}.png")
            title = page.locator("#glance button[data-step=chroot] .g-title").inner_text()
            assert title == {"de": "4 Filesystem? chroot!", "en": "4 A file system? chroot!"}[lang]
        page.set_viewport_size({"width": 1280, "height": 720})
        page.mouse.wheel(0, 1500)  # the header stays in sight as the grid scrolls
        page.wait_for_function("() => window.scrollY > 1000")
        assert 0 <= page.locator("table.grid thead th").first.bounding_box()["y"] <= 1
        artifact(page, "console-en-1280-scrolled.png")
        # With the day's chapter on too, 17 steps still fit a 1920 projector.
        as_trainer(server, "POST", "/api/trainer/chapters", {"chapters": ["talk", "deeper"]})
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.goto(f"{server}/trainer?lang=de")
        expect(page.locator("#glance button[data-step]")).to_have_count(17)
        expect(page.locator("#rows tr")).to_have_count(N)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1920
        artifact(page, "console-de-1920-deeper.png")
        assert not trainer.errors, trainer.errors
    finally:
        trainer.close()
    print(f"class of {N} made in {made:.1f} s; the grid showed a Check {live:.2f} s after it")


def test_names_are_text_in_the_glance_and_the_grid(server, browser):  # noqa: F811
    """A name that is markup shows as text. Joining refuses such a name, so the test writes it
    into the database behind the server's back: it is about the page, which must never trust
    a name, whatever let it in."""
    api = Api.joined(server, "Mallory")
    check(api, "chroot", False)  # on a step and failing it: in the stuck list
    Api.joined(server, "Bert")
    with sqlite3.connect(Path(server.env["NSLAB_STATE_DIR"], "nslab.db")) as db:
        db.execute("UPDATE attendees SET name = ? WHERE name = 'Mallory'", (EVIL,))
    trainer = open_console(browser, server, "en")
    dialogs = []
    trainer.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page = trainer.page
        expect(page.locator("#stuck .s-name").first).to_have_text(EVIL)
        expect(page.locator("#rows td.name", has_text=EVIL)).to_have_count(1)
        assert page.locator("#console img").count() == 0
        page.locator("#filter").fill("<img")
        expect(page.locator("#rows tr")).to_have_count(1)
        artifact(page, "console-hostile-name.png")
        assert not dialogs and not trainer.errors, (dialogs, trainer.errors)
    finally:
        trainer.close()
