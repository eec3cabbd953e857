import {arr, obj, str} from "../model.js";
import {clip, human} from "../texts.js";
import {CAP, Graph} from "../graph.js";

// Cgroups: the tree by path, each with pids and memory against their limits. The top one
// also shows the lab's limits ("lab ≤ 512"): they sit on its parent, out of the attendee's
// reach, so the top may read "max" and still stop at 512 processes.
export function buildCgroups(model, t, {wide = false} = {}) {
  const g = new Graph(t, wide ? "RIGHT" : "DOWN");
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
    const outer = path === "/" ? obj(c.outer) : {};
    const lab = {pids: labLimit(outer.pids, str, t), mem: labLimit(outer.memory, human, t)};
    const lines = [{text: clip(path === "/" ? `/ (${t("labhost")})` : path, 34), font: "label"},
                   {text: `pids ${str(pids.current ?? "?")} / ${str(pids.max ?? "?")}${lab.pids}`, font: "text", indent: 0},
                   {text: (mem ? `${t("memory")} ${human(mem.current)} / ${human(mem.max)}` : `${t("memory")} ${t("nothing")}`) +
                     lab.mem, font: "text"},
                   {text: who || t("nothing"), font: "small", cls: "kp-muted"}];
    g.node(`c${path}`, "root", lines, {kind: "cgroup", keys: [`c:${path}`],
      bars: [fullest(pids, outer.pids), mem ? fullest(mem, outer.memory) : null],
      tip: `${path}\npids ${str(pids.current)} / ${str(pids.max)}${lab.pids}` +
           (mem ? `\n${t("memory")} ${human(mem.current)} / ${human(mem.max)}${lab.mem}` : "") +
           (!mem && lab.mem ? `\n${t("memory")} ${t("nothing")}${lab.mem}` : "") +
           (lab.pids || lab.mem ? `\n${t("labWhy")}` : "") +
           `\n${list.map(named).join(", ")}`, minWidth: 150});
  }
  for (const c of groups) {
    const up = parentOf(str(c.path));
    if (up) g.edge(`c${up}`, `c${str(c.path)}`, "tree");
  }
  if (hidden) g.node("more", "root", [{text: t("more", {n: hidden}), font: "text", cls: "kp-muted"}], {kind: "more"});
  g.list = groups.map((c) => {
    const outer = str(c.path) === "/" ? obj(c.outer) : {};
    const lab = {pids: labLimit(outer.pids, str, t), mem: labLimit(outer.memory, human, t)};
    return {
      text: `${str(c.path)} · pids ${str(obj(c.pids).current)}/${str(obj(c.pids).max)}${lab.pids}` +
            (c.memory ? ` · ${t("memory")} ${human(obj(c.memory).current)}/${human(obj(c.memory).max)}` : "") +
            (c.memory || lab.mem ? lab.mem : "") +
            (lab.pids || lab.mem ? ` (${t("labWhy")})` : "") +
            ` · ${arr(c.procs).map(named).join(", ")}`,
      keys: [`c:${str(c.path)}`], kids: []};
  });
  return g;
}

// " · lab ≤ 512" when the lab set a limit on the parent ("max" there is no limit).
function labLimit(pair, format, t) {
  const max = obj(pair).max;
  return /^\d+$/.test(str(max)) ? ` · ${t("lab", {n: format(max)})}` : "";
}

// How full a bar is: the nearer of the cgroup's own limit and the lab's above it.
function fullest(own, outer) {
  const r = [ratio(own.current, own.max), ratio(obj(outer).current, obj(outer).max)].filter((x) => x !== null);
  return r.length ? Math.max(...r) : null;
}

function ratio(current, max) {
  const c = Number(current), m = Number(max);
  return Number.isFinite(c) && Number.isFinite(m) && m > 0 ? Math.min(1, c / m) : null;
}
