// Charts as inline SVG elements built in the DOM: no library, no inline style (the CSP forbids it).
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const fmt = (v) =>
  Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : String(Math.round(v * 100) / 100);

/** A "nice" upper bound for an axis. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Horizontal bars, one row per item; `series` names up to two stacked values per item
 * (e.g. messages and errors). items: [{label, values: [a, b]}].
 */
export function barChart(items, { title, series = ['value'], unit = '' } = {}) {
  const rowH = 26;
  const labelW = 130;
  const width = 420;
  const barW = width - labelW - 56;
  const height = Math.max(1, items.length) * rowH + 28;
  const max = niceMax(Math.max(0, ...items.map((i) => i.values.reduce((a, b) => a + b, 0))));
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart bar-chart',
    role: 'img',
    'aria-label': title,
  });
  svg.append(s('title', {}, title));
  if (!items.length) {
    svg.append(
      s(
        'text',
        { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' },
        'no data yet',
      ),
    );
    return svg;
  }
  items.forEach((item, i) => {
    const y = i * rowH + 4;
    svg.append(
      s(
        'text',
        { x: labelW - 8, y: y + rowH / 2 + 1, 'text-anchor': 'end', class: 'chart-label' },
        item.label,
      ),
    );
    let x = labelW;
    item.values.forEach((v, k) => {
      const w = max ? (v / max) * barW : 0;
      if (w > 0) {
        svg.append(
          s(
            'rect',
            { x, y: y + 3, width: Math.max(1, w), height: rowH - 8, rx: 2, class: `bar series-${k}` },
            s('title', {}, `${item.label} · ${series[k] ?? ''}: ${v}${unit}`),
          ),
        );
      }
      x += w;
    });
    const total = item.values.reduce((a, b) => a + b, 0);
    svg.append(s('text', { x: x + 6, y: y + rowH / 2 + 1, class: 'chart-value' }, `${fmt(total)}${unit}`));
  });
  svg.append(s('line', { x1: labelW, x2: labelW, y1: 0, y2: height - 24, class: 'axis' }));
  svg.append(s('text', { x: labelW, y: height - 8, class: 'chart-tick' }, '0'));
  svg.append(
    s(
      'text',
      { x: labelW + barW, y: height - 8, 'text-anchor': 'end', class: 'chart-tick' },
      `${fmt(max)}${unit}`,
    ),
  );
  return svg;
}

/**
 * Lines over time. series: [{name, points: [{t: ms, v: number|null}]}]; shows the last value of each
 * series in the legend.
 */
export function lineChart(series, { title, unit = '' } = {}) {
  const width = 520;
  const height = 200;
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart line-chart',
    role: 'img',
    'aria-label': title,
  });
  svg.append(s('title', {}, title));
  const pts = series.flatMap((x) => x.points.filter((p) => p.v !== null && p.v !== undefined));
  if (pts.length < 1) {
    svg.append(
      s(
        'text',
        { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' },
        'collecting samples…',
      ),
    );
    return svg;
  }
  const t0 = Math.min(...pts.map((p) => p.t));
  const t1 = Math.max(t0 + 1, ...pts.map((p) => p.t));
  const max = niceMax(Math.max(...pts.map((p) => p.v)));
  const X = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const Y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  for (const f of [0, 0.5, 1]) {
    const y = Y(max * f);
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: 'grid' }));
    svg.append(
      s(
        'text',
        { x: pad.l - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-tick' },
        `${fmt(max * f)}${unit}`,
      ),
    );
  }
  const clock = (t) =>
    new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  svg.append(s('text', { x: pad.l, y: height - 6, class: 'chart-tick' }, clock(t0)));
  svg.append(
    s('text', { x: width - pad.r, y: height - 6, 'text-anchor': 'end', class: 'chart-tick' }, clock(t1)),
  );
  series.forEach((x, k) => {
    const p = x.points.filter((q) => q.v !== null && q.v !== undefined);
    if (!p.length) return;
    const d = p.map((q, i) => `${i ? 'L' : 'M'}${X(q.t).toFixed(1)},${Y(q.v).toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: `line series-${k}` }, s('title', {}, x.name)));
    const last = p.at(-1);
    svg.append(s('circle', { cx: X(last.t), cy: Y(last.v), r: 3, class: `dot series-${k}` }));
  });
  return svg;
}

/** A legend for chart series (HTML). */
export function legend(names) {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  names.forEach((n, k) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch series-${k}`;
    li.append(sw, document.createTextNode(n));
    ul.append(li);
  });
  return ul;
}
