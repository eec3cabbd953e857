// The shapes a view is made of, as an elk graph: boxes, nodes sized to their text, and edges
// cut where they cross a box's border. Sizes are decided here, positions by elk (draw.js).

export const CAP = 80;             // nodes laid out at most; the rest is "+N more" and the text list

// Box colours: strokes from nslab.css's palette (accent green, warn rust) and its neighbours.
export const PALETTE = [
  ["#0b6e4f", "#e6f2ec"], ["#2f5d8a", "#e7eef6"], ["#6a4c93", "#f0ebf6"],
  ["#a23b00", "#f9ebe3"], ["#1f7a80", "#e3f2f2"], ["#8a6a00", "#f8f1dc"],
];
export const NEUTRAL = ["#8a8f94", "#fbfbf9"];

export function hash(text) {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(h);
}

// Text widths: the sans labels are measured on a canvas; the monospace font is 0.602 em a
// character (DejaVu Sans Mono), which needs no measuring and no loaded font.
export const FONTS = {
  label: {css: "600 13px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 13, line: 17},
  text: {css: "12px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, line: 16},
  small: {css: "11px system-ui, -apple-system, 'Segoe UI', sans-serif", size: 11, line: 14},
  mono: {mono: true, size: 11.5, line: 15},
};
let measurer = null;
export function textWidth(text, font) {
  const f = FONTS[font];
  if (f.mono) return text.length * f.size * 0.602;
  measurer ||= document.createElement("canvas").getContext("2d");
  measurer.font = f.css;
  return measurer.measureText(text).width;
}

// The height of one layer in an overlay's stack (views/mounts.js sizes it, draw.js draws it).
export const ROW = 20;

// A Graph collects elk nodes and edges and, beside them, a shape per id: the lines of text,
// its kind, its tooltip, the change keys it stands for. elk keeps only geometry.
//
// elk lays out each box on its own, inside out (its default, SEPARATE_CHILDREN): boxes then
// come out as small as their contents and at least as wide as their titles, which the
// all-at-once mode (INCLUDE_CHILDREN) does not honour. An edge that crosses a box's border is
// cut where it crosses: a port on the border, one edge inside, one outside (route()).

const SIDES = {DOWN: ["NORTH", "SOUTH"], UP: ["SOUTH", "NORTH"], RIGHT: ["WEST", "EAST"]};

export class Graph {
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
