// The attendee's step page while the trainer presents: a "Trainer" tab beside the attendee's
// own terminals with the trainer's terminal 1, read-only (WS /ws/presenter), and the kernel
// picture of the trainer's lab host (GET /api/presenter/kernel, fetched once per version the
// presenter socket announces). When the presenting trainer is on another step, a quiet
// prompt offers to go there; the page never moves by itself.
//
// What the state is: the page's `presenter` context at load, then the attendee's terminal
// sockets' {"type": "presenter"} events (step.js hands them on as "nslab:presenter"), the
// presenter socket's own, and GET /api/presenter after a lost connection. Everything of the
// trainer's lab host is drawn by xterm.js and the kernel picture, as text; the step's title
// in the prompt is the sidebar's, set with textContent.
"use strict";

(() => {
  const page = document.getElementById("page");
  const T = JSON.parse(page.dataset.texts);
  const stepId = page.dataset.step;
  const $ = (id) => document.getElementById(id);
  const tabs = $("term-tabs"), ownTab = $("tab-own"), trainerTab = $("tab-trainer");
  const ownPanel = $("term-own"), pane = $("presenter-pane");
  const ownKernel = $("kernel"), trainerKernel = $("presenter-kernel");
  const follow = $("follow");
  const TAB_KEY = "nslab.presenter.tab";        // the tab last chosen, for the next step's page
  const DISMISSED_KEY = "nslab.follow.dismissed"; // the trainer's step the attendee stayed away from

  let state = JSON.parse(page.dataset.presenter);  // {presenting, step, trainer}
  let viewer = null;   // the trainer's terminal (LabTerminal), once the tab was opened
  let picture = null;  // the trainer's kernel picture
  let opening = null;

  function remember(key, value) {
    try { sessionStorage.setItem(key, value); } catch (e) { /* private mode: forget it */ }
  }
  function recalled(key) {
    try { return sessionStorage.getItem(key); } catch (e) { return null; }
  }

  // -- the tabs ----------------------------------------------------------------------------

  function select(trainer, quiet) {
    ownTab.setAttribute("aria-selected", String(!trainer));
    trainerTab.setAttribute("aria-selected", String(trainer));
    ownTab.tabIndex = trainer ? -1 : 0;
    trainerTab.tabIndex = trainer ? 0 : -1;
    ownPanel.hidden = ownKernel.hidden = trainer;
    pane.hidden = trainerKernel.hidden = !trainer;
    page.classList.toggle("showing-trainer", trainer);
    if (!quiet) remember(TAB_KEY, trainer ? "trainer" : "own");
    if (trainer) open(); else release();
  }

  ownTab.addEventListener("click", () => select(false));
  trainerTab.addEventListener("click", () => select(true));
  tabs.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const trainer = ownTab.getAttribute("aria-selected") === "true";
    select(trainer);
    (trainer ? trainerTab : ownTab).focus();
  });

  // The viewer and the picture live while the tab is shown: an attendee who never looks costs
  // the trainer's lab host no model reads, and one back on their own terminal has no hidden
  // terminal drawing the trainer's output beside theirs (bench/browser.py --presenting: that
  // drawing cost up to 6 ms on the p99 of their own keys). Shown again, the socket's hello
  // brings the trainer's screen as it is, and the picture is read afresh.
  // The picture once the socket is in: by then the trainer has a lab host to draw (the
  // socket makes one if need be; the model of none would be a 409).
  function showPicture() {
    if (picture || !nslab.KernelPicture || !state.presenting || pane.hidden) return;
    picture = new nslab.KernelPicture(trainerKernel, {url: "/api/presenter/kernel",
      lang: page.dataset.lang, view: ownKernel.dataset.view || "processes"});
  }

  function open() {
    if (!state.presenting) return null;
    if (viewer) showPicture();
    if (viewer || opening) return opening;
    opening = (async () => {
      const t = await nslab.openTerminal($("presenter-term"), 1, {
        path: "/ws/presenter", readOnly: true, fontSize: 14,
        stillWanted: async () => (await refresh()).presenting});
      t.on("hello", showPicture);
      t.on("kernel", (msg) => { if (picture) picture.announce(msg.version); });
      t.on("presenter", update);
      t.on("gone", () => update({presenting: false}));
      opening = null;
      if (!state.presenting || pane.hidden) {  // ended, or the tab was left, while it opened
        t.dispose();
        return;
      }
      viewer = t;
    })();
    return opening;
  }

  // The viewer and the picture go. The terminal not from inside its socket's own message
  // handler ("gone" ends presenting there): after it. Each takes only its own nodes with it,
  // so a viewer opened again meanwhile is left alone.
  function release() {
    const t = viewer;
    if (picture) picture.dispose();
    viewer = picture = null;
    if (!t) return;
    t.closedByPage = true;  // closed on purpose: no reconnecting
    setTimeout(() => t.dispose());
  }

  function close() {
    tabs.hidden = true;
    if (page.classList.contains("showing-trainer")) select(false, true);
    release();
  }

  // -- following the trainer ---------------------------------------------------------------

  function fill(text, vars) {
    return Object.entries(vars).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), text);
  }

  function offer(step) {
    const li = step && step !== stepId &&
      document.querySelector(`.sidebar li[data-step="${CSS.escape(step)}"]`);
    if (!li || recalled(DISMISSED_KEY) === step) {  // here already, or a chapter that is off
      follow.hidden = true;
      return;
    }
    const trainer = !state.trainer || state.trainer === "Trainer" ? T.the_trainer : state.trainer;
    follow.querySelector(".follow-text").textContent = fill(T.follow, {
      trainer, n: li.dataset.n, title: li.querySelector("a").textContent.trim()});
    $("follow-go").href = li.querySelector("a").getAttribute("href");
    follow.hidden = false;
  }

  $("follow-dismiss").addEventListener("click", () => {
    remember(DISMISSED_KEY, state.step);
    follow.hidden = true;
  });

  // -- the state ---------------------------------------------------------------------------

  function update(msg) {
    const was = state.presenting, wasStep = state.step;
    state = {...state, presenting: Boolean(msg.presenting),
             step: "step" in msg ? msg.step : state.step,
             trainer: msg.trainer || state.trainer};
    if (!state.presenting) {
      close();
      follow.hidden = true;
      return;
    }
    tabs.hidden = false;
    if (!was || state.step !== wasStep) offer(state.step);
  }

  async function refresh() {
    const res = await fetch("/api/presenter");
    if (!res.ok) throw new Error(`${res.status}`);
    update(await res.json());
    return state;
  }

  document.addEventListener("nslab:presenter", (e) => update(e.detail));
  // The attendee's terminals were away (a reconnect): what did the trainer do meanwhile?
  document.addEventListener("nslab:reconnected", () => refresh().catch(() => {}));

  if (state.presenting) {
    tabs.hidden = false;
    offer(state.step);
    if (recalled(TAB_KEY) === "trainer") {
      // After the page's own scripts, the kernel picture's module among them.
      document.addEventListener("DOMContentLoaded", () => select(true, true));
    }
  }
})();
