// The trainer's console: a live grid of the room, watching and taking over terminals.
"use strict";

const consoleEl = document.getElementById("console");
const steps = JSON.parse(consoleEl.dataset.steps);
const rows = document.getElementById("rows");
const statusEl = document.getElementById("status");
let watching = null;
let picture = null;   // the watched attendee's kernel picture

async function post(path, body) {
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || res.statusText);
  return data;
}

function note(text) { statusEl.textContent = text; }

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min`;
}

let clockOffset = 0; // the server's clock minus this browser's, in seconds

function secondsSince(timestamp) {
  return Math.max(0, Math.round(Date.now() / 1000 + clockOffset - timestamp));
}

// The list is sent again only when something changes; the time on a step counts on here.
setInterval(() => {
  for (const el of document.querySelectorAll(".since")) {
    el.textContent = minutes(secondsSince(Number(el.dataset.since)));
  }
}, 5000);

function cell(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

function button(label, action, className) {
  const b = cell("button", label, className || "quiet");
  b.type = "button";
  b.onclick = action;
  return b;
}

// How each task of a step was solved, a mark per task in the step's cell.
const SOLVED = {
  alone: ["●", "allein gelöst · solved alone"],
  hint: ["◐", "nach dem Hinweis · after the hint"],
  solution: ["◔", "nach der Lösung · after the solution"],
  catchup: ["»", "durch Aufholen · by Catch-up"],
};

function taskMark(step, index, how) {
  const [mark, words] = SOLVED[how] || ["○", "noch offen · not solved yet"];
  const el = cell("span", mark, `task ${how || "open"}`);
  el.title = `Aufgabe · task ${index}: ${words}`;
  return el;
}

function render(attendees) {
  rows.replaceChildren();
  if (!attendees.length) {
    const tr = cell("tr");
    const td = cell("td", "Noch niemand da. · Nobody has joined yet.");
    td.colSpan = steps.length + 3;
    tr.appendChild(td);
    rows.appendChild(tr);
  }
  for (const a of attendees) {
    const tr = cell("tr", undefined, a.hand_raised ? "hand" : "");
    const name = cell("td", undefined, "name");
    name.append(cell("span", "●", a.connected ? "online" : "offline"), " ", a.name);
    if (a.hand_raised) name.append(" ", cell("span", "✋", "raised"));
    if (a.watched) name.append(" ", cell("span", a.taken_over ? "⌨" : "👁", "watched"));
    tr.appendChild(name);
    const current = steps.findIndex((s) => s.id === a.step);
    const where = cell("td", a.step ? `${current + 1} · ` : "–");
    if (a.step && a.step_since) {
      const since = cell("span", minutes(secondsSince(a.step_since)), "since");
      since.dataset.since = a.step_since;
      where.appendChild(since);
    }
    tr.appendChild(where);
    for (const s of steps) {
      const passed = a.passed.includes(s.id), failed = a.failed.includes(s.id);
      const na = s.available === false;
      const td = cell("td", na ? "n/a" : passed ? "✓" : failed ? "✗" : "·",
                      (na ? "na" : passed ? "passed" : failed ? "failed" : "untried") +
                      (a.step === s.id ? " here" : ""));
      td.title = na ? `${s.title}: hier nicht verfügbar · not available here` : s.title;
      if (!na) for (const i of s.tasks || []) td.appendChild(taskMark(s, i, (a.tasks || {})[`${s.id}/${i}`]));
      tr.appendChild(td);
    }
    const actions = cell("td", undefined, "actions");
    actions.append(
      button("T1", () => watch(a, 1, false)), button("T2", () => watch(a, 2, false)),
      button("Übernehmen", () => watch(a, 1, true)),
      button("Reset", async () => {
        if (!confirm(`Lab-Host von ${a.name} neu aufsetzen?`)) return;
        try { await post("/api/trainer/reset", {attendee: a.id}); note(`${a.name}: frischer Lab-Host.`); }
        catch (e) { note(e.message); }
      }));
    if (a.hand_raised) actions.append(button("✋ ok", () => post("/api/trainer/hand", {attendee: a.id})));
    tr.appendChild(actions);
    rows.appendChild(tr);
  }
}

async function watch(a, n, takeover) {
  if (watching) watching.dispose();
  if (picture) picture.dispose();
  picture = new nslab.KernelPicture(document.getElementById("watch-kernel"),
    {url: `/api/trainer/attendees/${a.id}/kernel`, lang: "both", view: picture ? picture.view : "processes"});
  const panel = document.getElementById("watch");
  panel.hidden = false;
  document.getElementById("watch-title").textContent =
    `${a.name} · T${n} · ${takeover ? "übernommen (du tippst mit) · taken over" : "nur zusehen · watching"}`;
  const el = document.getElementById("watch-term");
  el.replaceChildren();
  watching = await nslab.openTerminal(el, n, {fontSize: 13,
    path: `/ws/trainer/watch/${a.id}/${n}${takeover ? "?takeover=1" : ""}`});
  const shown = picture;   // the watch socket announces the attendee's changes
  watching.on("kernel", (msg) => shown.announce(msg.version));
}

document.getElementById("watch-close").onclick = () => {
  if (watching) watching.dispose();
  if (picture) picture.dispose();
  watching = picture = null;
  document.getElementById("watch").hidden = true;
};

document.getElementById("goto").onclick = async () => {
  const step = document.getElementById("goto-step").value;
  try { const r = await post("/api/trainer/goto", {step}); note(`${r.sent} Teilnehmende zu „${step}“ geschickt.`); }
  catch (e) { note(e.message); }
};

document.getElementById("new-group").onclick = async () => {
  if (!confirm("Neue Gruppe: zuerst den Fortschritt als CSV sichern? (OK lädt die CSV herunter)")) return;
  document.getElementById("csv").click();
  if (!confirm("Jetzt alle Lab-Hosts beenden, alle Teilnehmenden und ihren Fortschritt löschen und einen neuen Code setzen?")) return;
  try {
    const r = await post("/api/trainer/reset", {all: true});
    document.getElementById("code").textContent = r.code || "—";
    note("Neue Gruppe gestartet. · New group started.");
  } catch (e) { note(e.message); }
};

for (const box of document.querySelectorAll("#chapters input")) {
  box.onchange = async () => {
    const on = [...document.querySelectorAll("#chapters input:checked")].map((b) => b.value);
    try { await post("/api/trainer/chapters", {chapters: on}); location.reload(); }
    catch (e) { box.checked = !box.checked; note(e.message); }
  };
}

const events = new EventSource("/api/trainer/events");
events.onmessage = (m) => {
  const data = JSON.parse(m.data);
  clockOffset = data.now - Date.now() / 1000;
  document.getElementById("code").textContent = data.code || "—";
  render(data.attendees);
};
events.onerror = () => note("Verbindung unterbrochen, verbinde neu … · reconnecting …");
events.onopen = () => note("");
