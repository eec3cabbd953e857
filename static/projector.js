// The projector view (/trainer/present): the trainer's terminal 1, their kernel picture, Run
// for the step's blocks, and the keys that move to the previous or next step.
//
// Keys: ← → PageUp PageDown go back or on while the terminal does not have the focus (a
// click into the text takes it away); PageUp and PageDown, which presentation clickers send,
// also while it has, unless a full-screen program runs there (less, vim, man use them), as a
// shell at its prompt has no use for them. ← → stay the shell's inside the terminal, and the
// kernel picture's tabs keep theirs. Moving loads /trainer/present/<id>, which also makes it
// the trainer's current step (the room is offered to follow).
"use strict";

const projector = document.getElementById("projector");
const T = JSON.parse(projector.dataset.texts);
const stepId = projector.dataset.step;
const termHost = document.getElementById("term1");
let terminal = null;
let picture = null;

async function api(path, body) {
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                 body: JSON.stringify(body)});
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error((data && data.message) || `${res.status} ${res.statusText}`);
  return data;
}

function go(direction) {
  const target = projector.dataset[direction > 0 ? "next" : "prev"];
  if (target) {
    location.href = `/trainer/present/${encodeURIComponent(target)}`;
    return;
  }
  const edge = document.getElementById("p-edge");  // nowhere to go: say so, briefly
  edge.textContent = direction > 0 ? T.last : T.first;
  edge.hidden = false;
  clearTimeout(go.quiet);
  go.quiet = setTimeout(() => { edge.hidden = true; }, 1500);
}

const KEYS = {ArrowLeft: -1, ArrowRight: 1, PageUp: -1, PageDown: 1};

// Capture: before xterm.js's own handler sends the key to the shell.
window.addEventListener("keydown", (e) => {
  const direction = KEYS[e.key];
  if (!direction || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || e.isComposing) return;
  const inTerminal = termHost.contains(document.activeElement);
  const arrow = e.key.startsWith("Arrow");
  if (inTerminal && (arrow || (terminal && terminal.term.buffer.active.type === "alternate"))) return;
  if (arrow && document.activeElement && document.activeElement.closest("[role=tab], [role=tablist]")) return;
  e.preventDefault();
  e.stopPropagation();
  go(direction);
}, true);

// A click into the text takes the focus from the terminal, so that ← → move again.
document.getElementById("p-text").addEventListener("pointerdown", (e) => {
  if (!e.target.closest("button, a")) document.getElementById("p-text").focus({preventScroll: true});
});

async function run(figure) {
  const button = figure.querySelector(".run");
  const out = figure.querySelector(".result");
  button.disabled = true;
  out.hidden = false;
  out.className = "result";
  out.textContent = T.running;
  try {
    const {results} = await api(`/api/trainer/steps/${stepId}/run`,
                                {block: Number(figure.dataset.block)});
    const r = results[0];
    out.textContent = r.exit_code === null ? "" : `${T.exit} ${r.exit_code}`;
    if (r.exit_code !== null) out.classList.add(r.exit_code === 0 ? "ok" : "bad");
  } catch (e) {
    out.className = "result bad";
    out.textContent = e.message;
  } finally {
    button.disabled = false;
    if (terminal) terminal.term.focus();
  }
}

document.addEventListener("click", (e) => {
  const figure = e.target.closest("figure.block");
  if (figure && e.target.matches(".run")) run(figure);
});

// Large enough to read from the back of a room: a row of the terminal per 1/40 of the
// window's height, at least 15 px (1080 lines: 24 px; 720: 16 px).
function fontSize() {
  return Math.max(15, Math.min(30, Math.round(window.innerHeight / 45)));
}

document.addEventListener("DOMContentLoaded", () => {
  const host = document.getElementById("kernel");
  if (!host || !nslab.KernelPicture) return;
  // The picture's box is wide and low, below the terminal: laid out left to right, it is
  // drawn larger.
  picture = new nslab.KernelPicture(host, {url: projector.dataset.kernel, lang: projector.dataset.lang,
                                          view: host.dataset.view, wide: true});
});

(async () => {
  terminal = await nslab.openTerminal(termHost, 1, {
    path: "/ws/trainer/terminal/1", fontSize: fontSize(),
    theme: {background: "#000000", foreground: "#ffffff"}});  // the most contrast a projector has
  terminal.on("kernel", (msg) => { if (picture) picture.announce(msg.version); });
  terminal.term.focus();
})();
