// Grouped bar chart as inline SVG, built with DOM APIs (no innerHTML, no inline
// styles: colours come from app.css classes).

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...kids) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  for (const k of kids) if (k !== null && k !== undefined) n.append(k);
  return n;
}

// A step of 1, 2 or 5 x 10^k, at least 1, giving about `parts` gridlines.
function niceStep(max, parts) {
  const raw = Math.max(1, max / parts);
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

let seq = 0;

/**
 * opts: {title, desc, labels: [string], tips: [string] (per bucket, optional),
 *        series: [{name, cls, values: [number]}], width}
 * Returns an <svg role="img"> labelled by its <title> and <desc>.
 */
export function barChart(opts) {
  const { labels, series } = opts;
  const n = labels.length || 1;
  const W = Math.round(Math.min(900, Math.max(320, opts.width || 720)));
  const H = 240;
  const m = { l: 44, r: 8, t: 12, b: 30 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const step = niceStep(max, 4);
  const top = step * Math.max(1, Math.ceil(max / step));
  const y = (v) => m.t + ph - (v / top) * ph;
  const band = pw / n;
  const bw = (band * 0.8) / series.length;
  const id = 'chart' + ++seq;

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg',
    'aria-labelledby': `${id}-t ${id}-d`,
  }, svg('title', { id: id + '-t' }, opts.title), svg('desc', { id: id + '-d' }, opts.desc));

  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= top; v += step) {
    grid.append(
      svg('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
      svg('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  const every = Math.max(1, Math.ceil((n * 64) / pw));
  labels.forEach((lab, i) => {
    if (i % every === 0) {
      grid.append(svg('text', { x: m.l + band * (i + 0.5), y: H - 10, 'text-anchor': 'middle' }, lab));
    }
  });
  root.append(grid);

  const bars = svg('g', { class: 'bars' });
  labels.forEach((lab, i) => {
    const tip = (opts.tips && opts.tips[i]) || lab;
    series.forEach((s, j) => {
      const v = s.values[i] || 0;
      const h = Math.max(v ? 1 : 0, y(0) - y(v));
      bars.append(svg('rect', {
        class: s.cls, x: (m.l + band * i + band * 0.1 + bw * j).toFixed(1), y: (y(0) - h).toFixed(1),
        width: Math.max(1, bw - 1).toFixed(1), height: h.toFixed(1),
      }, svg('title', null, `${tip}: ${v} ${s.name.toLowerCase()}`)));
    });
  });
  root.append(bars, svg('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }));
  return root;
}
