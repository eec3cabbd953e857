// The trainer console's first script: its texts, small DOM helpers, the clock, and the room
// at a glance above the grid (per step how many passed, failed or are on it now, and who is
// stuck longest). trainer.js, the second, feeds it the attendees of each live update.
//
// Every text that comes from an attendee goes into the page by textContent only: a name is
// the attendee's to choose, and must never become markup.
"use strict";

(() => {
  const consoleEl = document.getElementById("console");
  const steps = JSON.parse(consoleEl.dataset.steps);
  const T = JSON.parse(consoleEl.dataset.texts);
  const STUCK_SHOWN = 5;   // "the few": what fits one row of the projector at 1280 px
  const COUNTS = ["passed", "failed", "working", "hands"];
  const at = new Map(steps.map((s, i) => [s.id, i]));   // step id -> its column

  function t(key, vars = {}) {
    return T[key].replace(/\{(\w+)\}/g, (_, k) => vars[k]);
  }

  function cell(tag, text, className) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min`;
  }

  let clockOffset = 0;   // the server's clock minus this browser's, in seconds

  function secondsSince(timestamp) {
    return Math.max(0, Math.round(Date.now() / 1000 + clockOffset - timestamp));
  }

  // A raised hand, drawn by nslab.css: the ✋ emoji needs an emoji font, and the machine at
  // the projector may have none.
  function hand() {
    const el = cell("span", undefined, "raised hand-icon");
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", "✋");
    el.title = t("hands");
    return el;
  }

  // A time since then that counts on by itself: the list is sent again only when it changes.
  function since(timestamp, className = "") {
    const el = cell("span", minutes(secondsSince(timestamp)), `since ${className}`.trim());
    el.dataset.since = timestamp;
    return el;
  }

  setInterval(() => {
    for (const el of document.querySelectorAll(".since")) {
      el.textContent = minutes(secondsSince(Number(el.dataset.since)));
    }
  }, 5000);

  // Per step of this group's chapters: passed and failed (the last check), working (their
  // current step and not passed), hands raised (on that step).
  function count(attendees) {
    const n = Object.fromEntries(steps.map((s) => [s.id, {passed: 0, failed: 0, working: 0,
                                                           hands: 0}]));
    for (const a of attendees) {
      for (const s of a.passed) if (n[s]) n[s].passed++;
      for (const s of a.failed) if (n[s]) n[s].failed++;
      const here = n[a.step];
      if (!here) continue;
      if (!a.passed.includes(a.step)) here.working++;
      if (a.hand_raised) here.hands++;
    }
    return n;
  }

  // Who has been on their current step longest without passing it (a step this lab cannot
  // run is left out: nobody can pass it here).
  function stuckest(attendees) {
    return attendees
      .filter((a) => a.stuck_since && at.has(a.step) && steps[at.get(a.step)].available !== false)
      .sort((a, b) => a.stuck_since - b.stuck_since || a.id - b.id)
      .slice(0, STUCK_SHOWN);
  }

  function drawSteps(attendees, chosen) {
    const n = count(attendees), all = attendees.length || 1;
    for (const button of document.querySelectorAll("#glance button[data-step]")) {
      const c = n[button.dataset.step];
      for (const key of COUNTS) {
        const shown = button.querySelector(`.n-${key}`);
        shown.querySelector("b").textContent = c[key];
        shown.classList.toggle("zero", !c[key]);
      }
      button.querySelector(".g-passed").style.width = `${100 * c.passed / all}%`;
      button.querySelector(".g-failed").style.width = `${100 * c.failed / all}%`;
      button.classList.toggle("busy", c.working > 0);
      button.setAttribute("aria-pressed", String(button.dataset.step === chosen));
    }
  }

  function drawStuck(attendees, pick) {
    const list = document.getElementById("stuck");
    const found = stuckest(attendees);
    list.replaceChildren(...found.map((a) => {
      const i = at.get(a.step), fails = (a.fails || {})[a.step];
      const b = cell("button", undefined, "quiet");
      b.type = "button";
      b.title = `${a.name} · ${t("step")} ${i + 1}: ${steps[i].title}`;
      b.append(cell("span", a.name, "s-name"), cell("span", `${i + 1}`, "s-step"),
               since(a.stuck_since, "s-time"));
      if (fails) b.append(cell("span", `✗${fails}`, "s-fails"));
      if (a.hand_raised) b.append(hand());
      b.onclick = () => pick(a);
      const li = cell("li");
      li.dataset.id = a.id;
      li.append(b);
      return li;
    }));
    if (!found.length) list.append(cell("li", t("nobody_stuck"), "none"));
  }

  window.nslab = Object.assign(window.nslab || {}, {glance: {
    steps, at, t, cell, since, hand,
    setClock(now) { clockOffset = now - Date.now() / 1000; },
    // The glance for these attendees; chosen: the step the grid is filtered to (or null);
    // pick(attendee): what a click on a stuck attendee does.
    draw(attendees, chosen, pick) { drawSteps(attendees, chosen); drawStuck(attendees, pick); },
  }});
})();
