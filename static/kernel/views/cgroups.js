import {arr, obj, str} from "../model.js";
import {clip, human} from "../texts.js";
import {CAP, Graph} from "../graph.js";

// Cgroups: the tree by path, each with pids and memory against their limits.
export function buildCgroups(model, t) {
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
