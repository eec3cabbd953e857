import {arr, obj, str} from "../model.js";
import {clip} from "../texts.js";
import {CAP, Graph, NEUTRAL, PALETTE, hash} from "../graph.js";

// Network: a box per net namespace with its interfaces; veth pairs as cables between boxes,
// interfaces on a bridge tied to it.
export function buildNetwork(model, t, {wide = false} = {}) {
  const g = new Graph(t, wide ? "RIGHT" : "DOWN",
                      {"elk.layered.spacing.nodeNodeBetweenLayers": "36"});
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
