"""From a prompt to the new kernel picture on the step page, in headless Chromium.

Used by `bench/kernel.py page`. One attendee on the network step's page (its picture opens
on the network view); each round types `ip link add nslabN type veth peer name peerN` into
terminal 1 with the keyboard, and the page itself (performance.now(), polled every frame)
notes when the prompt after that command reaches it (terminal 1's "command" event) and when
the picture's SVG first shows nslabN. The difference is what an attendee waits for the
picture after the command.
"""

from __future__ import annotations

import json
import urllib.request

from bench.browser import CHROMIUM, CHROMIUM_ARGS

# Before the page's scripts: note when terminal 1 says a command has finished (its prompt
# is back: the "command" event), as it arrives.
PROMPTS = """(() => {
  const Original = window.WebSocket;
  window.nslabPrompts = [];
  window.WebSocket = class extends Original {
    constructor(...args) {
      super(...args);
      if (String(args[0]).endsWith("/ws/terminal/1")) this.addEventListener("message", (m) => {
        if (typeof m.data === "string" && JSON.parse(m.data).type === "command") {
          window.nslabPrompts.push(performance.now());
        }
      });
    }
  };
})();"""

MEASURE = """([seen, needle]) => { window.nslabMeasure = new Promise((resolve) => {
  const svg = () => document.querySelector("#kernel svg.kp-svg");
  const tick = () => {
    const prompt = window.nslabPrompts[seen];
    if (prompt !== undefined && svg() && svg().textContent.includes(needle)) {
      resolve(Math.max(0, performance.now() - prompt));
      return;
    }
    requestAnimationFrame(tick);
  };
  tick();
}); }"""


def prompt_to_picture(base: str, rounds: int, pause: float = 1.5) -> list[float]:
    """Milliseconds from each command's prompt to the picture showing what it made; pause:
    seconds between a picture and the next command (reads come at most once a second, so
    commands typed faster than that wait for the second to pass)."""
    from playwright.sync_api import sync_playwright

    req = urllib.request.Request(base + "/api/join", data=json.dumps({"name": "bild"}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as res:
        cookies = [c.split(";")[0].split("=", 1) for c in res.headers.get_all("Set-Cookie")]
    delays = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"])
        context = browser.new_context(viewport={"width": 1800, "height": 1000})
        context.add_cookies([{"name": n, "value": v, "url": base} for n, v in cookies])
        context.add_init_script(PROMPTS)
        page = context.new_page()
        page.goto(base + "/step/network?lang=en")
        page.wait_for_selector("#kernel svg.kp-svg text", timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('#term1 .xterm-rows > div')]"
                               ".some((r) => r.textContent.includes('root@lab-'))",
                               timeout=30_000)
        page.click("#term1")
        for i in range(rounds):
            command = f"ip link add nslab{i} type veth peer name peer{i}"
            seen = page.evaluate("() => window.nslabPrompts.length")
            page.evaluate(MEASURE, [seen, f"nslab{i}"])  # starts watching, returns at once
            page.keyboard.type(command + "\n")
            delays.append(page.evaluate("() => window.nslabMeasure"))
            page.wait_for_timeout(pause * 1000)
        browser.close()
    return delays
