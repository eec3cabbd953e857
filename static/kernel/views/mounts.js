import {arr, obj, str} from "../model.js";
import {clip} from "../texts.js";
import {CAP, FONTS, Graph, NEUTRAL, PALETTE, ROW, hash, textWidth} from "../graph.js";

// Mounts & layers: a box per mount namespace, named after who lives in it; overlays as
// stacked layers, their lower folders (and bind sources) as the lab host's folders beside:
// left to right, so the boxes stack down the narrow panel instead of across it.
export function buildMounts(model, t) {
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
