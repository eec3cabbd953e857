// The trainer's console: a live grid of the room (sorted and filtered as the trainer chose,
// across live updates), watching and taking over terminals. glance.js comes first.
"use strict";

const {steps, at, t, cell, since, hand} = nslab.glance;
const consoleEl = document.getElementById("console");
const rows = document.getElementById("rows");
const statusEl = document.getElementById("status");
const stepIds = new Set(steps.map((s) => s.id));
let watching = null;
let picture = null;   // the watched attendee's kernel picture
let latest = [];      // the attendees of the last live update, in the server's order

// What the grid shows of them: the trainer's sort and filters, kept across live updates.
// sort null: the server's order (raised hands first, longest waiting first, then by joining).
const view = {sort: null, dir: 1, filter: "", step: null};
let picked = null;    // the attendee whose row a click in the glance brought up, for a while

async function post(path, body) {
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || res.statusText);
  return data;
}

function note(text) { statusEl.textContent = text; }

function button(label, action, className, title) {
  const b = cell("button", label, className || "quiet");
  b.type = "button";
  b.onclick = action;
  if (title) b.title = title;
  return b;
}

const passedHere = (a) => a.passed.filter((s) => stepIds.has(s)).length;

// Each sort, as a comparison; ascending is the order the trainer most likely wants first:
// names A to Z, the furthest behind first, the longest stuck first (then who passed their
// step, longest there first), the fewest passed first.
const byName = (a, b) => a.name.localeCompare(b.name, undefined, {sensitivity: "base"});
const byNumber = (key) => (a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : 0; };
const SORTS = {
  name: byName,
  step: byNumber((a) => (at.has(a.step) ? at.get(a.step) : Infinity)),
  stuck: (a, b) => (!a.stuck_since - !b.stuck_since) ||
                   byNumber((x) => x.step_since ?? Infinity)(a, b),
  passed: byNumber(passedHere),
};

function arranged() {
  const q = view.filter.trim().toLocaleLowerCase();
  const shown = latest.filter((a) => (!q || a.name.toLocaleLowerCase().includes(q)) &&
                                      (!view.step || a.step === view.step));
  if (!view.sort) return shown;
  const compare = SORTS[view.sort];
  return shown.sort((a, b) => view.dir * compare(a, b) || byName(a, b) || a.id - b.id);
}

// How each task of a step was solved, a mark per task in the step's cell.
const SOLVED = {alone: "●", hint: "◐", solution: "◔", catchup: "»"};

function taskMark(index, how) {
  const el = cell("span", SOLVED[how] || "○", `task ${how || "open"}`);
  el.title = `${t("task")} ${index}: ${t(how || "open")}`;
  return el;
}

function row(a) {
  const tr = cell("tr", undefined, a.hand_raised ? "hand" : "");
  tr.dataset.id = a.id;
  if (a.id === picked) tr.classList.add("picked");
  const name = cell("td", undefined, "name");
  name.title = a.name;
  name.append(cell("span", "●", a.connected ? "online" : "offline"), " ", a.name);
  if (a.hand_raised) name.append(" ", hand());
  if (a.watched) name.append(" ", cell("span", a.taken_over ? "⌨" : "◉", "watched"));
  tr.appendChild(name);
  const current = at.has(a.step) ? at.get(a.step) : -1;
  tr.appendChild(cell("td", current >= 0 ? `${current + 1}` : "–", "now"));
  const time = cell("td", undefined, a.stuck_since ? "time unpassed" : "time");
  if (a.step && a.step_since) time.appendChild(since(a.step_since));
  tr.append(time, cell("td", `${passedHere(a)}`, "count"));
  for (const s of steps) {
    const passed = a.passed.includes(s.id), failed = a.failed.includes(s.id);
    const na = s.available === false;
    const td = cell("td", na ? "n/a" : passed ? "✓" : failed ? "✗" : "·",
                    (na ? "na" : passed ? "passed" : failed ? "failed" : "untried") +
                    (a.step === s.id ? " here" : ""));
    const fails = (a.fails || {})[s.id];
    td.title = na ? `${s.title}: ${t("na")}` : fails ? `${s.title}: ${t("fails", {n: fails})}`
      : s.title;
    if (!na) for (const i of s.tasks || []) td.appendChild(taskMark(i, (a.tasks || {})[`${s.id}/${i}`]));
    tr.appendChild(td);
  }
  const actions = cell("td", undefined, "actions");
  actions.append(
    button("T1", () => watch(a, 1, false), "", t("watch", {n: 1})),
    button("T2", () => watch(a, 2, false), "", t("watch", {n: 2})),
    button(t("take_over"), () => watch(a, 1, true)),
    button(t("reset"), async () => {
      if (!confirm(t("reset_q", {name: a.name}))) return;
      try { await post("/api/trainer/reset", {attendee: a.id}); note(t("fresh", {name: a.name})); }
      catch (e) { note(e.message); }
    }));
  if (a.hand_raised) {
    const ok = button(" ok", () => post("/api/trainer/hand", {attendee: a.id}), "", t("lower"));
    ok.prepend(hand());
    actions.append(ok);
  }
  tr.appendChild(actions);
  return tr;
}

function show() {
  nslab.glance.draw(latest, view.step, reveal);
  const shown = arranged();
  rows.replaceChildren(...shown.map(row));
  if (!shown.length) {
    const td = cell("td", latest.length ? t("no_match") : t("nobody"));
    td.colSpan = steps.length + 5;
    rows.appendChild(cell("tr")).appendChild(td);
  }
  document.getElementById("shown").textContent =
    shown.length < latest.length ? t("shown", {n: shown.length, all: latest.length}) : "";
  const chip = document.getElementById("step-filter");
  chip.hidden = !view.step;
  if (view.step) chip.textContent = `${t("step")} ${at.get(view.step) + 1} ✕ ${t("clear")}`;
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort !== view.sort ? "none"
      : view.dir > 0 ? "ascending" : "descending");
  }
}

// A stuck attendee clicked in the glance: their row, found even if a filter hid it.
function reveal(a) {
  if (!arranged().some((b) => b.id === a.id)) {
    view.filter = document.getElementById("filter").value = "";
    view.step = null;
  }
  picked = a.id;
  show();
  rows.querySelector(`tr[data-id="${a.id}"]`)?.scrollIntoView({block: "center"});
  setTimeout(() => { if (picked === a.id) { picked = null; show(); } }, 3000);
}

document.getElementById("filter").oninput = (e) => { view.filter = e.target.value; show(); };
document.getElementById("step-filter").onclick = () => { view.step = null; show(); };
for (const b of document.querySelectorAll("#glance button[data-step]")) {
  b.onclick = () => { view.step = view.step === b.dataset.step ? null : b.dataset.step; show(); };
}
// A header sorts by it; again, the other way round; a third time, back to the server's order.
for (const th of document.querySelectorAll("th[data-sort]")) {
  th.querySelector("button").onclick = () => {
    if (view.sort !== th.dataset.sort) Object.assign(view, {sort: th.dataset.sort, dir: 1});
    else if (view.dir > 0) view.dir = -1;
    else view.sort = null;
    show();
  };
}

async function watch(a, n, takeover) {
  if (watching) watching.dispose();
  if (picture) picture.dispose();
  picture = new nslab.KernelPicture(document.getElementById("watch-kernel"),
    {url: `/api/trainer/attendees/${a.id}/kernel`, lang: consoleEl.dataset.lang,
     view: picture ? picture.view : "processes"});
  const panel = document.getElementById("watch");
  panel.hidden = false;
  panel.scrollIntoView({block: "start"});   // below a long grid: brought into sight
  document.getElementById("watch-title").textContent =
    `${a.name} · T${n} · ${takeover ? t("taken_over") : t("watching")}`;
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
  try { const r = await post("/api/trainer/goto", {step}); note(t("sent", {n: r.sent, step})); }
  catch (e) { note(e.message); }
};

document.getElementById("new-group").onclick = async () => {
  if (!confirm(t("csv_q"))) return;
  document.getElementById("csv").click();
  if (!confirm(t("new_q"))) return;
  try {
    const r = await post("/api/trainer/reset", {all: true});
    document.getElementById("code").textContent = r.code || "—";
    note(t("new_done"));
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
  nslab.glance.setClock(data.now);
  document.getElementById("code").textContent = data.code || "—";
  latest = data.attendees;
  show();
};
events.onerror = () => note(t("reconnecting"));
events.onopen = () => note("");
