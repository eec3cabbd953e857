// The trainer's Present switch, on the trainer's step page, the console and the projector
// view: POST /api/trainer/present {"on": bool}. On, every attendee's page gets a "Trainer" tab
// with the trainer's terminal 1 (read-only) and kernel picture. The switch may have been
// flipped on another of the trainer's pages, so it asks again whenever its page comes back
// into sight.
"use strict";

(() => {
  const switches = [...document.querySelectorAll("button[role=switch][data-present]")];
  if (!switches.length) return;

  function show(state) {
    for (const b of switches) {
      b.setAttribute("aria-checked", String(state.presenting));
      b.title = state.presenting ? b.dataset.on : b.dataset.off;
      b.classList.remove("failed");
    }
    document.dispatchEvent(new CustomEvent("nslab:presenting", {detail: state}));
  }

  function failed(message) {
    for (const b of switches) {
      b.title = message;
      b.classList.add("failed");
    }
  }

  async function call(body) {
    const res = await fetch("/api/trainer/present", body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || `${res.status} ${res.statusText}`);
    return data;
  }

  for (const b of switches) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { show(await call({on: b.getAttribute("aria-checked") !== "true"})); }
      catch (e) { failed(e.message); }
      finally { b.disabled = false; }
    });
  }
  async function again() {
    try { show(await call()); } catch (e) { /* the next click says why */ }
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") again();
  });
  if (switches.some((b) => !b.hasAttribute("aria-checked"))) again();  // a page that did not say
  // The trainer's own terminals may say it too (step.js hands their events on).
  document.addEventListener("nslab:presenter", (e) => show(e.detail));
})();
