// Overview: traffic, latency, errors, models and queues, refreshed every 5 s.
import { get, qs } from '../api.js';
import { barChart, legend, lineChart } from '../charts.js';
import { errorBox, fill, h, ms, num, table, when } from '../dom.js';

const REFRESH_MS = 5_000;
const KEEP_SAMPLES = 120;

export async function render(ctx) {
  const windowSel = h(
    'select#window',
    { 'aria-label': 'Window' },
    ['15m', '1h', '6h', '24h', '7d', '31d'].map((w) => h('option', { value: w, selected: w === '1h' }, w)),
  );
  const updated = h('span.muted#updated', '');
  const pause = h('button.quiet#pause-refresh', { type: 'button' }, 'Pause refresh');
  const cards = h('div.cards#cards');
  const charts = h('div.grid#charts');
  const live = h('div.grid#live-charts');
  const services = h('section.panel#services');
  const err = h('div#overview-error');
  fill(
    ctx.main,
    h('div.page-head', h('h1', 'Overview'), h('div.row', h('label', 'Window ', windowSel), pause, updated)),
    err,
    cards,
    charts,
    h('h2', 'Live (since this page opened)'),
    live,
    services,
  );

  const samples = [];
  let paused = false;
  let timer;
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume refresh' : 'Pause refresh';
    if (!paused) refresh();
  });
  windowSel.addEventListener('change', () => refresh());

  async function refresh() {
    clearTimeout(timer);
    try {
      const [ov, st] = await Promise.all([
        get(`/admin/api/overview${qs({ window: windowSel.value })}`),
        get('/admin/api/status'),
      ]);
      fill(err);
      draw(ov, st);
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      fill(err, errorBox(e));
    }
    if (!paused && ctx.main.isConnected) timer = setTimeout(refresh, REFRESH_MS);
  }

  function draw(ov, st) {
    const messages = ov.platforms.reduce((a, p) => a + p.messages, 0);
    const queued = st.queues.reduce((a, q) => a + (q.messages ?? 0), 0);
    const parking = st.queues.find((q) => /\.parking$/.test(q.name));
    const card = (label, value, id, cls = '') =>
      h(
        `div.card${cls ? `.${cls}` : ''}`,
        { dataset: { card: id } },
        h('div.value', value),
        h('div.label', label),
      );
    fill(
      cards,
      card(`messages in ${ov.window}`, num(messages), 'messages'),
      card('error rate', `${num(ov.errorRate * 100, 1)} %`, 'error-rate', ov.errorRate > 0.05 ? 'bad' : ''),
      card('latency p50', ms(ov.latency.p50), 'p50'),
      card('latency p95', ms(ov.latency.p95), 'p95'),
      card('latency p99', ms(ov.latency.p99), 'p99'),
      card('queued now', num(queued), 'queued'),
      card('parked', num(parking?.messages ?? 0), 'parked', parking?.messages ? 'warn' : ''),
      card(
        'services ready',
        `${st.services.filter((x) => x.ready).length} / ${st.services.length}`,
        'services',
        st.services.some((x) => !x.ready) ? 'bad' : '',
      ),
    );
    const agentQueues = st.queues.filter((q) => !/\.retry\.|\.unrouted$/.test(q.name) || q.messages);
    fill(
      charts,
      h(
        'section.panel',
        h('h2', 'Messages per platform'),
        barChart(
          ov.platforms.map((p) => ({ label: p.platform, values: [p.messages - 0, p.errors] })),
          { title: 'Messages per platform', series: ['messages', 'errors'] },
        ),
        legend(['user messages', 'failed answers']),
      ),
      h(
        'section.panel',
        h('h2', 'Model usage'),
        barChart(
          ov.models.map((m) => ({ label: m.model, values: [m.calls - m.failures, m.failures] })),
          { title: 'Model calls', series: ['ok', 'failed'] },
        ),
        legend(['answered', 'failed']),
        table(
          ['model', 'calls', 'failures', 'prompt tokens', 'completion tokens'],
          ov.models.map((m) => [
            m.model,
            num(m.calls),
            num(m.failures),
            num(m.promptTokens),
            num(m.completionTokens),
          ]),
          'No model calls in this window.',
          'compact',
        ),
      ),
      h(
        'section.panel',
        h('h2', 'Queue depths'),
        barChart(
          agentQueues.map((q) => ({
            label: q.name.replace(/^[^.]+\./, ''),
            values: [q.ready ?? q.messages ?? 0, q.unacked ?? 0],
          })),
          { title: 'Queue depths', series: ['ready', 'unacked'] },
        ),
        legend(['ready', 'unacked']),
        table(
          ['queue', 'messages', 'ready', 'unacked', 'consumers'],
          st.queues.map((q) => [
            q.name,
            num(q.messages),
            num(q.ready),
            q.unacked === null ? '—' : num(q.unacked),
            num(q.consumers),
          ]),
          'No queue figures.',
          'compact',
        ),
        h(
          'p.muted.small',
          `figures from ${st.queueSource === 'management' ? 'the RabbitMQ management API' : 'AMQP (no unacked count)'}`,
          st.queueError ? ` — ${st.queueError}` : '',
        ),
      ),
    );
    samples.push({ t: Date.now(), ov, queued });
    if (samples.length > KEEP_SAMPLES) samples.shift();
    fill(
      live,
      h(
        'section.panel',
        h('h2', 'Latency'),
        lineChart(
          ['p50', 'p95', 'p99'].map((k) => ({
            name: k,
            points: samples.map((x) => ({ t: x.t, v: x.ov.latency[k] })),
          })),
          { title: 'Latency percentiles (ms)', unit: '' },
        ),
        legend(['p50 ms', 'p95 ms', 'p99 ms']),
      ),
      h(
        'section.panel',
        h('h2', 'Queued messages and error rate'),
        lineChart(
          [
            { name: 'queued', points: samples.map((x) => ({ t: x.t, v: x.queued })) },
            { name: 'error %', points: samples.map((x) => ({ t: x.t, v: x.ov.errorRate * 100 })) },
          ],
          { title: 'Queued messages and error rate' },
        ),
        legend(['queued messages', 'error rate %']),
      ),
    );
    fill(
      services,
      h('h2', 'Services'),
      table(
        ['service', 'ready', 'detail'],
        st.services.map((x) => [
          x.name,
          h(`span.pill.${x.ready ? 'ok' : 'bad'}`, x.ready ? 'ready' : 'not ready'),
          h('code.small', typeof x.detail === 'string' ? x.detail : JSON.stringify(x.detail)),
        ]),
        'No services configured (ADMIN_SERVICES).',
      ),
      h('p.muted.small', 'Window since ', when(ov.since)),
    );
  }

  await refresh();
}
