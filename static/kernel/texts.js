// The picture's words, German and English; the trainer's console shows both at once.

export const TEXTS = {
  de: {title: "Kernel-Blick", processes: "Prozesse & Namespaces", mounts: "Mounts & Schichten",
       network: "Netzwerk", cgroups: "Cgroups", large: "Groß anzeigen", close: "Schließen",
       collapse: "Einklappen", expand: "Ausklappen", asText: "Als Text", labhost: "Lab-Host",
       new: "neu", more: "+{n} weitere", loading: "Lade …", error: "Bild nicht verfügbar: {e}",
       noElk: "Die Layout-Bibliothek fehlt; die Liste unten zeigt alles.",
       noMounts: "Noch nichts eingehängt.", noCgroups: "Keine Cgroups.", folders: "Ordner des Lab-Hosts",
       rootOf: "Wurzel von {who}", shared: "geteilt ×{n}", chroot: "nur chroot",
       peer: "Gegenstück", noPeer: "Gegenstück unbekannt", on: "an {b}", processesWord: "Prozesse",
       memory: "Speicher", added: "Neu", changed: "Geändert", removed: "Weg", nothing: "—",
       namespaces: "Namespaces", folder: "Ordner", bindOf: "gebunden von {d}", members: "PIDs",
       lab: "Lab ≤ {n}",
       labWhy: "Lab ≤: vom Lab auf der Eltern-Cgroup gesetzt; Teilnehmende können es nicht anheben"},
  en: {title: "See the kernel", processes: "Processes & namespaces", mounts: "Mounts & layers",
       network: "Network", cgroups: "Cgroups", large: "Show large", close: "Close",
       collapse: "Collapse", expand: "Expand", asText: "As text", labhost: "lab host",
       new: "new", more: "+{n} more", loading: "Loading …", error: "Picture not available: {e}",
       noElk: "The layout library is missing; the list below shows everything.",
       noMounts: "Nothing mounted yet.", noCgroups: "No cgroups.", folders: "lab host folders",
       rootOf: "root of {who}", shared: "shared ×{n}", chroot: "chroot only",
       peer: "peer", noPeer: "peer unknown", on: "on {b}", processesWord: "processes",
       memory: "memory", added: "New", changed: "Changed", removed: "Gone", nothing: "—",
       namespaces: "namespaces", folder: "folder", bindOf: "bound from {d}", members: "pids",
       lab: "lab ≤ {n}",
       labWhy: "lab ≤: set by the lab on the parent cgroup; the attendee cannot lift it"},
};

// One text in one language ("de", "en") or in both ("Netzwerk · Network"), {vars} filled in;
// a text both languages spell alike but for case ("Lab ≤ 512", "lab ≤ 512") is shown once.
export function translate(lang, key, vars) {
  const one = (l) => {
    let text = TEXTS[l][key];
    for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
    return text;
  };
  if (lang !== "both") return one(lang);
  const de = one("de"), en = one("en");
  return de.toLowerCase() === en.toLowerCase() ? de : `${de} · ${en}`;
}

export function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

export function human(bytes) {
  if (bytes === "max") return "max";
  let n = Number(bytes);
  if (!Number.isFinite(n)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${n < 10 && u ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}
