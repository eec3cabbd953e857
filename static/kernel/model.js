// Reading the server's model (docs/kernel-model.md) without trusting its shape, and what
// changed from one model to the next.

export const KINDS = ["pid", "mnt", "uts", "net", "ipc", "cgroup", "user", "time"];

// The model is the server's; every field but the top-level lists may be missing.
export const arr = (x) => (Array.isArray(x) ? x : []);
export const obj = (x) => (x && typeof x === "object" && !Array.isArray(x) ? x : {});
export const str = (x) => (x === null || x === undefined ? "" : String(x));

export function nsKey(p) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns).map((k) => `${k}:${ns[k]}`).join(" ");
}

export function newKinds(p, labNs) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns && k in labNs && ns[k] !== labNs[k]);
}

export function nsDetails(p, labNs, t) {
  const ns = obj(p.namespaces);
  return KINDS.filter((k) => k in ns)
    .map((k) => `${k.padEnd(6)} ${ns[k]}${ns[k] !== labNs[k] ? `  ← ${t("new")}` : ""}`).join("\n");
}

// What changed: stable keys and a signature of what each one shows.
export function facts(model) {
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
        [obj(c.pids).max, obj(c.memory).max, arr(c.procs).slice().sort(),
         obj(obj(c.outer).pids).max, obj(obj(c.outer).memory).max]);
  }
  return out;
}

export function diff(before, after) {
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
