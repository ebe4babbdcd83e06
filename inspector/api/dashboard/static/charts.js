/* Plain SVG charts (no library): stacked bars with a line on a second axis, horizontal bars. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }
  function title(text) { return s("title", {}, text); }

  /* bars: [{label, parts: {name: n}, line: 0..1|null, href}] stacked in `series` order. */
  function stacked(box, bars, series, lineName) {
    const W = 640, H = 260, L = 44, R = 44, T = 10, B = 36;
    const max = Math.max(1, ...bars.map((b) => series.reduce((a, k) => a + (b.parts[k] || 0), 0)));
    const bw = (W - L - R) / Math.max(1, bars.length);
    const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, class: "svg-chart", role: "img"});
    svg.append(s("text", {x: 4, y: T + 8, class: "axis"}, String(max)), s("text", {x: 4, y: H - B, class: "axis"}, "0"),
               s("text", {x: W - R + 4, y: T + 8, class: "axis"}, "100%"), s("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "base"}));
    const pts = [];
    bars.forEach((b, i) => {
      let y = H - B;
      const x = L + i * bw;
      const g = s("a", b.href ? {href: b.href} : {});
      for (const k of series) {
        const h = (H - B - T) * (b.parts[k] || 0) / max;
        if (h > 0) g.append(s("rect", {x: x + 1, y: y - h, width: Math.max(1, bw - 2), height: h, class: "s-" + k},
                              title(`${b.label}: ${b.parts[k]} ${k}`)));
        y -= h;
      }
      svg.append(g);
      if (b.line !== null && b.line !== undefined) pts.push([x + bw / 2, T + (H - B - T) * (1 - b.line)]);
      const every = Math.ceil(bars.length / 8);
      if (i % every === 0) svg.append(s("text", {x: x + bw / 2, y: H - B + 16, class: "axis mid"}, b.label));
    });
    if (pts.length) svg.append(s("polyline", {points: pts.map((p) => p.join(",")).join(" "), class: "line"}, title(lineName)));
    box.replaceChildren(svg);
  }

  /* rows: [{label, value, share, href}] as horizontal bars with a cumulative share line. */
  function pareto(box, rows) {
    const W = 640, rowH = 30, L = 140, R = 70;
    const H = Math.max(40, rows.length * rowH + 10);
    const max = Math.max(1, ...rows.map((r) => r.value));
    const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, class: "svg-chart", role: "img"});
    rows.forEach((r, i) => {
      const y = 5 + i * rowH;
      const w = (W - L - R) * r.value / max;
      const a = s("a", r.href ? {href: r.href} : {},
        s("text", {x: L - 8, y: y + rowH / 2 + 5, class: "label end"}, r.label),
        s("rect", {x: L, y: y + 3, width: Math.max(1, w), height: rowH - 6, class: "s-pareto"}, title(`${r.label}: ${r.value}`)),
        s("text", {x: L + w + 6, y: y + rowH / 2 + 5, class: "label"}, `${r.value} · ${(100 * r.cumulative).toFixed(0)}%`));
      svg.append(a);
    });
    if (!rows.length) svg.append(s("text", {x: 10, y: 25, class: "label"}, "no REVIEW or NG parts in this range"));
    box.replaceChildren(svg);
  }

  window.Charts = {stacked, pareto};
})();
