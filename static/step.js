// The step page: Run, Copy, Check, Catch-up, and the two terminals beside the text. The
// trainer's own step page is the same page on the trainer's routes (data-urls says which).
"use strict";

const page = document.getElementById("page");
const stepId = page.dataset.step;
const T = JSON.parse(page.dataset.texts);
const urls = JSON.parse(page.dataset.urls);
const trainerMode = page.dataset.mode === "trainer";
const terminals = {};
// "The lab was restarted": said once, and gone when the person has read it.
document.querySelector("#restarted .banner-close").onclick = (e) => {
  e.currentTarget.parentElement.hidden = true;
};

// What happened to this page's lab host that the person did not do: said in the same place
// (link: {href, text}, a way on).
function notice(text, link) {
  const banner = document.getElementById("restarted");
  const parts = [text];
  if (link) {
    parts.push(" ", Object.assign(document.createElement("a"),
                                  {className: "button", href: link.href, textContent: link.text}));
  }
  banner.replaceChildren(...parts, banner.querySelector(".banner-close"));
  banner.hidden = false;
}

// The step list on a narrow window (nslab.css): it opens over the text from the bar's
// button, and closes with Escape, a click beside it, the focus leaving it, or the button.
const stepsToggle = document.getElementById("steps-toggle");
const sidebar = document.getElementById("steps");
function showSteps(open) {
  if (open) {  // just under the bar, however high it has wrapped
    const bar = document.querySelector(".bar").getBoundingClientRect();
    sidebar.style.setProperty("--bar-height", `${Math.max(0, bar.bottom)}px`);
  }
  sidebar.classList.toggle("open", open);
  stepsToggle.setAttribute("aria-expanded", String(open));
  if (open) (sidebar.querySelector("li.current a") || sidebar.querySelector("a")).focus();
}
stepsToggle.addEventListener("click", () => showSteps(!sidebar.classList.contains("open")));
const inSteps = (el) => el && (sidebar.contains(el) || stepsToggle.contains(el));
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || !sidebar.classList.contains("open") || !inSteps(e.target)) return;
  showSteps(false);
  stepsToggle.focus();
});
// Tabbing on past it: the open list would cover what has the focus now.
sidebar.addEventListener("focusout", (e) => {
  if (sidebar.classList.contains("open") && e.relatedTarget && !inSteps(e.relatedTarget)) {
    showSteps(false);
  }
});
document.addEventListener("click", (e) => {
  if (sidebar.classList.contains("open") && !inSteps(e.target)) showSteps(false);
});

async function api(path, body) {
  let res;
  try {
    res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : {"Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {  // the browser's own words ("Failed to fetch") tell a person nothing
    throw new Error(T.offline);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON: reported below */ }
  // The server's messages are English; these two a person meets in a class are the page's.
  if (res.status === 401 && !trainerMode) throw new Error(T.session);
  if (!res.ok) throw new Error((data && data.message) || `${res.status} ${res.statusText}`);
  return data;
}

function showResult(figure, text, ok) {
  const out = figure.querySelector(".result");
  out.hidden = false;
  out.className = "result" + (ok === true ? " ok" : ok === false ? " bad" : "");
  out.textContent = text;
}

// Where this lab host's Run, Check or Catch-up is: its place in the queue, or which block
// (of which step) runs. The terminals' "progress" event says each change; GET
// /api/me/progress (urls.progress) says it again for a page that was not listening (a
// terminal socket that was closed by Catch-up's fresh lab host, a page loaded in the middle
// of it).
const progressBox = document.getElementById("progress");
let runningFigure = null;  // the block whose Run this page waits for
let pending = 0;  // this page's requests underway

function fill(text, vars) {
  return Object.entries(vars).reduce((t, [k, v]) => t.replaceAll(`{${k}}`, v), text);
}

// What to say of a queued or working request; null for work too short to be worth a line
// (one block's Run says "running" at its block already, a Check takes a moment).
function progressText(p) {
  if (p.state === "queued") return fill(T.queued, p);
  if (p.what === "run" && p.blocks > 1) return fill(T.running_of, p);
  if (p.what !== "catchup") return null;
  if (!p.at) return T.fresh;  // Catch-up makes the lab host afresh first
  if (p.done === p.total) return fill(T.catchup_check, p);
  return fill(T.catchup_at, {...p, step: p.step_no, title: p.title[page.dataset.lang] || p.at});
}

function showProgress(p) {
  const text = p && (p.state === "queued" || p.state === "working") ? progressText(p) : null;
  // A queued Run says so where it was pressed, too.
  if (runningFigure && p && p.what === "run" && p.step === stepId) {
    showResult(runningFigure, p.state === "queued" ? text : T.running);
  }
  if (!text) {
    progressBox.replaceChildren();
    return;
  }
  let line = progressBox.querySelector(".progress-text");
  if (!line) {
    line = Object.assign(document.createElement("p"), {className: "progress-text"});
    progressBox.replaceChildren(line);
  }
  if (line.textContent !== text) line.textContent = text;
  progressBox.classList.toggle("queued", p.state === "queued");
  let bar = progressBox.querySelector("progress");
  if (p.what === "catchup" && p.state === "working" && p.total) {
    if (!bar) {
      bar = Object.assign(document.createElement("progress"), {max: 1});
      bar.setAttribute("aria-label", T.progress);
      progressBox.appendChild(bar);
    }
    bar.max = p.total;
    bar.value = p.done;
  } else if (bar) {
    bar.remove();
  }
}

async function refreshProgress() {
  try { showProgress(await api(urls.progress)); } catch (e) { /* the next event tells */ }
}

// While a request of this page is underway and no terminal socket is open to hear the
// events, ask now and then.
setInterval(() => {
  const hearing = Object.values(terminals).some((t) => t.ws && t.ws.readyState === WebSocket.OPEN);
  if (pending && !hearing) refreshProgress();
}, 2000);

async function underway(work) {
  pending += 1;
  try {
    return await work();
  } finally {
    pending -= 1;
    refreshProgress();  // the "done" event may have gone to a socket that was reconnecting
  }
}

// byKeyboard: Run was pressed with Enter or Space, and the focus stays on it (the terminal
// would keep a keyboard user in it; a mouse user goes on typing there).
async function runBlock(figure, byKeyboard) {
  const button = figure.querySelector(".run");
  const index = Number(figure.dataset.block);
  const term = terminals[figure.querySelector(".where").textContent === "T2" ? 2 : 1];
  // Not `disabled` while it runs: that would drop a keyboard user's focus to the page's top.
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  showResult(figure, T.running);
  runningFigure = figure;
  try {
    const {results} = await underway(() => api(`${urls.api}/steps/${stepId}/run`, {block: index}));
    runningFigure = null;  // the answer is here: a late event must not cover it
    const r = results[0];
    const expected = blockInfo[index].expect;
    const ok = r.exit_code === null || expected === null ? null : r.exit_code === expected;
    let text = r.exit_code === null ? "" : `${T.exit} ${r.exit_code}`;
    if (ok === false) text += ` (${T.expected} ${expected})`;
    showResult(figure, text, ok);
    await refreshCommands();
  } catch (e) {
    if (runningFigure === figure) runningFigure = null;
    showResult(figure, e.message, false);
  } finally {
    button.removeAttribute("aria-disabled");
    button.disabled = !blockInfo[index].ready;
    if (term && !byKeyboard) term.term.focus();
  }
}

let blockInfo = [];

async function refreshCommands() {
  // Placeholders (a container's PID) are filled in once the lab host has what they name.
  const step = await api(`${urls.api}/steps/${stepId}`);
  blockInfo = step.blocks;
  for (const b of step.blocks) {
    const figure = document.querySelector(`figure[data-block="${b.index}"]`);
    if (!figure) continue;
    if (b.kind === "task") { showTask(figure, b); continue; }
    figure.querySelector("code").textContent = b.command;
    const run = figure.querySelector(".run");
    if (run) {
      run.disabled = !b.ready;
      run.title = b.ready ? "" : T.waiting_pid;
    }
  }
}

// Hints are written with `code` in them: shown as code, every piece set as text.
function withCode(el, text) {
  el.replaceChildren(...String(text).split("`").map((piece, i) =>
    i % 2 ? Object.assign(document.createElement("code"), {textContent: piece}) : piece));
  return el;
}

// A task: its hint and solution once asked for (or after a wrong attempt), ✓ once solved.
function showTask(figure, b) {
  const hint = figure.querySelector(".taskhint");
  if (b.hint) { withCode(hint, b.hint); hint.hidden = false; }
  const solution = figure.querySelector(".solution");
  if (b.command) { solution.querySelector("code").textContent = b.command; solution.hidden = false; }
  figure.classList.toggle("solved", Boolean(b.solved));
  figure.querySelector(".solvedmark").hidden = !b.solved;
}

async function taskHelp(figure, what) {
  try {
    const answer = await api(`${urls.api}/steps/${stepId}/tasks/${figure.dataset.block}/${what}`, {});
    showTask(figure, {hint: answer.hint, command: answer.command,
                      solved: figure.classList.contains("solved")});
  } catch (e) {
    const hint = figure.querySelector(".taskhint");
    hint.textContent = e.message;
    hint.hidden = false;
  }
}

function showChecks(result) {
  const list = document.getElementById("checklist");
  list.replaceChildren();
  if (result.available === false) {
    list.appendChild(Object.assign(document.createElement("li"), {className: "unavailable",
      textContent: T.unavailable.replace("{what}", result.missing.join(", "))}));
    return;
  }
  for (const c of result.checks) {
    const li = document.createElement("li");
    li.className = c.passed ? "passed" : "failed";
    withCode(li, c.passed ? c.title : `${c.title}: ${c.hint}`);
    list.appendChild(li);
  }
  if (result.passed) {
    const li = document.createElement("li");
    li.className = "passed all";
    li.textContent = T.all_ok;
    list.appendChild(li);
  }
  const side = document.querySelector(`.sidebar li[data-step="${stepId}"]`);
  side.classList.toggle("passed", result.passed);
  side.classList.toggle("failed", !result.passed);
}

async function check(button, path, body) {
  button.disabled = true;
  try {
    showChecks(await underway(() => api(path, body)));
    await refreshCommands();
  } catch (e) {
    const list = document.getElementById("checklist");
    list.replaceChildren(Object.assign(document.createElement("li"),
                                       {className: "failed", textContent: e.message}));
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (e) => {
  const figure = e.target.closest("figure.block");
  if (e.target.matches(".run") && figure) runBlock(figure, e.detail === 0);
  if (e.target.matches(".show-hint") && figure) taskHelp(figure, "hint");
  if (e.target.matches(".show-solution") && figure) taskHelp(figure, "solution");
  if (e.target.matches(".copy") && figure) {
    nslab.copyText(figure.querySelector("code").textContent).then(() => {
      e.target.textContent = T.copied;
      setTimeout(() => { e.target.textContent = T.copy_label; }, 1000);
    });
  }
});

document.getElementById("check").addEventListener("click", (e) =>
  check(e.target, `${urls.api}/steps/${stepId}/check`, {}));
document.getElementById("solve").addEventListener("click", (e) => {
  if (confirm(T.solve_q)) check(e.target, `${urls.api}/steps/${stepId}/solve`, {});
});
document.getElementById("reset").addEventListener("click", async () => {
  if (confirm(T.reset_q)) await api(urls.reset, urls.reset_body);
});

const hand = document.getElementById("hand");  // the attendee's page only
if (hand) hand.addEventListener("click", async () => {
  const raised = hand.getAttribute("aria-pressed") !== "true";
  await api("/api/me/hand", {raised});
  hand.setAttribute("aria-pressed", String(raised));
  hand.classList.toggle("raised", raised);
});

// The kernel picture beside the terminals: fetched once at first, then once per version the
// terminals announce (both announce each change; the picture asks once). static/kernel/ comes
// after this script (it must not hold up the terminals), so start it when all have run.
let picture = null;
document.addEventListener("DOMContentLoaded", () => {
  const host = document.getElementById("kernel");
  if (!host || !nslab.KernelPicture) return;
  picture = new nslab.KernelPicture(host, {url: urls.kernel, lang: page.dataset.lang,
                                          view: host.dataset.view});
});

function ended(text) {
  if (document.body.classList.contains("ended")) return;  // said already, and why
  document.body.classList.add("ended");
  page.inert = true;  // nothing of it works any more, with a mouse or a keyboard
  for (const id of ["hand", "steps-toggle"]) {
    const button = document.getElementById(id);
    if (button) button.disabled = true;
  }
  notice(text, {href: "/", text: T.rejoin});
}

function listen(term) {
  if (!trainerMode) {  // "send everyone to a step" is for the attendees
    term.on("goto", (msg) => { if (msg.step !== stepId) location.href = urls.page + msg.step; });
  }
  // The trainer presents, stops, or moves to another step: presenter.js hears of it.
  term.on("presenter", (msg) =>
    document.dispatchEvent(new CustomEvent("nslab:presenter", {detail: msg})));
  term.on("kernel", (msg) => { if (picture) picture.announce(msg.version); });
  term.on("progress", showProgress);
  // (Re)connected: what happened while the socket was closed (Catch-up closes it).
  if (term.n === 1) {
    let hellos = 0;
    term.on("hello", () => {
      refreshProgress();
      if (hellos++) document.dispatchEvent(new CustomEvent("nslab:reconnected"));
    });
  }
  // The trainer made this lab host afresh, or began a new group (the session is void: what
  // the page shows is of the old group's lab host).
  term.on("reset", (msg) => {
    if (msg.by === "new_group") ended(T.new_group);
    else notice(T.reset_by_trainer);
  });
  // Found on reconnecting (the page was away when the new group began, say)
  term.on("session-ended", () => ended(T.session));
  term.on("watch", (msg) => {
    const banner = document.getElementById("watched");
    banner.hidden = !msg.watching;
    banner.textContent = msg.takeover ? T.takeover : T.watching;
  });
}

(async () => {
  await refreshCommands();
  for (const el of document.querySelectorAll(".term[data-n]")) {
    const n = Number(el.dataset.n);
    terminals[n] = await nslab.openTerminal(el, n, {fontSize: n === 1 ? 14 : 13,
                                                    path: urls.ws + n});
    listen(terminals[n]);
    const leave = document.getElementById(`term-leave-${n}`);  // read out on entering it
    if (leave) terminals[n].term.textarea.setAttribute("aria-describedby", leave.id);
  }
  terminals[1].term.focus();
})();
