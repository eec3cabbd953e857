// nslab browser terminal: xterm.js on the lab's terminal websocket (see shared/api.md).
//
// Output arrives as binary frames and is written as bytes; once xterm.js has rendered it
// (the write callback), the bytes are acknowledged, which is what lets the server stop a
// flood at the pty instead of buffering it. Acks go every ACK_EVERY bytes during a flood
// and after ACK_QUIET ms of quiet otherwise: the server pauses only far beyond ACK_EVERY,
// and an ack per echo would cost the server a message to parse between every two keys.
// The shell lives on the server, so a dropped connection is retried with backoff and the
// server replays the screen on return.
//
// readOnly: a terminal one only watches (the trainer's, presented to the room). No key is
// sent (xterm.js's disableStdin), selecting and copying work (Ctrl+C copies there, as there
// is no shell to interrupt), and the size is the shell's, which the hello says, with the font
// scaled to fit the box: fitted to the box instead, a viewer narrower than the trainer would
// wrap every long line in other places than the trainer's screen does.
"use strict";

(() => {

const ACK_EVERY = 64 * 1024;
const ACK_QUIET = 1000;
// The cursor blinks by this timer and a class on the host (nslab.css), not by xterm.js's
// own blink: its DOM renderer blinks with an endless CSS animation of colours, which Chromium
// runs on the page's main thread, a frame per display refresh for as long as the terminal
// has the focus; every echo then waited behind those frames, 20 ms more per key
// (bench/browser.py). Two class changes a second cost nothing measurable.
const BLINK_MS = 500;
// Tab is the shell's (completion), so a keyboard could never Tab out of a terminal. Escape,
// then Tab (Shift+Tab) leaves it, as in code editors; the Escape is held back this long to
// see whether a Tab follows, and goes to the shell at once when any other key does.
const ESCAPE_HOLD_MS = 400;
const MODIFIERS = new Set(["Shift", "Control", "Alt", "Meta", "AltGraph", "CapsLock"]);
const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex], " +
                  "[contenteditable]";
const MESSAGES = {
  de: {connecting: "Verbinde …", reconnecting: "Verbindung unterbrochen, neuer Versuch in {s} s …",
       exited: "Die Shell wurde beendet (Exit-Status {code}).", newShell: "Neue Shell starten",
       session: "Deine Sitzung ist abgelaufen.", rejoin: "Neu beitreten",
       copied: "kopiert", ok: "OK",
       tooBig: "Zu viel auf einmal eingefügt ({kib}\u00a0KiB): ein Terminal nimmt höchstens {max}\u00a0KiB " +
               "auf einmal. Nichts davon wurde gesendet."},
  en: {connecting: "Connecting …", reconnecting: "Connection lost, retrying in {s} s …",
       exited: "The shell has exited (exit status {code}).", newShell: "Start a new shell",
       session: "Your session has ended.", rejoin: "Join again",
       copied: "copied", ok: "OK",
       tooBig: "Too much pasted at once ({kib}\u00a0KiB): a terminal takes at most {max}\u00a0KiB at a " +
               "time. None of it was sent."},
};

function say(key, vars) {
  const lang = document.documentElement.lang === "en" ? "en" : "de";
  let text = MESSAGES[lang][key];
  for (const [k, v] of Object.entries(vars || {})) text = text.replace("{" + k + "}", v);
  return text;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on the venue's network is not a secure context: no Clipboard API there.
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

class LabTerminal {
  constructor(host, n, {fontSize = 15, path = null, readOnly = false, stillWanted = null,
                        theme = null} = {}) {
    this.host = host;
    this.n = n;
    this.path = path || `/ws/terminal/${n}`;
    this.readOnly = readOnly;
    this.maxFont = fontSize;
    this.stillWanted = stillWanted;  // async () => bool, asked before a reconnect
    this.attempt = 0;
    this.rendered = 0;
    this.acked = 0;
    this.maxInput = Infinity;  // what the server takes in one message: its hello says
    this.ws = null;
    this.listeners = {};
    this.focused = false;
    this.blinking = 0;
    this.heldEscape = 0;  // the timer of an Escape held back (keys)
    this.term = new Terminal({
      allowProposedApi: true,  // needed by the unicode11 addon (emoji and CJK widths)
      fontFamily: '"nslab mono", monospace',
      fontSize,
      cursorBlink: true,
      scrollback: 5000,
      macOptionIsMeta: true,
      rightClickSelectsWord: true,
      disableStdin: readOnly,
      theme: {background: "#1d1f21", foreground: "#e6e6e1", selectionBackground: "#4a6a8a", ...theme},
    });
    this.fit = new FitAddon.FitAddon();
    this.term.loadAddon(this.fit);
    this.term.loadAddon(new WebLinksAddon.WebLinksAddon());
    this.term.loadAddon(new Unicode11Addon.Unicode11Addon());
    this.term.unicode.activeVersion = "11";
    this.overlay = document.createElement("div");
    this.overlay.className = "term-overlay";
    host.appendChild(this.overlay);
    this.term.open(host);
    this.term.attachCustomKeyEventHandler((e) => this.keys(e));
    this.term.onData((data) => this.typed(data));
    this.term.onBinary((data) => {
      this.flushEscape();
      this.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
    });
    this.term.onResize(({cols, rows}) => {
      if (!this.readOnly) this.control({type: "resize", cols, rows});
    });
    this.resizes = new ResizeObserver(() => this.refit());
    this.resizes.observe(host);
    // Ended by dispose(): a page may open another terminal in the same host.
    this.hostEvents = new AbortController();
    const signal = this.hostEvents.signal;
    host.addEventListener("focusin", () => { this.focused = true; this.blink(); }, {signal});
    host.addEventListener("focusout", () => {
      this.focused = false;
      this.blink();
      this.dropEscape();  // Escape, then a click elsewhere (on Run, say): not for the shell
    }, {signal});
  }

  // Show the cursor, and blink it from now on while the terminal has the focus (xterm.js
  // marks the cursor that blinks: focused, and blinking not turned off by the program).
  blink() {
    clearInterval(this.blinking);
    this.blinking = 0;
    if (this.host.classList.contains("cursor-off")) this.host.classList.remove("cursor-off");
    if (this.focused) {
      this.blinking = setInterval(() => this.host.classList.toggle("cursor-off"), BLINK_MS);
    }
  }

  // What the person typed or pasted, on its way to the shell (a held Escape first).
  typed(data) {
    this.flushEscape();
    const bytes = new TextEncoder().encode(data);
    // The server closes the connection on input past its limit (1009): say so here
    // instead, and keep the connection and the shell as they are.
    if (bytes.length > this.maxInput) {
      const kib = (n) => Math.ceil(n / 1024);
      this.status(say("tooBig", {kib: kib(bytes.length), max: kib(this.maxInput)}), say("ok"),
                  () => { this.status(null); this.term.focus(); });
      return;
    }
    this.send(bytes);
    this.blink();
  }

  // An Escape held back (keys) goes to the shell, as typed input (xterm.js scrolls to the
  // bottom for it): before whatever else comes, or when ESCAPE_HOLD_MS have passed.
  flushEscape() {
    if (!this.heldEscape) return;
    this.dropEscape();
    this.term.input("\x1b", true);
  }

  dropEscape() {
    clearTimeout(this.heldEscape);
    this.heldEscape = 0;
  }

  // Escape, then Tab: the focus goes to what comes after the terminal in the page's tab
  // order (before it, with Shift+Tab), as Tab would anywhere else.
  leave(back) {
    const all = [...document.querySelectorAll(FOCUSABLE)].filter((el) =>
      el.tabIndex >= 0 && !el.disabled && !el.closest("[inert]") && !this.host.contains(el) &&
      el.getClientRects().length && getComputedStyle(el).visibility !== "hidden");
    const after = (el) => this.host.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
    const next = back ? all.filter((el) => !after(el)).pop() : all.find(after);
    if (next) next.focus();
    else this.term.blur();
  }

  on(event, fn) { (this.listeners[event] ||= []).push(fn); }
  emit(event, data) { for (const fn of this.listeners[event] || []) fn(data); }

  keys(e) {
    if (e.type !== "keydown") return true;
    const plain = !e.ctrlKey && !e.altKey && !e.metaKey;
    // Watching only, there is no shell to complete: Tab moves on as anywhere in a page.
    if (this.readOnly && e.key === "Tab" && plain) return false;
    if (!this.readOnly && !MODIFIERS.has(e.key)) {
      if (e.isComposing || e.keyCode === 229) {  // an input method's: none of ours
        this.flushEscape();
        return true;
      }
      if (this.heldEscape && e.key === "Tab" && plain) {
        this.dropEscape();
        e.preventDefault();
        this.leave(e.shiftKey);
        return false;
      }
      this.flushEscape();  // not a way out: the shell gets its Escape, before this key
      if (e.key === "Escape" && plain && !e.shiftKey) {
        this.heldEscape = setTimeout(() => this.flushEscape(), ESCAPE_HOLD_MS);
        e.preventDefault();
        e.stopPropagation();  // the terminal's, as xterm.js's own keys are
        return false;
      }
    }
    const mod = e.ctrlKey && e.shiftKey;
    if (mod && e.code === "KeyC") {
      const text = this.term.getSelection();
      if (text) copyText(text).then(() => this.flash(say("copied")));
      e.preventDefault();
      return false;
    }
    // Ctrl+Shift+V: let the browser paste (xterm.js handles the paste event); never send ^V.
    if (mod && e.code === "KeyV") return false;
    // Watching only: Ctrl+C (Cmd+C) copies, as in any page; there is no shell to interrupt.
    if (this.readOnly && (e.ctrlKey || e.metaKey) && e.code === "KeyC") {
      const text = this.term.getSelection();
      if (text) copyText(text).then(() => this.flash(say("copied")));
      return false;
    }
    return true;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}${this.path}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.status(say("connecting"));
    ws.onopen = () => { this.attempt = 0; };
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = (e) => this.closed(e);
  }

  receive(data) {
    if (typeof data === "string") {
      const msg = JSON.parse(data);
      if (msg.type === "hello") {
        // The server replays the screen next: start from a clean terminal.
        this.term.reset();
        this.rendered = this.acked = this.writing = 0;
        this.maxInput = msg.max_input || this.maxInput;
        this.status(null);
        if (this.readOnly) this.mirror(msg.cols, msg.rows);
        else this.refit(true);
      } else if (msg.type === "size" && this.readOnly) {  // the shell was resized
        this.mirror(msg.cols, msg.rows);
      } else if (msg.type === "exit") {
        this.exitCode = msg.code;
      }
      this.emit(msg.type, msg);
      return;
    }
    const bytes = new Uint8Array(data);
    this.blink();
    this.writing = (this.writing || 0) + 1;
    this.term.write(bytes, () => {
      this.rendered += bytes.length;
      this.writing -= 1;
      if (this.rendered - this.acked >= ACK_EVERY) this.ack();
      else if (this.writing === 0 && !this.ackTimer) {
        this.ackTimer = setTimeout(() => this.ack(), ACK_QUIET);
      }
    });
  }

  ack() {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.rendered > this.acked && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.acked = this.rendered;
      this.control({type: "ack", bytes: this.acked});
    }
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  control(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  refit(force) {
    if (this.readOnly) { this.mirror(); return; }
    if (!this.host.offsetWidth) return;
    const before = [this.term.cols, this.term.rows];
    this.fit.fit();
    if (force && before[0] === this.term.cols && before[1] === this.term.rows) {
      this.control({type: "resize", cols: this.term.cols, rows: this.term.rows});
    }
  }

  // The shell's own size (cols x rows), in the largest font up to the one asked for that
  // lets it fit the box; a smaller box gets a smaller font, never different line breaks.
  mirror(cols, rows) {
    if (cols && rows) this.shell = {cols, rows};
    if (!this.shell || !this.host.offsetWidth) return;
    ({cols, rows} = this.shell);
    const fits = () => {
      const d = this.fit.proposeDimensions();
      return d && d.cols >= cols && d.rows >= rows;
    };
    let size = this.maxFont;
    const d = this.fit.proposeDimensions();
    if (d) {  // a first guess from the current font's cells, then down in half points
      const now = this.term.options.fontSize;
      size = Math.min(this.maxFont, Math.floor(2 * now * Math.min(d.cols / cols, d.rows / rows)) / 2);
    }
    size = Math.max(6, size);
    if (this.term.options.fontSize !== size) this.term.options.fontSize = size;
    while (size > 6 && !fits()) this.term.options.fontSize = size -= 0.5;
    if (this.term.cols !== cols || this.term.rows !== rows) this.term.resize(cols, rows);
  }

  async closed(e) {
    this.ws = null;
    if (e.code === 1000 && /exited/.test(e.reason)) {
      this.status(say("exited", {code: this.exitCode ?? "?"}), say("newShell"), () => this.connect());
      return;
    }
    if (e.code === 1012) {  // the lab host was made fresh: a new shell is waiting
      this.attempt = 0;
      setTimeout(() => this.connect(), 200);
      return;
    }
    if (this.closedByPage) return;
    if (this.stillWanted && !(await this.stillWanted().catch(() => true))) {
      this.emit("gone", e);
      return;
    }
    // A refused upgrade looks like any lost connection: ask whether the session still holds.
    const me = this.path.startsWith("/ws/terminal/") ? await fetch("/api/me").catch(() => null) : null;
    if (me && me.status === 401) {
      this.status(say("session"), say("rejoin"), () => { location.href = "/"; });
      this.emit("session-ended", e);
      return;
    }
    const wait = Math.min(10, 0.5 * 2 ** this.attempt++);
    this.status(say("reconnecting", {s: wait}));
    setTimeout(() => this.connect(), wait * 1000);
  }

  dispose() {
    this.closedByPage = true;
    clearTimeout(this.ackTimer);
    this.dropEscape();
    this.resizes.disconnect();
    this.hostEvents.abort();
    this.focused = false;
    this.blink();
    if (this.ws) this.ws.close();
    this.term.dispose();
    this.overlay.remove();  // its nodes go with it: the host may get another terminal
  }

  status(text, button, action) {
    this.overlay.replaceChildren();
    this.overlay.hidden = !text;
    if (!text) return;
    const p = document.createElement("p");
    p.textContent = text;
    this.overlay.appendChild(p);
    if (button) {
      const b = document.createElement("button");
      b.textContent = button;
      b.onclick = action;
      this.overlay.appendChild(b);
    }
  }

  flash(text) {
    this.host.dataset.flash = text;
    setTimeout(() => delete this.host.dataset.flash, 900);
  }
}

async function openTerminal(host, n, options) {
  await document.fonts.load('16px "nslab mono"');  // xterm.js measures the font once, at open
  const t = new LabTerminal(host, n, options);
  t.connect();
  return t;
}

window.nslab = Object.assign(window.nslab || {}, {openTerminal, copyText});
})();
