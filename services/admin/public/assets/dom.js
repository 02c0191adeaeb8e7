// Tiny DOM helpers: every text goes in through textContent, never innerHTML.

/**
 * h('button.primary#id', {onclick, type: 'button'}, 'text', child, [more]) builds an element.
 * Attributes starting with "on" become listeners; `dataset` and `hidden`/`disabled` are set as properties.
 */
export function h(spec, attrs = {}, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement(m?.[1] || 'div');
  for (const part of (m?.[2] ?? '').match(/[.#][\w-]+/g) ?? []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'className') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected')
      el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from column headers and rows of cells; `empty` is shown when there are no rows. */
export function table(headers, rows, empty = 'Nothing here.', cls = '') {
  if (!rows.length) return h('p.empty', empty);
  return h(
    `table${cls ? `.${cls}` : ''}`,
    h(
      'thead',
      h(
        'tr',
        headers.map((x) => h('th', x)),
      ),
    ),
    h(
      'tbody',
      rows.map((r) =>
        r instanceof Node
          ? r
          : h(
              'tr',
              r.map((c) => h('td', c)),
            ),
      ),
    ),
  );
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** A timestamp as the reader's local time, with the ISO value as its tooltip. */
export function when(v) {
  if (!v) return h('span.muted', '—');
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, timeFmt.format(d));
}

export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function ms(v) {
  if (v === null || v === undefined) return '—';
  return v >= 10_000 ? `${num(v / 1000, 1)} s` : `${num(v)} ms`;
}

export function json(v) {
  return h('pre.json', JSON.stringify(v, null, 2));
}

/** A short message shown where a section's content would be. */
export function errorBox(err) {
  return h('p.error', { role: 'alert' }, err?.message ?? String(err));
}

/** A form field: label + control. */
export function field(label, control, hint) {
  return h('label.field', h('span', label), control, hint ? h('small.muted', hint) : null);
}
