// The step page: Run, Copy, Check, Catch-up, and the two terminals beside the text.
"use strict";

const page = document.getElementById("page");
const stepId = page.dataset.step;
const T = JSON.parse(page.dataset.texts);
const terminals = {};

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON: reported below */ }
  if (!res.ok) throw new Error((data && data.message) || `${res.status} ${res.statusText}`);
  return data;
}

function showResult(figure, text, ok) {
  const out = figure.querySelector(".result");
  out.hidden = false;
  out.className = "result" + (ok === true ? " ok" : ok === false ? " bad" : "");
  out.textContent = text;
}

async function runBlock(figure) {
  const button = figure.querySelector(".run");
  const index = Number(figure.dataset.block);
  const term = terminals[figure.querySelector(".where").textContent === "T2" ? 2 : 1];
  button.disabled = true;
  showResult(figure, T.running);
  try {
    const {results} = await api(`/api/steps/${stepId}/run`, {block: index});
    const r = results[0];
    const expected = blockInfo[index].expect;
    const ok = r.exit_code === null || expected === null ? null : r.exit_code === expected;
    let text = r.exit_code === null ? "" : `${T.exit} ${r.exit_code}`;
    if (ok === false) text += ` (${T.expected} ${expected})`;
    showResult(figure, text, ok);
    await refreshCommands();
  } catch (e) {
    showResult(figure, e.message, false);
  } finally {
    button.disabled = !blockInfo[index].ready;
    if (term) term.term.focus();
  }
}

let blockInfo = [];

async function refreshCommands() {
  // Placeholders (a container's PID) are filled in once the lab host has what they name.
  const step = await api(`/api/steps/${stepId}`);
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
    const answer = await api(`/api/steps/${stepId}/tasks/${figure.dataset.block}/${what}`, {});
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
    showChecks(await api(path, body));
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
  if (e.target.matches(".run") && figure) runBlock(figure);
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
  check(e.target, `/api/steps/${stepId}/check`, {}));
document.getElementById("solve").addEventListener("click", (e) => {
  if (confirm(T.solve_q)) check(e.target, `/api/steps/${stepId}/solve`, {});
});
document.getElementById("reset").addEventListener("click", async () => {
  if (confirm(T.reset_q)) await api("/api/me/reset", {});
});

const hand = document.getElementById("hand");
hand.addEventListener("click", async () => {
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
  picture = new nslab.KernelPicture(host, {url: "/api/me/kernel", lang: page.dataset.lang,
                                          view: host.dataset.view});
});

function listen(term) {
  term.on("goto", (msg) => { if (msg.step !== stepId) location.href = `/step/${msg.step}`; });
  term.on("kernel", (msg) => { if (picture) picture.announce(msg.version); });
  term.on("watch", (msg) => {
    const banner = document.getElementById("watched");
    banner.hidden = !msg.watching;
    banner.textContent = msg.takeover ? T.takeover : T.watching;
  });
}

(async () => {
  await refreshCommands();
  for (const el of document.querySelectorAll(".term")) {
    const n = Number(el.dataset.n);
    terminals[n] = await nslab.openTerminal(el, n, {fontSize: n === 1 ? 14 : 13});
    listen(terminals[n]);
  }
  terminals[1].term.focus();
})();
