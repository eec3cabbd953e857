import {arr, obj, str, nsKey, newKinds, nsDetails} from "../model.js";
import {clip} from "../texts.js";
import {CAP, Graph, NEUTRAL, PALETTE, hash} from "../graph.js";

// Processes & namespaces: the process tree; each set of namespaces other than the lab host's
// (or another root) a coloured box, nested where a container's process made it.
export function buildProcesses(model, t, {wide = false} = {}) {
  const g = new Graph(t, wide ? "RIGHT" : "DOWN");
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
