// "See the kernel": a live picture of one lab host beside its terminals, in four views
// (processes & namespaces, mounts & layers, network, cgroups), drawn from the server's model
// (GET /api/me/kernel, or the trainer's /api/trainer/attendees/<id>/kernel).
//
//   const picture = new nslab.KernelPicture(host, {url, lang: "de" | "en" | "both", view, wide});
//   terminal.on("kernel", (msg) => picture.announce(msg.version));  // fetches once per version
//   picture.update(model);   // draw a model you already have (the tests' harness does)
//   picture.dispose();
//
// wide: trees and boxes laid out left to right instead of top down, for a box much wider than
// tall (the projector's, below the terminal), where a top-down picture would be scaled down
// to its height and its labels drawn too small to read from the back of the room.
//
// Layout is elkjs (static/vendor/elkjs), loaded after the page's own scripts. Its layered
// algorithm draws every view: boxes inside boxes (a container's namespaces inside the one that
// made it, interfaces inside their net namespace) with edges that cross the boxes (a process
// tree, veth cables), which a tree layouter such as d3-hierarchy cannot; so it is the only
// library. It runs on the page's thread: grouping ("sleep ×400") and a cap of CAP nodes keep
// what it lays out small whatever the lab host holds: in headless Chromium a model of 500
// processes is drawn in about 27 ms (the sample model 10-25 ms by view; only a page's very
// first layout takes some 280 ms, while elk warms up), so a web worker would only add a
// second 1.6 MB download.
//
// Everything that came from the lab host (hostnames, commands, names, paths) is set with
// textContent or setAttribute, never parsed as HTML: a hostname "<img src=x onerror=...>"
// shows as the text it is.

import {KernelFeed} from "./feed.js";
import {facts, diff, obj} from "./model.js";
import {TEXTS, translate} from "./texts.js";
import {draw, el, layout, placeTip} from "./draw.js";
import {buildProcesses} from "./views/processes.js";
import {buildMounts} from "./views/mounts.js";
import {buildNetwork} from "./views/network.js";
import {buildCgroups} from "./views/cgroups.js";

const VIEWS = ["processes", "mounts", "network", "cgroups"];
const HIGHLIGHT_MS = 4000;  // how long what the last change changed stays marked
const COLLAPSED_KEY = "nslab.kernel.collapsed";
const BUILDERS = {processes: buildProcesses, mounts: buildMounts, network: buildNetwork, cgroups: buildCgroups};

// The page's own parts (buttons, list) are HTML; the picture is SVG (draw.js).
function html(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function textList(items, changed) {
  const ul = html("ul");
  for (const item of items) {
    const li = html("li", item.keys.some((k) => changed.has(k)) ? "kp-changed" : "", item.text);
    if (item.kids.length) li.appendChild(textList(item.kids, changed));
    ul.appendChild(li);
  }
  return ul;
}

let instances = 0;

class KernelPicture {
  constructor(host, {url = null, lang = "de", view = "processes", wide = false} = {}) {
    this.host = host;
    this.wide = wide;
    this.lang = lang in TEXTS || lang === "both" ? lang : "de";
    this.view = VIEWS.includes(view) ? view : "processes";
    this.model = null;
    this.facts = null;
    this.change = {changed: new Set(), added: [], altered: [], removed: []};
    this.changedAt = 0;
    this.seq = 0;
    this.tips = new WeakMap();
    this.events = new AbortController();
    this.id = `kp${++instances}`;
    this.build();
    this.feed = url ? new KernelFeed(url, (m) => this.update(m), (e) => this.failed(e)) : null;
    if (this.feed) this.feed.refresh();   // once on load; then on each announced version
  }

  t(key, vars) { return translate(this.lang, key, vars); }

  announce(version) { if (this.feed) this.feed.announce(version); }

  update(model) {
    const next = facts(obj(model));
    this.change = diff(this.facts, next);
    this.facts = next;
    this.model = obj(model);
    if (this.change.changed.size) {
      this.changedAt = performance.now();
      clearTimeout(this.unmark);
      this.unmark = setTimeout(() => this.clearMarks(), HIGHLIGHT_MS);
    }
    this.summarise();
    return this.render();
  }

  dispose() {
    this.seq++;
    if (this.feed) this.feed.closed = true;
    clearTimeout(this.unmark);
    this.events.abort();
    if (this.dialog.open) this.dialog.close();
    this.host.replaceChildren();
  }

  // -- the page parts: head (toggle, tabs, large), stage (svg, summary, text list) --

  build() {
    const signal = this.events.signal;
    this.host.classList.add("kernel-picture");
    const head = html("div", "kp-head");
    this.toggle = html("button", "kp-toggle quiet");
    this.toggle.type = "button";
    this.toggle.addEventListener("click", () => this.collapse(!this.collapsed), {signal});
    const tabs = html("div", "kp-tabs");
    tabs.setAttribute("role", "tablist");
    this.tabs = {};
    for (const v of VIEWS) {
      const b = html("button", "kp-tab", this.t(v));
      b.type = "button";
      b.setAttribute("role", "tab");
      b.id = `${this.id}-${v}`;
      b.setAttribute("aria-controls", `${this.id}-stage`);
      b.addEventListener("click", () => this.show(v), {signal});
      b.addEventListener("keydown", (e) => this.tabKey(e, v), {signal});
      this.tabs[v] = b;
      tabs.appendChild(b);
    }
    this.largeButton = html("button", "kp-large quiet", "⤢");
    this.largeButton.type = "button";
    this.largeButton.title = this.t("large");
    this.largeButton.setAttribute("aria-label", this.t("large"));
    this.largeButton.addEventListener("click", () => this.large(true), {signal});
    head.append(this.toggle, tabs, this.largeButton);

    this.stage = html("div", "kp-stage");
    this.stage.id = `${this.id}-stage`;
    this.stage.setAttribute("role", "tabpanel");
    this.canvas = html("div", "kp-canvas");
    this.svg = el("svg", {class: "kp-svg", role: "img"});
    this.message = html("p", "kp-message", this.t("loading"));
    this.tip = html("div", "kp-tip");
    this.tip.hidden = true;
    this.canvas.append(this.message, this.svg, this.tip);
    this.canvas.addEventListener("pointermove", (e) => this.hover(e), {signal});
    this.canvas.addEventListener("pointerleave", () => { this.tip.hidden = true; }, {signal});
    this.summary = html("p", "kp-summary");
    this.summary.setAttribute("aria-live", "polite");
    this.details = html("details", "kp-text");
    this.details.append(html("summary", "", this.t("asText")), html("div"));
    this.details.addEventListener("toggle", () => this.fillList(), {signal});
    this.stage.append(this.canvas, this.summary, this.details);

    this.dialog = html("dialog", "kp-dialog");
    const close = html("button", "kp-close quiet", this.t("close"));
    close.type = "button";
    close.addEventListener("click", () => this.dialog.close(), {signal});
    this.dialog.appendChild(close);
    this.dialog.addEventListener("close", () => this.large(false), {signal});  // Escape too

    this.host.replaceChildren(head, this.stage, this.dialog);
    this.collapse(localStorage.getItem(COLLAPSED_KEY) === "1", true);
    this.show(this.view, true);
  }

  tabKey(e, v) {
    const step = {ArrowRight: 1, ArrowLeft: -1}[e.key];
    if (!step) return;
    const next = VIEWS[(VIEWS.indexOf(v) + step + VIEWS.length) % VIEWS.length];
    this.show(next);
    this.tabs[next].focus();
  }

  show(view, quiet) {
    this.view = view;
    this.host.dataset.view = view;
    for (const [v, b] of Object.entries(this.tabs)) {
      b.setAttribute("aria-selected", String(v === view));
      b.tabIndex = v === view ? 0 : -1;
    }
    this.stage.setAttribute("aria-labelledby", this.tabs[view].id);
    if (!quiet) this.render();
  }

  collapse(collapsed, quiet) {
    this.collapsed = collapsed;
    this.host.classList.toggle("kp-collapsed", collapsed);
    this.stage.hidden = collapsed;
    this.toggle.textContent = `${collapsed ? "▸" : "▾"} ${this.t("title")}`;
    this.toggle.setAttribute("aria-expanded", String(!collapsed));
    this.toggle.title = this.t(collapsed ? "expand" : "collapse");
    if (quiet) return;
    try { localStorage.setItem(COLLAPSED_KEY, collapsed ? "1" : "0"); } catch (e) { /* private mode */ }
    if (!collapsed) this.render();
  }

  large(on) {
    if (on && !this.dialog.open) {
      if (this.collapsed) this.collapse(false);
      this.dialog.appendChild(this.stage);
      this.dialog.showModal();
      this.host.classList.add("kp-is-large");
    } else if (!on) {
      if (this.dialog.open) this.dialog.close();
      if (this.stage.parentNode === this.dialog) this.host.insertBefore(this.stage, this.dialog);
      this.host.classList.remove("kp-is-large");
    }
  }

  // -- drawing --

  async render() {
    const seq = ++this.seq;
    if (!this.model || this.collapsed) return;
    const started = performance.now();
    const g = BUILDERS[this.view](this.model, (k, v) => this.t(k, v), {wide: this.wide});
    this.graph = g;
    this.fillList();
    const changed = performance.now() - this.changedAt < HIGHLIGHT_MS ? this.change.changed : new Set();
    if (g.note) {
      this.say(g.note);
      this.svg.replaceChildren();
      this.svg.setAttribute("width", 0);
      return;
    }
    let laid;
    try {
      laid = await layout(g);
    } catch (e) {
      if (seq === this.seq) this.say(e.message === "no ELK" ? this.t("noElk") : this.t("error", {e: e.message}));
      return;
    }
    if (seq !== this.seq) return;   // a newer model or view came meanwhile: draw only that
    this.say("");
    draw(this.svg, laid, g, changed, this.tips);
    this.svg.setAttribute("aria-label", `${this.t(this.view)}: ${this.summary.textContent}`);
    this.lastRenderMs = performance.now() - started;
  }

  say(text) {
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  failed(e) {
    this.say(this.t("error", {e: e.message}));
  }

  fillList() {
    if (!this.details.open || !this.graph) return;
    const changed = performance.now() - this.changedAt < HIGHLIGHT_MS ? this.change.changed : new Set();
    this.details.lastChild.replaceChildren(textList(this.graph.list, changed));
  }

  summarise() {
    const c = this.change;
    const parts = [[this.t("added"), c.added], [this.t("changed"), c.altered], [this.t("removed"), c.removed]]
      .filter(([, items]) => items.length)
      .map(([label, items]) => `${label}: ${items.slice(0, 6).join(", ")}${items.length > 6 ? ` +${items.length - 6}` : ""}`);
    this.summary.textContent = parts.join(" · ");
  }

  clearMarks() {
    for (const e of this.host.querySelectorAll(".kp-changed")) e.classList.remove("kp-changed");
    this.summary.textContent = "";
  }

  hover(e) { placeTip(this.tip, this.canvas, this.tips, e); }
}

window.nslab = Object.assign(window.nslab || {}, {KernelPicture});
