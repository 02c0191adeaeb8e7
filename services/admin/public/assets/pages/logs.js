// Live logs: recent lines, then the Server-Sent Events tail, filtered by level, service and keyword.
import { get, qs } from '../api.js';
import { errorBox, field, fill, h } from '../dom.js';

const MAX_LINES = 1_000;

function lineOf(l) {
  const level = String(l['log.level'] ?? l.level ?? 'info').toLowerCase();
  const service = l['service.name'] ?? l.service?.name ?? l['event.dataset'] ?? '?';
  const trace = l['trace.id'] ?? l.trace?.id;
  const at = l['@timestamp'] ? new Date(l['@timestamp']) : null;
  const row = h(
    `li.log.level-${level}`,
    h('time.muted', at ? at.toLocaleTimeString() : ''),
    h(`span.level.level-${level}`, level),
    h('span.service', service),
    h('span.message', String(l.message ?? '')),
    trace ? h('code.small.trace', trace) : null,
  );
  row.title = JSON.stringify(l, null, 2);
  return row;
}

export async function render(ctx) {
  const level = h(
    'select#log-level',
    ['', 'debug', 'info', 'warn', 'error'].map((x) =>
      h('option', { value: x }, x ? `${x} and worse` : 'any level'),
    ),
  );
  const service = h('input#log-service', { placeholder: 'e.g. agent-worker' });
  const q = h('input#log-q', { type: 'search', placeholder: 'keyword or trace id' });
  const pause = h('button.quiet#log-pause', { type: 'button' }, 'Pause');
  const clear = h('button.quiet', { type: 'button' }, 'Clear');
  const status = h('span.muted#log-status', '');
  const list = h('ol.logs#log-lines');
  const form = h(
    'form.search#log-filters',
    field('Level', level),
    field('Service', service),
    field('Keyword', q),
    h('button', { type: 'submit' }, 'Apply'),
    pause,
    clear,
  );
  const err = h('div');
  fill(ctx.main, h('div.page-head', h('h1', 'Live logs'), status), form, err, list);

  let source;
  let paused = false;
  let held = [];

  function add(line) {
    if (paused) {
      held.push(line);
      if (held.length > MAX_LINES) held.shift();
      status.textContent = `paused — ${held.length} new line(s) held`;
      return;
    }
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    list.append(lineOf(line));
    while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  async function connect() {
    source?.close();
    fill(list);
    fill(err);
    const filter = { level: level.value, service: service.value.trim(), q: q.value.trim() };
    try {
      const r = await get(`/admin/api/logs${qs({ ...filter, limit: 200 })}`);
      for (const l of r.lines) add(l);
      if (!r.lines.length)
        list.append(
          h('li.empty#log-empty', 'No line matches yet; new ones appear here as they are written.'),
        );
      if (!r.live)
        fill(
          err,
          h(
            'p.warn',
            'The admin is not bound to the log exchange right now: no new lines arrive until it reconnects.',
          ),
        );
    } catch (e) {
      fill(err, errorBox(e));
      return;
    }
    source = new EventSource(`/admin/api/logs/stream${qs(filter)}`, { withCredentials: true });
    source.onopen = () => {
      if (!paused) status.textContent = 'live';
    };
    source.onmessage = (ev) => {
      document.getElementById('log-empty')?.remove();
      try {
        add(JSON.parse(ev.data));
      } catch {
        // A line that is not JSON is not ours.
      }
    };
    source.onerror = () => {
      status.textContent = 'disconnected — reconnecting…';
    };
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      const lines = held;
      held = [];
      for (const l of lines) add(l);
      status.textContent = 'live';
    } else status.textContent = 'paused';
  });
  clear.addEventListener('click', () => fill(list));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    connect();
  });
  window.addEventListener('pagehide', () => source?.close());
  await connect();
}
