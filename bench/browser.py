"""Keystroke echo as a person sees it: from a key's dispatch to the character in xterm.js's rows.

    sudo .venv/bin/python bench/browser.py [--keys 300] [--rounds 6]

Headless Chromium from Debian's `chromium` package, driven by Playwright. One server of the
bench's own, one attendee; two pages take turns in blocks (a fresh page for each block), on
terminal 1 of the same lab host:

- nslab: the step page as an attendee sees it (step.js, terminal.js, its addons and fonts,
  the kernel picture open beside the terminals unless --picture closed; typing starts once
  its first layout is drawn);
- plain: xterm.js 6 with its defaults, no addons, and a ten-line client that writes the
  output and acknowledges it once written; served by the bench through page.route() at
  /__plain on the server's origin (the server has no such route), so the session cookie and
  the websocket's Origin check hold as for nslab's page.

With --presenting, the trainer presents all the while (bench/presenter.py's trainer: a line
printed every 50 ms on their terminal 1), and each nslab page opens its Trainer tab, waits
for the trainer's output there, and goes back to its own terminal before typing (the page
then closes the Trainer tab's socket: static/presenter.js keeps it only while shown). The
attendee's own terminal sockets still hear the presenting events meanwhile.

Everything is timed inside the page, with performance.now(): a capturing keydown listener
on the window (the key's dispatch), WebSocket.prototype.send (the key leaves), a message
listener added before the page's own (the echo frame arrives), and a MutationObserver on
terminal 1's `.xterm-rows` (the row that now ends with what was typed); then, how long the
main thread stays busy drawing that frame (style, layout, paint), until a task queued from
the observer runs. One key at a time,
each waited for, with a random pause of up to a frame before the next; Ctrl-U clears the
line now and then. Prints percentiles of each page and their differences; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.labserver import lab_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
KEYS = "abcdefghijklmnopqrstuvwxyz"
LINE = 40  # keys typed before Ctrl-U clears the line
WARMUP = 10  # keys typed, not counted, when a page has opened
GOAL_P50, GOAL_P99 = 2.0, 5.0  # ms nslab may add to the plain page

# The plain page: xterm.js 6 with its defaults, and the least client the protocol asks for.
PLAIN = """<!doctype html>
<html><head><meta charset="utf-8"><title>plain xterm.js</title>
<link rel="stylesheet" href="/static/vendor/xterm/xterm.css">
<script src="/static/vendor/xterm/xterm.js"></script></head>
<body><div id="term1"></div><script>
const term = new Terminal(TERMINAL_OPTIONS);
term.open(document.getElementById("term1"));
const ws = new WebSocket(`ws://${location.host}/ws/terminal/1`);
ws.binaryType = "arraybuffer";
let written = 0;
ws.onmessage = (m) => { if (typeof m.data === "string") return;
  const bytes = new Uint8Array(m.data);
  term.write(bytes, () => ws.send(JSON.stringify({type: "ack", bytes: written += bytes.length})));
};
term.onData((d) => ws.send(new TextEncoder().encode(d)));
term.focus();
</script></body></html>
"""

# Loaded into every page before its own scripts.
PROBE = r"""
(() => {
  const B = window.__bench = {};
  let armed = null;
  B.arm = (key, text) => {
    armed = {key, text};
    armed.done = new Promise((resolve) => { armed.resolve = resolve; });
  };
  B.wait = (ms) => Promise.race([armed.done, new Promise((_, reject) => setTimeout(
    () => reject(new Error("not seen: " + JSON.stringify(armed.text))), ms))]);
  addEventListener("keydown", (e) => {
    if (armed && armed.t0 === undefined && e.key === armed.key) armed.t0 = performance.now();
  }, true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (armed && armed.t0 !== undefined && armed.send === undefined && typeof data !== "string") {
      armed.send = performance.now();
    }
    return send.call(this, data);
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Added before the page sets onmessage, so it runs first.
      this.addEventListener("message", (m) => {
        if (armed && armed.send !== undefined && armed.frame === undefined &&
            typeof m.data !== "string") armed.frame = performance.now();
      });
    }
  };
  B.observe = (selector) => {
    const rows = document.querySelector(selector);
    const seen = (row) => row.textContent.replace(/\u00a0/g, " ").trimEnd().endsWith(armed.text);
    new MutationObserver((records) => {
      const now = performance.now();
      if (!armed || armed.t0 === undefined || armed.rows !== undefined) return;
      for (const r of records) {
        let row = r.target;
        while (row && row.parentNode !== rows) row = row.parentNode;
        const hit = row ? seen(row) : [...rows.children].some(seen);
        if (hit) {
          armed.rows = now;
          const a = armed;
          // A task queued now runs once the main thread has drawn this frame (style,
          // layout, paint): what the page costs the next key.
          const channel = new MessageChannel();
          channel.port1.onmessage = () => a.resolve({
            key: now - a.t0, send: a.send - a.t0, net: a.frame - a.send,
            render: now - a.frame, drawn: performance.now() - now});
          channel.port2.postMessage(0);
          return;
        }
      }
    }).observe(rows, {childList: true, subtree: true, characterData: true});
  };
})();
"""


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    xs = sorted(values)
    at = (len(xs) - 1) * q / 100
    lo = int(at)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (at - lo)


class Block:
    """One page, opened fresh, typed into, closed."""

    def __init__(self, context, base: str, kind: str, step: str, presenting: bool = False):
        self.page = page = context.new_page()
        url = f"{base}/step/{step}" if kind == "nslab" else f"{base}/__plain"
        page.goto(url)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#term1 .xterm-rows > div')]"
            ".some(r => r.textContent.includes('root@lab-'))", timeout=30_000)
        if kind == "nslab":  # the kernel picture's first layout (elk warming up) is done,
            page.wait_for_function(  # or the picture is collapsed: the page has settled
                "() => document.querySelector('#kernel.kp-collapsed') || "
                "document.querySelector('#kernel svg.kp-svg text')", timeout=30_000)
        if kind == "nslab" and presenting:  # the Trainer tab once, then back to typing
            page.click("#tab-trainer")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#presenter-term .xterm-rows > div')]"
                ".some(r => r.textContent.includes('0'.repeat(50)))", timeout=30_000)
            page.click("#tab-own")
        page.evaluate("() => __bench.observe('#term1 .xterm-rows')")
        page.click("#term1 .xterm-screen")
        self.typed = ""
        self.clear()

    def key(self, ch: str) -> dict:
        self.typed += ch
        self.page.evaluate("([k, t]) => __bench.arm(k, t)", [ch, "# " + self.typed])
        self.page.keyboard.press(ch)
        record = self.page.evaluate("() => __bench.wait(10000)")
        if len(self.typed) >= LINE:
            self.clear()
        time.sleep(random.uniform(0, 0.017))  # of no phase with the page's frames
        return record

    def clear(self) -> None:
        self.page.evaluate("() => __bench.arm('u', '#')")
        self.page.keyboard.press("Control+u")
        self.page.evaluate("() => __bench.wait(10000)")
        self.typed = ""

    def close(self) -> None:
        self.page.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=300, help="keys counted per page (default 300)")
    p.add_argument("--rounds", type=int, default=6,
                   help="blocks per page, taking turns (default 6)")
    p.add_argument("--step", default="intro", help="the step page to open (default intro)")
    p.add_argument("--lang", default="en", choices=["de", "en"])
    p.add_argument("--plain-options", default="{}", metavar="JSON",
                   help='options for the plain page\'s Terminal, e.g. \'{"cursorBlink": true}\'')
    p.add_argument("--picture", default="open", choices=["open", "closed"],
                   help="the kernel picture beside nslab's terminals (default open)")
    p.add_argument("--presenting", action="store_true",
                   help="the trainer presents; nslab's page opens its Trainer tab once")
    p.add_argument("--chromium", default=CHROMIUM)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    plain_html = PLAIN.replace("TERMINAL_OPTIONS", json.dumps(json.loads(args.plain_options)))
    per_block = max(1, args.keys // args.rounds)
    results: dict[str, list[dict]] = {"nslab": [], "plain": []}
    with lab_server("bench") as (base, _state, _server), sync_playwright() as pw:
        # A page that page.route() fulfilled has no address Chromium knows, so its Local
        # Network Access check would refuse the plain page's websocket to 127.0.0.1.
        browser = pw.chromium.launch(
            executable_path=args.chromium, headless=True,
            args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"])
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      locale="en-US" if args.lang == "en" else "de-DE")
        context.add_init_script(PROBE)
        context.add_init_script(f"localStorage.setItem('nslab.kernel.collapsed', "
                                f"'{'1' if args.picture == 'closed' else '0'}')")
        context.route(f"{base}/__plain", lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=plain_html))
        res = context.request.post(f"{base}/api/join", data={"name": "Bench"})
        if res.status != 201:
            raise SystemExit(f"join answered {res.status}: {res.text()}")
        context.request.get(f"{base}/step/{args.step}?lang={args.lang}")  # the session's language
        trainer = presenting(base) if args.presenting else None
        for r in range(args.rounds):
            for kind in (("nslab", "plain") if r % 2 == 0 else ("plain", "nslab")):
                block = Block(context, base, kind, args.step, args.presenting)
                for i in range(WARMUP):
                    block.key(KEYS[i % 26])
                for i in range(per_block):
                    results[kind].append(block.key(KEYS[i % 26]))
                block.close()
            done = sum(len(v) for v in results.values())
            print(f"round {r + 1}/{args.rounds}: {done} keys", file=sys.stderr, flush=True)
        if trainer is not None:
            trainer.set()
        browser.close()
    report(results, args)


def presenting(base: str) -> threading.Event:
    """The trainer presenting, with some output on their terminal 1, until the event is set."""
    from bench.presenter import PRINTER, Trainer

    me = Trainer(base, "bench")
    me.until(b"# ")
    me.ws.send((PRINTER + "\r").encode())
    me.until(b"0" * 100)
    req = urllib.request.Request(base + "/api/trainer/present", method="POST",
                                 data=json.dumps({"on": True}).encode(),
                                 headers={"Authorization": "Bearer bench",
                                          "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()
    done = threading.Event()

    def read() -> None:  # as the trainer's page does: take the output, acknowledge it
        while not done.is_set():
            me.recv(0.2)
        me.ws.close()

    threading.Thread(target=read, daemon=True).start()
    return done


def report(results: dict[str, list[dict]], args) -> None:
    qs = (50, 90, 99, 100)
    print(f"\nkeystroke echo in headless Chromium, {len(results['nslab'])} keys per page "
          f"in {args.rounds} blocks each, ms"
          + (", the trainer presenting (nslab's page opened its Trainer tab once)"
             if args.presenting else ""))
    print(f"{'':<40}" + "".join(f"{'p' + str(q) if q < 100 else 'max':>9}" for q in qs))
    rows = [("key -> character in the rows", "key"), ("  key -> ws.send", "send"),
            ("  ws.send -> echo frame arrives", "net"), ("  echo frame -> rows", "render"),
            ("  rows -> frame drawn", "drawn")]
    for label, field in rows:
        for kind in ("nslab", "plain"):
            v = [x[field] for x in results[kind]]
            print(f"{label + ', ' + kind:<40}" + "".join(f"{pct(v, q):9.2f}" for q in qs))
    key = {k: [x["key"] for x in v] for k, v in results.items()}
    diff = {q: pct(key["nslab"], q) - pct(key["plain"], q) for q in qs}
    print(f"{'nslab - plain':<40}" + "".join(f"{diff[q]:+9.2f}" for q in qs))
    for q, goal in ((50, GOAL_P50), (99, GOAL_P99)):
        met = "met" if diff[q] <= goal else "not met"
        print(f"goal: p{q} within {goal:g} ms of the plain page: {diff[q]:+.2f} ms, {met}")


if __name__ == "__main__":
    main()
