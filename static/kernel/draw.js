// Placing and drawing: elk lays out a view's graph (graph.js), then each box, edge and node
// becomes SVG, and the tooltip follows the pointer. Text goes in with textContent only.

import {arr} from "./model.js";
import {clip} from "./texts.js";
import {FONTS, NEUTRAL, ROW, textWidth} from "./graph.js";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

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

// Lay out a view's graph: rejects with "no ELK" when the layout library never came.
export async function layout(g) {
  return (await layoutEngine()).layout(g.route());
}

export function draw(svg, laid, g, changed, tips) {
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

// The tooltip of what is under the pointer (tips: drawn element -> text), placed beside it
// inside the scrolling canvas.
export function placeTip(tip, canvas, tips, e) {
  let target = e.target;
  while (target && target !== canvas && !tips.has(target)) target = target.parentNode;
  const text = target && tips.get(target);
  if (!text) { tip.hidden = true; return; }
  if (tip.textContent !== text) tip.textContent = text;
  tip.hidden = false;
  const box = canvas.getBoundingClientRect();
  const x = e.clientX - box.left + canvas.scrollLeft, y = e.clientY - box.top + canvas.scrollTop;
  const flip = e.clientX - box.left > box.width * 0.6;   // near the right edge: show it on the left
  tip.style.left = `${flip ? Math.max(0, x - tip.offsetWidth - 12) : x + 14}px`;
  tip.style.top = `${y + 14}px`;
}
