// "See the kernel": a live picture of one lab host beside its terminals, in four views
// (processes & namespaces, mounts & layers, network, cgroups), drawn from the server's model
// (GET /api/me/kernel, or the trainer's /api/trainer/attendees/<id>/kernel).
//
//   const picture = new nslab.KernelPicture(host, {url, lang: "de" | "en" | "both", view});
//   terminal.on("kernel", (msg) => picture.announce(msg.version));  // fetches once per version
//   picture.update(model);   // draw a model you already have (the tests' harness does)
//   picture.dispose();
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
"use strict";

(() => {

const SVG = "http://www.w3.org/2000/svg";
const VIEWS = ["processes", "mounts", "network", "cgroups"];
const KINDS = ["pid", "mnt", "uts", "net", "ipc", "cgroup", "user", "time"];
const CAP = 80;             // nodes laid out at most; the rest is "+N more" and the text list
const HIGHLIGHT_MS = 4000;  // how long what the last change changed stays marked
const COLLAPSED_KEY = "nslab.kernel.collapsed";

const TEXTS = {
  de: {title: "Kernel-Blick", processes: "Prozesse & Namespaces", mounts: "Mounts & Schichten",
       network: "Netzwerk", cgroups: "Cgroups", large: "Groß anzeigen", close: "Schließen",
       collapse: "Einklappen", expand: "Ausklappen", asText: "Als Text", labhost: "Lab-Host",
       new: "neu", more: "+{n} weitere", loading: "Lade …", error: "Bild nicht verfügbar: {e}",
       noElk: "Die Layout-Bibliothek fehlt; die Liste unten zeigt alles.",
       noMounts: "Noch nichts eingehängt.", noCgroups: "Keine Cgroups.", folders: "Ordner des Lab-Hosts",
       rootOf: "Wurzel von {who}", shared: "geteilt ×{n}", chroot: "nur chroot",
       peer: "Gegenstück", noPeer: "Gegenstück unbekannt", on: "an {b}", processesWord: "Prozesse",
       memory: "Speicher", added: "Neu", changed: "Geändert", removed: "Weg", nothing: "—",
       namespaces: "Namespaces", folder: "Ordner", bindOf: "gebunden von {d}", members: "PIDs"},
  en: {title: "See the kernel", processes: "Processes & namespaces", mounts: "Mounts & layers",
       network: "Network", cgroups: "Cgroups", large: "Show large", close: "Close",
       collapse: "Collapse", expand: "Expand", asText: "As text", labhost: "lab host",
       new: "new", more: "+{n} more", loading: "Loading …", error: "Picture not available: {e}",
       noElk: "The layout library is missing; the list below shows everything.",
       noMounts: "Nothing mounted yet.", noCgroups: "No cgroups.", folders: "lab host folders",
       rootOf: "root of {who}", shared: "shared ×{n}", chroot: "chroot only",
       peer: "peer", noPeer: "peer unknown", on: "on {b}", processesWord: "processes",
       memory: "memory", added: "New", changed: "Changed", removed: "Gone", nothing: "—",
       namespaces: "namespaces", folder: "folder", bindOf: "bound from {d}", members: "pids"},
};

// Box colours: strokes from nslab.css's palette (accent green, warn rust) and its neighbours.
const PALETTE = [
  ["#0b6e4f", "#e6f2ec"], ["#2f5d8a", "#e7eef6"], ["#6a4c93", "#f0ebf6"],
  ["#a23b00", "#f9ebe3"], ["#1f7a80", "#e3f2f2"], ["#8a6a00", "#f8f1dc"],
];
const NEUTRAL = ["#8a8f94", "#fbfbf9"];

// ---- small helpers ------------------------------------------------------------------------

// The model is the server's; every field but the top-level lists may be missing.
const arr = (x) => (Array.isArray(x) ? x : []);
const obj = (x) => (x && typeof x === "object" && !Array.isArray(x) ? x : {});
const str = (x) => (x === null || x === undefined ? "" : String(x));

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function html(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

function hash(text) {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(h);
}

function human(bytes) {
  if (bytes === "max") return "max";
  let n = Number(bytes);
  if (!Number.isFinite(n)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${n < 10 && u ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

// Text widths: the sans labels are measured on a canvas; the monospace font is 0.602 em a
// character (DejaVu Sans Mono), which needs no measuring and no loaded font.
const FONTS = {
  label: {css: "600 13px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 13, line: 17},
  text: {css: "12px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, line: 16},
  small: {css: "11px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 11, line: 14},
  mono: {mono: true, size: 11.5, line: 15},
};
let measurer = null;
function textWidth(text, font) {
  const f = FONTS[font];
  if (f.mono) return text.length * f.size * 0.602;
  measurer ||= document.createElement("canvas").getContext("2d");
  measurer.font = f.css;
  return measurer.measureText(text).width;
}

// ---- what changed: stable keys and a signature of what each one shows ----------------------

function facts(model) {
  const out = new Map();
  const put = (key, text, sig) => out.set(key, {text, sig: JSON.stringify(sig)});
  for (const p of arr(model.processes)) {
    put(`p:${p.pid}:${str(p.command)}`, `${str(p.command)} ${p.pid}`,
        [p.ppid, p.namespaces, p.hostname, p.root, p.cgroup]);
  }
  for (const n of arr(model.netns)) {
    put(`n:${n.id}`, `netns ${arr(n.names).join(", ") || n.id}`, [n.names]);
    for (const i of arr(n.interfaces)) {
      put(`i:${n.id}:${str(i.name)}`, `${str(i.name)} (${arr(n.names).join(", ") || n.id})`,
          [i.kind, i.up, i.addresses, i.peer, i.master]);
    }
  }
  for (const m of arr(model.mounts)) {
    put(`m:${m.mntns}:${str(m.target)}`, str(m.target),
        [m.fstype, m.source, m.lower, m.upper, m.work, m.bind_of]);
  }
  for (const c of arr(model.cgroups)) {
    // Not the current counts: memory.current moves all the time and would always flash.
    put(`c:${str(c.path)}`, `cgroup ${str(c.path)}`,
        [obj(c.pids).max, obj(c.memory).max, arr(c.procs).slice().sort()]);
  }
  return out;
}

function diff(before, after) {
  const changed = new Set(), added = [], altered = [], removed = [];
  if (!before) return {changed, added, altered, removed};
  for (const [key, f] of after) {
    const old = before.get(key);
    if (!old) { changed.add(key); added.push(f.text); }
    else if (old.sig !== f.sig) { changed.add(key); altered.push(f.text); }
  }
  for (const [key, f] of before) if (!after.has(key)) removed.push(f.text);
  return {changed, added, altered, removed};
}

// ---- graph building: each view turns the model into an elk graph plus what to draw --------
//
// A Graph collects elk nodes and edges and, beside them, a shape per id: the lines of text,
// its kind, its tooltip, the change keys it stands for. elk keeps only geometry.
//
// elk lays out each box on its own, inside out (its default, SEPARATE_CHILDREN): boxes then
// come out as small as their contents and at least as wide as their titles, which the
// all-at-once mode (INCLUDE_CHILDREN) does not honour. An edge that crosses a box's border is
// cut where it crosses: a port on the border, one edge inside, one outside (route()).

const SIDES = {DOWN: ["NORTH", "SOUTH"], UP: ["SOUTH", "NORTH"], RIGHT: ["WEST", "EAST"]};

class Graph {
  constructor(t, direction, options) {
    this.t = t;
    this.sides = SIDES[direction];
    // Every box is laid out by itself, so each needs the whole set of options.
    this.options = {
      "elk.algorithm": "layered",
      "elk.direction": direction,
      "elk.edgeRouting": "ORTHOGONAL",
      "elk.spacing.nodeNode": "14",
      "elk.layered.spacing.nodeNodeBetweenLayers": "24",
      "elk.spacing.componentComponent": "18",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      ...options,
    };
    this.root = {id: "root", children: [], edges: [], layoutOptions: {
      ...this.options,
      "elk.json.shapeCoords": "ROOT",   // every coordinate absolute: drawing needs no offsets
      "elk.json.edgeCoords": "ROOT",
      "elk.padding": "[top=6,left=6,bottom=6,right=6]",
    }};
    this.shapes = new Map();
    this.ids = new Map([["root", this.root]]);
    this.parentOf = new Map();
    this.pending = [];
    this.list = [];       // the text list: [{text, keys, kids}]
    this.nodeCount = 0;
    this.note = "";       // shown instead of a picture when there is nothing to draw
  }

  // A leaf node: lines [{text, font, cls}] sized to fit.
  node(id, parent, lines, shape) {
    const padX = 9, padY = 6;
    let w = 0, h = 0;
    for (const line of lines) {
      w = Math.max(w, textWidth(line.text, line.font));
      h += FONTS[line.font].line;
    }
    if (shape.badge) w += textWidth(shape.badge, "small") + 14;
    if (shape.dot) w += 12;
    if (shape.bars) w += 56;   // the fill bars right of the pids and memory lines
    const n = {id, width: Math.ceil(Math.max(w + 2 * padX, shape.minWidth || 0)),
               height: Math.ceil(h + 2 * padY + (shape.extraHeight || 0))};
    this.add(n, parent, {...shape, lines, padX, padY});
    this.nodeCount++;
    return n;
  }

  // A box holding other nodes, its title lines at the top.
  box(id, parent, lines, shape) {
    let w = 0, h = 0;
    for (const line of lines) {
      w = Math.max(w, textWidth(line.text, line.font));
      h += FONTS[line.font].line;
    }
    const top = Math.ceil(h + 16);
    const n = {id, children: [], edges: [], ports: [], layoutOptions: {
      ...this.options,
      "elk.padding": `[top=${top},left=12,bottom=12,right=12]`,
      "elk.nodeSize.constraints": "MINIMUM_SIZE",
      "elk.nodeSize.minimum": `(${Math.ceil(w + 26)},${top + 16})`,
      "elk.portConstraints": "FIXED_SIDE",
    }};
    this.add(n, parent, {...shape, kind: "box", lines});
    return n;
  }

  add(n, parent, shape) {
    const p = this.ids.has(parent) ? parent : "root";
    this.ids.get(p).children.push(n);
    this.ids.set(n.id, n);
    this.parentOf.set(n.id, p);
    this.shapes.set(n.id, shape);
  }

  // A port of a leaf node, as an end for edges (it lives where its node does).
  port(id, node) {
    this.ids.set(id, {id});
    this.parentOf.set(id, this.parentOf.get(node));
  }

  edge(source, target, kind, tip) {
    if (this.ids.has(source) && this.ids.has(target)) this.pending.push({source, target, kind, tip});
  }

  // Cut every edge at the borders it crosses: source -> out-port -> ... -> in-port -> target.
  route() {
    const up = (id) => {
      const chain = [];
      for (let n = this.parentOf.get(id); n; n = this.parentOf.get(n)) chain.push(n);
      return chain;   // the boxes around id, innermost first, "root" last
    };
    let count = 0;
    const piece = (container, from, to, e) => {
      const id = `e${count++}`;
      this.ids.get(container).edges.push({id, sources: [from], targets: [to]});
      this.shapes.set(id, {kind: e.kind, tip: e.tip});
    };
    const port = (box, side) => {
      const id = `${box}>${this.ids.get(box).ports.length}`;
      this.ids.get(box).ports.push({id, width: 1, height: 1, layoutOptions: {"elk.port.side": side}});
      return id;
    };
    for (const e of this.pending) {
      const outer = up(e.source), inner = up(e.target);
      const common = outer.find((b) => inner.includes(b));
      let from = e.source;
      for (const b of outer.slice(0, outer.indexOf(common))) {
        const p = port(b, this.sides[1]);
        piece(b, from, p, e);
        from = p;
      }
      let to = e.target;
      for (const b of inner.slice(0, inner.indexOf(common))) {
        const p = port(b, this.sides[0]);
        piece(b, p, to, e);
        to = p;
      }
      piece(common, from, to, e);
    }
    this.pending = [];
    return this.root;
  }
}

function nsKey(p) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns).map((k) => `${k}:${ns[k]}`).join(" ");
}

function newKinds(p, labNs) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns && k in labNs && ns[k] !== labNs[k]);
}

function nsDetails(p, labNs, t) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns)
    .map((k) => `${k.padEnd(6)} ${ns[k]}${ns[k] !== labNs[k] ? `  ← ${t("new")}` : ""}`).join("\n");
}

// Processes & namespaces: the process tree; each set of namespaces other than the lab host's
// (or another root) a coloured box, nested where a container's process made it.
function buildProcesses(model, t) {
  const g = new Graph(t, "DOWN");
  const lab = obj(model.labhost);
  const labNs = obj(lab.namespaces);
  const labRoot = str(lab.root) || "/";
  const procs = arr(model.processes).filter((p) => p && p.pid !== undefined);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const kids = new Map();
  for (const p of procs) {
    const parent = byPid.has(p.ppid) && p.ppid !== p.pid ? p.ppid : 0;
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(p);
  }
  const pkey = (p) => `p:${p.pid}:${str(p.command)}`;
  const setKey = (p) => `${nsKey(p)}|${str(p.root)}`;
  const isLab = (p) => newKinds(p, labNs).length === 0 && (str(p.root) || "/") === labRoot;

  // The outer frame: the lab host itself.
  g.box("labhost", "root", [{text: `${t("labhost")} ${str(lab.hostname)}`, font: "label"}],
        {colour: NEUTRAL, tip: nsDetails({namespaces: labNs}, labNs, t)});
  // Boxes by namespace set; a box sits in the box of the process that made its first process.
  const boxes = new Map();
  const boxOf = (p, parentBox) => {
    if (isLab(p)) return "labhost";
    const key = setKey(p);
    if (!boxes.has(key)) {
      const fresh = newKinds(p, labNs);
      const id = `b${boxes.size}`;
      const colour = PALETTE[hash(key) % PALETTE.length];
      const lines = [{text: `${str(p.hostname) || "?"} · ${str(p.root) || "/"}`, font: "label"},
                     {text: fresh.length ? `${t("new")}: ${fresh.join(" ")}` : t("chroot"),
                      font: "small", cls: "kp-muted"}];
      g.box(id, parentBox, lines, {colour, tip: nsDetails(p, labNs, t)});
      boxes.set(key, id);
    }
    return boxes.get(key);
  };

  // Walk the tree breadth first, grouping the children of one shown node by command,
  // terminal and namespaces: a fork bomb's hundreds of shells become a few "sh ×128".
  let more = new Map();   // shown node id -> [hidden processes counted under it]
  const queue = [{id: null, box: "labhost", members: [{pid: 0}]}];
  while (queue.length) {
    const parent = queue.shift();
    const groups = new Map();
    for (const m of parent.members) {
      for (const c of kids.get(m.pid) || []) {
        const k = `${str(c.command)}|${c.terminal}|${setKey(c)}`;
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(c);
      }
    }
    for (const members of groups.values()) {
      if (g.nodeCount >= CAP) {
        const hidden = more.get(parent.id) || {count: 0, box: parent.box};
        hidden.count += countTree(members, kids);
        more.set(parent.id, hidden);
        continue;
      }
      const first = members[0];
      const box = boxOf(first, parent.box);
      const id = members.length > 1 ? `g${first.pid}` : `p${first.pid}`;
      g.node(id, box, processLines(members), {
        kind: "proc", keys: members.map(pkey), badge: first.terminal ? `T${first.terminal}` : "",
        tip: processTip(members, labNs, t)});
      if (parent.id) g.edge(parent.id, id, "tree");
      queue.push({id, box, members});
    }
  }
  for (const [parentId, hidden] of more) {
    const id = `more-${parentId || "top"}`;
    g.node(id, hidden.box, [{text: t("more", {n: hidden.count}), font: "text", cls: "kp-muted"}],
           {kind: "more"});
    if (parentId) g.edge(parentId, id, "tree");
  }
  g.list = processList(kids, 0, labNs, t, pkey);
  return g;
}

function countTree(members, kids) {
  let n = 0;
  const stack = [...members];
  while (stack.length) {
    const p = stack.pop();
    n++;
    stack.push(...(kids.get(p.pid) || []));
  }
  return n;
}

function processLines(members) {
  const p = members[0];
  const cmd = str(p.command) || "?";
  if (members.length > 1) {
    const pids = members.map((m) => m.pid);
    return [{text: `${clip(cmd, 24)} ×${members.length}`, font: "label"},
            {text: clip(`${Math.min(...pids)} … ${Math.max(...pids)}`, 30), font: "small", cls: "kp-muted"}];
  }
  const lines = [{text: `${clip(cmd, 24)}  ${p.pid}`, font: "label"}];
  const args = str(p.args);
  if (args && args !== cmd) lines.push({text: clip(args, 34), font: "mono", cls: "kp-muted"});
  return lines;
}

function processTip(members, labNs, t) {
  const p = members[0];
  const head = members.length > 1
    ? `${str(p.command)} ×${members.length}: ${members.map((m) => m.pid).join(" ")}`
    : `${str(p.args) || str(p.command)}\npid ${p.pid}, ppid ${p.ppid}`;
  return [head,
          `${str(p.hostname)} · root ${str(p.root)} · cgroup ${str(p.cgroup)}`,
          nsDetails(p, labNs, t)].join("\n");
}

function processList(kids, pid, labNs, t, pkey, depth = 0) {
  // The whole tree, nothing grouped or capped; depth bounded against a model with a cycle.
  if (depth > 64) return [];
  return (kids.get(pid) || []).map((p) => {
    const fresh = newKinds(p, labNs);
    let text = `${str(p.command)} ${p.pid}${p.terminal ? ` (T${p.terminal})` : ""}`;
    if (str(p.args) && str(p.args) !== str(p.command)) text += ` — ${str(p.args)}`;
    text += ` · ${str(p.hostname)} · ${str(p.root)}`;
    if (fresh.length) text += ` · ${t("new")}: ${fresh.join(" ")}`;
    return {text, keys: [pkey(p)], kids: processList(kids, p.pid, labNs, t, pkey, depth + 1)};
  });
}

// Network: a box per net namespace with its interfaces; veth pairs as cables between boxes,
// interfaces on a bridge tied to it.
function buildNetwork(model, t) {
  const g = new Graph(t, "DOWN", {"elk.layered.spacing.nodeNodeBetweenLayers": "36"});
  const lab = obj(model.labhost);
  const labNet = obj(lab.namespaces).net;
  const procs = new Map(arr(model.processes).map((p) => [p.pid, p]));
  const ifaceId = (ns, name) => `i${ns}:${name}`;
  const cables = new Set();
  for (const n of arr(model.netns)) {
    const who = [...new Set(arr(n.processes).map((pid) => str(obj(procs.get(pid)).command) || pid))];
    const names = arr(n.names).map(str);
    const title = n.id === labNet ? `${t("labhost")} ${str(lab.hostname)}`
      : names.length ? names.join(", ") : who.join(", ") || `netns ${n.id}`;
    const lines = [{text: clip(title, 40), font: "label"}];
    if (n.id !== labNet && names.length && who.length) {
      lines.push({text: clip(who.join(", "), 44), font: "small", cls: "kp-muted"});
    }
    const colour = n.id === labNet ? NEUTRAL : PALETTE[hash(`n${n.id}`) % PALETTE.length];
    g.box(`n${n.id}`, "root", lines, {colour, keys: [`n:${n.id}`],
      tip: `netns [${n.id}]\n${t("processesWord")}: ${arr(n.processes).join(" ")}`});
    for (const i of arr(n.interfaces)) {
      if (g.nodeCount >= CAP) break;
      const name = str(i.name);
      const lines = [{text: clip(name, 22), font: "label"},
                     {text: `${str(i.kind) || "?"} · ${i.up ? "UP" : "DOWN"}`, font: "small", cls: "kp-muted"}];
      for (const a of arr(i.addresses)) lines.push({text: clip(str(a), 30), font: "mono"});
      const peer = i.peer ? obj(i.peer) : null;
      const tip = [`${name} (${str(i.kind)}) ${i.up ? "UP" : "DOWN"}`, ...arr(i.addresses).map(str),
                   peer ? `${t("peer")}: ${str(peer.name)} @ netns [${str(peer.netns)}]` : "",
                   i.master ? t("on", {b: str(i.master)}) : ""].filter(Boolean).join("\n");
      g.node(ifaceId(n.id, name), `n${n.id}`, lines,
             {kind: `iface kp-${i.up ? "up" : "down"}`, dot: i.up ? "up" : "down",
              keys: [`i:${n.id}:${name}`], tip});
    }
  }
  for (const n of arr(model.netns)) {
    for (const i of arr(n.interfaces)) {
      const from = ifaceId(n.id, str(i.name));
      const peer = i.peer ? obj(i.peer) : null;
      if (peer && peer.netns !== undefined) {
        const to = ifaceId(peer.netns, str(peer.name));
        const pair = [from, to].sort().join("|");
        if (!cables.has(pair)) {
          cables.add(pair);
          g.edge(from, to, "veth", `veth: ${str(i.name)} ↔ ${str(peer.name)}`);
        }
      }
      if (i.master) g.edge(from, ifaceId(n.id, str(i.master)), "bridge", t("on", {b: str(i.master)}));
    }
  }
  g.list = arr(model.netns).map((n) => ({
    text: `netns ${n.id === labNet ? t("labhost") : arr(n.names).join(", ") || n.id} [${n.id}] · ` +
          `${t("processesWord")}: ${arr(n.processes).map((pid) => `${str(obj(procs.get(pid)).command)} ${pid}`).join(", ")}`,
    keys: [`n:${n.id}`],
    kids: arr(n.interfaces).map((i) => ({
      text: [str(i.name), str(i.kind), i.up ? "UP" : "DOWN", ...arr(i.addresses).map(str),
             i.peer ? `↔ ${str(obj(i.peer).name)} [${str(obj(i.peer).netns)}]` : "",
             i.master ? t("on", {b: str(i.master)}) : ""].filter(Boolean).join(" "),
      keys: [`i:${n.id}:${str(i.name)}`], kids: []})),
  }));
  return g;
}

// Mounts & layers: a box per mount namespace, named after who lives in it; overlays as
// stacked layers, their lower folders (and bind sources) as the lab host's folders beside:
// left to right, so the boxes stack down the narrow panel instead of across it.
function buildMounts(model, t) {
  const g = new Graph(t, "RIGHT");
  const lab = obj(model.labhost);
  const labMnt = obj(lab.namespaces).mnt;
  const mounts = arr(model.mounts).filter((m) => m && m.target !== undefined);
  if (!mounts.length) g.note = t("noMounts");
  const procs = arr(model.processes);
  // Distinct overlays (by upper dir) on each lower: a lower shared by two containers.
  const sharing = new Map();
  for (const m of mounts) {
    for (const l of arr(m.lower)) {
      if (!sharing.has(l)) sharing.set(l, new Set());
      sharing.get(l).add(str(m.upper) || str(m.target));
    }
  }
  const spaces = [...new Set(mounts.map((m) => m.mntns))];
  const folders = new Map();
  const folder = (path) => {
    if (!folders.has(path)) {
      folders.set(path, `f${folders.size}`);
      g.node(`f${folders.size - 1}`, "root", [{text: clip(path, 34), font: "mono"}],
             {kind: "folder", tip: `${t("folder")} ${path}`});
    }
    return folders.get(path);
  };
  for (const ns of spaces) {
    const here = procs.filter((p) => obj(p.namespaces).mnt === ns);
    const host = here.find((p) => str(p.hostname)) || {};
    const who = [...new Set(here.map((p) => str(p.command)))].join(", ");
    const title = ns === labMnt ? `${t("labhost")} ${str(lab.hostname)}` : `${str(host.hostname) || "?"} · ${who}`;
    const colour = ns === labMnt ? NEUTRAL : PALETTE[hash(`m${ns}`) % PALETTE.length];
    g.box(`s${ns}`, "root", [{text: clip(title, 44), font: "label"},
                              {text: `mnt [${ns}]`, font: "small", cls: "kp-muted"}],
          {colour, tip: `mnt [${ns}]\n${here.map((p) => `${str(p.command)} ${p.pid} · root ${str(p.root)}`).join("\n")}`});
    for (const m of mounts.filter((x) => x.mntns === ns)) {
      if (g.nodeCount >= CAP) break;
      const target = str(m.target);
      const rooted = here.filter((p) => str(p.root) === target && ns !== labMnt);
      const rootOf = rooted.length ? t("rootOf", {who: `${str(rooted[0].hostname) || str(rooted[0].command)}`}) : "";
      const id = `m${ns}:${target}`;
      const keys = [`m:${ns}:${target}`];
      if (str(m.fstype) === "overlay" || arr(m.lower).length) {
        const ports = overlayNode(g, id, `s${ns}`, m, rootOf, sharing, keys);
        arr(m.lower).forEach((l, i) => g.edge(folder(str(l)), ports[i], "lower", `lower ${str(l)}`));
      } else {
        const kind = m.bind_of ? "bind" : str(m.fstype) || "?";
        const lines = [{text: clip(target, 36), font: "mono", cls: "kp-strong"},
                       {text: [kind, m.bind_of ? `← ${clip(str(m.bind_of), 28)}` : "", rootOf]
                         .filter(Boolean).join(" · "), font: "small", cls: "kp-muted"}];
        g.node(id, `s${ns}`, lines, {kind: "mount", keys, tip: mountTip(m, t)});
        if (m.bind_of) g.edge(folder(str(m.bind_of)), id, "bind", `bind ${str(m.bind_of)} → ${target}`);
      }
    }
  }
  g.list = spaces.map((ns) => ({
    text: `mnt [${ns}]${ns === labMnt ? ` (${t("labhost")})` : ""}`, keys: [],
    kids: mounts.filter((m) => m.mntns === ns).map((m) => ({
      text: mountTip(m, t).replace(/\n/g, " · "), keys: [`m:${ns}:${str(m.target)}`], kids: []})),
  }));
  return g;
}

function mountTip(m, t) {
  const lines = [`${str(m.target)} (${str(m.fstype)}${m.source ? `, ${str(m.source)}` : ""})`];
  if (arr(m.lower).length) lines.push(`lower ${arr(m.lower).map(str).join(" : ")}`);
  if (m.upper) lines.push(`upper ${str(m.upper)}`);
  if (m.work) lines.push(`work ${str(m.work)}`);
  if (m.bind_of) lines.push(t("bindOf", {d: str(m.bind_of)}));
  return lines.join("\n");
}

// An overlay is one node whose drawing is a stack: upper on top, the lower layers below it
// (the first lower is the top one, as in lowerdir=a:b), the work folder beside the stack.
const ROW = 20;
function overlayNode(g, id, parent, m, rootOf, sharing, keys) {
  const rows = [];
  if (m.upper) rows.push({tag: "upper", path: str(m.upper), cls: "kp-upper"});
  for (const l of arr(m.lower)) {
    const n = (sharing.get(l) || new Set()).size;
    rows.push({tag: "lower", path: str(l), cls: "kp-lower",
               note: n > 1 ? g.t("shared", {n}) : ""});
  }
  const rowText = (r) => `${r.tag}  ${clip(r.path, 26)}${r.note ? `  ${r.note}` : ""}`;
  const stackW = Math.max(...rows.map((r) => textWidth(rowText(r), "mono")), 60) + 14;
  const workW = m.work ? Math.max(textWidth("work", "small"), textWidth(clip(str(m.work), 16), "mono")) + 12 : 0;
  const lines = [{text: clip(str(m.target), 36), font: "mono", cls: "kp-strong"},
                 {text: ["overlay", rootOf].filter(Boolean).join(" · "), font: "small", cls: "kp-muted"}];
  const n = g.node(id, parent, lines, {
    kind: "overlay", keys, tip: mountTip(m, g.t), rows, rowText, stackW, workW, work: str(m.work),
    minWidth: stackW + (workW ? workW + 6 : 0) + 18, extraHeight: rows.length * ROW + 6});
  // A port on the left edge at each lower layer: the folder's edge ends at its own layer.
  const top = 6 + FONTS.mono.line + FONTS.small.line + 2;
  n.layoutOptions = {"elk.portConstraints": "FIXED_POS"};
  n.ports = rows.map((r, i) => ({id: `${id}#${i}`, x: 0, y: top + i * ROW + (ROW - 2) / 2, width: 1, height: 1}))
    .filter((p, i) => rows[i].tag === "lower");
  for (const p of n.ports) g.port(p.id, id);
  return n.ports.map((p) => p.id);   // one per lower, in the order of m.lower
}

// Cgroups: the tree by path, each with pids and memory against their limits.
function buildCgroups(model, t) {
  const g = new Graph(t, "DOWN");
  const groups = arr(model.cgroups).filter((c) => c && c.path !== undefined);
  if (!groups.length) g.note = t("noCgroups");
  const procs = new Map(arr(model.processes).map((p) => [p.pid, p]));
  const paths = new Set(groups.map((c) => str(c.path)));
  const parentOf = (path) => {
    for (let p = path; p.includes("/") && p !== "/";) {
      p = p.slice(0, p.lastIndexOf("/")) || "/";
      if (paths.has(p)) return p;
    }
    return null;
  };
  const named = (pid) => `${str(obj(procs.get(pid)).command) || "?"} ${pid}`;
  let hidden = 0;
  for (const c of groups) {
    if (g.nodeCount >= CAP) { hidden++; continue; }
    const path = str(c.path);
    const pids = obj(c.pids), mem = c.memory ? obj(c.memory) : null;
    const list = arr(c.procs);
    const who = list.slice(0, 4).map(named).join(", ") + (list.length > 4 ? ` +${list.length - 4}` : "");
    const lines = [{text: clip(path === "/" ? `/ (${t("labhost")})` : path, 34), font: "label"},
                   {text: `pids ${str(pids.current ?? "?")} / ${str(pids.max ?? "?")}`, font: "text", indent: 0},
                   {text: mem ? `${t("memory")} ${human(mem.current)} / ${human(mem.max)}` : `${t("memory")} ${t("nothing")}`,
                    font: "text"},
                   {text: who || t("nothing"), font: "small", cls: "kp-muted"}];
    g.node(`c${path}`, "root", lines, {kind: "cgroup", keys: [`c:${path}`],
      bars: [ratio(pids.current, pids.max), mem ? ratio(mem.current, mem.max) : null],
      tip: `${path}\npids ${str(pids.current)} / ${str(pids.max)}` +
           (mem ? `\n${t("memory")} ${human(mem.current)} / ${human(mem.max)}` : "") +
           `\n${list.map(named).join(", ")}`, minWidth: 150});
  }
  for (const c of groups) {
    const up = parentOf(str(c.path));
    if (up) g.edge(`c${up}`, `c${str(c.path)}`, "tree");
  }
  if (hidden) g.node("more", "root", [{text: t("more", {n: hidden}), font: "text", cls: "kp-muted"}], {kind: "more"});
  g.list = groups.map((c) => ({
    text: `${str(c.path)} · pids ${str(obj(c.pids).current)}/${str(obj(c.pids).max)}` +
          (c.memory ? ` · ${t("memory")} ${human(obj(c.memory).current)}/${human(obj(c.memory).max)}` : "") +
          ` · ${arr(c.procs).map(named).join(", ")}`,
    keys: [`c:${str(c.path)}`], kids: []}));
  return g;
}

function ratio(current, max) {
  const c = Number(current), m = Number(max);
  return Number.isFinite(c) && Number.isFinite(m) && m > 0 ? Math.min(1, c / m) : null;
}

const BUILDERS = {processes: buildProcesses, mounts: buildMounts, network: buildNetwork, cgroups: buildCgroups};

// ---- drawing the laid-out graph --------------------------------------------------------------

function draw(svg, laid, g, changed, tips) {
  svg.replaceChildren();
  const w = Math.ceil(laid.width || 0), h = Math.ceil(laid.height || 0);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  // Box frames, then the edges over them, then the boxes' titles (with a halo, so an edge
  // passing under a title does not strike it through), then the nodes the edges end on.
  const layers = {frames: el("g"), edges: el("g"), titles: el("g"), nodes: el("g")};
  const mark = (item, shape) => {
    if (arr(shape.keys).some((k) => changed.has(k))) item.classList.add("kp-changed");
    if (shape.tip) tips.set(item, shape.tip);
  };
  const visit = (n) => {
    for (const e of n.edges || []) {
      const shape = g.shapes.get(e.id) || {};
      for (const s of e.sections || []) {
        const pts = [s.startPoint, ...(s.bendPoints || []), s.endPoint];
        const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
        const path = el("path", {d, class: `kp-edge kp-${shape.kind}`});
        mark(path, shape);
        layers.edges.appendChild(path);
      }
    }
    for (const c of n.children || []) {
      const shape = g.shapes.get(c.id);
      if (shape.kind === "box") {
        const [frame, title] = drawBox(c, shape);
        mark(frame, shape);
        layers.frames.appendChild(frame);
        layers.titles.appendChild(title);
        visit(c);
      } else {
        const item = drawNode(c, shape);
        mark(item, shape);
        layers.nodes.appendChild(item);
      }
    }
  };
  visit(laid);
  svg.append(layers.frames, layers.edges, layers.titles, layers.nodes);
}

function drawBox(n, shape) {
  const frame = el("g", {class: "kp-box"});
  const [stroke, fill] = shape.colour || NEUTRAL;
  frame.appendChild(el("rect", {x: n.x, y: n.y, width: n.width, height: n.height, rx: 8,
                                fill, stroke, "stroke-width": 1.5}));
  const title = el("g", {class: "kp-title"});
  title.style.stroke = fill;   // the halo, in the box's own fill
  let y = n.y + 6;
  for (const line of shape.lines) {
    y += FONTS[line.font].line;
    const text = el("text", {x: n.x + 12, y: y - 4, class: `kp-${line.font} ${line.cls || ""}`}, line.text);
    if (!line.cls) text.style.fill = stroke;   // the box's title in the box's colour
    title.appendChild(text);
  }
  return [frame, title];
}

function drawNode(n, shape) {
  const g = el("g", {class: `kp-node kp-${shape.kind}`});
  g.appendChild(el("rect", {x: n.x, y: n.y, width: n.width, height: n.height, rx: 5}));
  let x = n.x + shape.padX, y = n.y + shape.padY;
  if (shape.dot) {
    g.appendChild(el("circle", {cx: x + 4, cy: y + 8.5, r: 4, class: `kp-dot kp-${shape.dot}`}));
    x += 12;
  }
  for (const [i, line] of shape.lines.entries()) {
    y += FONTS[line.font].line;
    g.appendChild(el("text", {x: x + (line.indent || 0), y: y - 4,
                              class: `kp-${line.font} ${line.cls || ""}`}, line.text));
    if (shape.bars && shape.bars[i - 1] !== undefined && shape.bars[i - 1] !== null) {
      g.appendChild(bar(n.x + n.width - 52, y - 11, 42, shape.bars[i - 1]));
    }
  }
  if (shape.badge) {
    const bw = textWidth(shape.badge, "small") + 8;
    const bx = n.x + n.width - bw - 5;
    g.appendChild(el("rect", {x: bx, y: n.y + 5, width: bw, height: 15, rx: 3, class: "kp-badge"}));
    g.appendChild(el("text", {x: bx + 4, y: n.y + 16, class: "kp-small kp-badge-text"}, shape.badge));
  }
  if (shape.rows) drawStack(g, n, shape, y);
  return g;
}

function bar(x, y, w, fraction) {
  const g = el("g", {class: `kp-bar${fraction >= 0.9 ? " kp-full" : ""}`});
  g.appendChild(el("rect", {x, y, width: w, height: 7, rx: 2, class: "kp-bar-bg"}));
  g.appendChild(el("rect", {x, y, width: Math.max(1, w * fraction), height: 7, rx: 2, class: "kp-bar-fg"}));
  return g;
}

function drawStack(g, n, shape, top) {
  const x = n.x + shape.padX;
  let y = top + 2;
  for (const r of shape.rows) {
    g.appendChild(el("rect", {x, y, width: shape.stackW, height: ROW - 2, rx: 2, class: `kp-layer ${r.cls}`}));
    g.appendChild(el("text", {x: x + 6, y: y + 13, class: "kp-mono"}, shape.rowText(r)));
    y += ROW;
  }
  if (shape.workW) {
    const wx = x + shape.stackW + 6, h = shape.rows.length * ROW - 2;
    g.appendChild(el("rect", {x: wx, y: top + 2, width: shape.workW, height: h, rx: 2, class: "kp-layer kp-work"}));
    g.appendChild(el("text", {x: wx + 5, y: top + 15, class: "kp-small kp-muted"}, "work"));
    if (h > 24) g.appendChild(el("text", {x: wx + 5, y: top + 30, class: "kp-mono"}, clip(shape.work, 16)));
  }
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

// ---- fetching: one request at a time, once per announced version -------------------------

class KernelFeed {
  constructor(url, onModel, onError) {
    this.url = url;
    this.onModel = onModel;
    this.onError = onError;
    this.shown = undefined;      // version of the model last handed on
    this.announced = undefined;  // last version a terminal announced
    this.busy = false;
    this.again = false;
    this.closed = false;
  }

  // Both terminals announce every change: the second announcement of a version is a no-op.
  // Versions only change, they need not grow (a fresh lab host starts again), so compare
  // for equality.
  announce(version) {
    if (version === this.announced || version === this.shown) return;
    this.announced = version;
    this.refresh();
  }

  async refresh() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      do {
        this.again = false;
        const res = await fetch(this.url, {headers: {Accept: "application/json"}});
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
        const model = await res.json();
        if (this.closed) return;
        this.shown = model.version;
        this.onModel(model);
        // Announced while the request ran, and not what it brought: ask once more.
      } while (this.again && this.announced !== undefined && this.announced !== this.shown);
    } catch (e) {
      if (!this.closed) this.onError(e);
    } finally {
      this.busy = false;
    }
  }
}

// ---- the picture --------------------------------------------------------------------------

let elk = null;
function layoutEngine() {
  // elk.bundled.js comes after the page's own scripts (defer): wait for it to have run.
  const ready = document.readyState === "loading"
    ? new Promise((r) => document.addEventListener("DOMContentLoaded", r, {once: true}))
    : Promise.resolve();
  return ready.then(() => {
    if (typeof ELK === "undefined") throw new Error("no ELK");
    elk ||= new ELK();
    return elk;
  });
}

let instances = 0;

class KernelPicture {
  constructor(host, {url = null, lang = "de", view = "processes"} = {}) {
    this.host = host;
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

  t(key, vars) {
    const one = (lang) => {
      let text = TEXTS[lang][key];
      for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
      return text;
    };
    if (this.lang !== "both") return one(this.lang);
    const de = one("de"), en = one("en");
    return de === en ? de : `${de} · ${en}`;
  }

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
    const g = BUILDERS[this.view](this.model, (k, v) => this.t(k, v));
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
      laid = await (await layoutEngine()).layout(g.route());
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

  hover(e) {
    let target = e.target;
    while (target && target !== this.canvas && !this.tips.has(target)) target = target.parentNode;
    const text = target && this.tips.get(target);
    if (!text) { this.tip.hidden = true; return; }
    if (this.tip.textContent !== text) this.tip.textContent = text;
    this.tip.hidden = false;
    const box = this.canvas.getBoundingClientRect();
    const x = e.clientX - box.left + this.canvas.scrollLeft, y = e.clientY - box.top + this.canvas.scrollTop;
    const flip = e.clientX - box.left > box.width * 0.6;   // near the right edge: show it on the left
    this.tip.style.left = `${flip ? Math.max(0, x - this.tip.offsetWidth - 12) : x + 14}px`;
    this.tip.style.top = `${y + 14}px`;
  }
}

window.nslab = Object.assign(window.nslab || {}, {KernelPicture});
})();
