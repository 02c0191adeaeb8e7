// The parking queue: why each message was parked, its content, replay to its queue or discard.
import { api, get } from '../api.js';
import { errorBox, fill, h, json, table, when } from '../dom.js';

export async function render(ctx) {
  const list = h('section.panel#parked');
  const detail = h('section.panel#parked-detail', { hidden: true });
  const note = h('div#parking-note');
  const reload = h('button.quiet', { type: 'button', onclick: () => load() }, 'Reload');
  fill(ctx.main, h('div.page-head', h('h1', 'Parking queue'), reload), note, list, detail);

  async function load() {
    try {
      const r = await get('/admin/api/parking');
      const rows = r.messages.map((m) => {
        const replay = ctx.guard(
          h('button.small.replay', { type: 'button', onclick: () => act(m, 'replay') }, 'Replay'),
          'operator',
        );
        const discard = ctx.guard(
          h('button.small.danger.discard', { type: 'button', onclick: () => act(m, 'discard') }, 'Discard'),
          'operator',
        );
        return h(
          'tr.parked',
          { dataset: { id: m.id, messageId: m.messageId ?? '' } },
          h('td', when(m.parkedAt)),
          h(
            'td',
            h('code', m.messageId ?? '—'),
            m.traceId ? h('div.muted.small', 'trace ', h('code', m.traceId)) : null,
          ),
          h('td', h('code.small', m.routingKey ?? '')),
          h('td.reason', m.reason ?? '—', m.errorCode ? h('div', h('span.pill.bad', m.errorCode)) : null),
          h('td.num', m.attempts ?? '—'),
          h(
            'td.actions',
            h('button.small.quiet.inspect', { type: 'button', onclick: () => inspect(m) }, 'Inspect'),
            replay,
            discard,
          ),
        );
      });
      fill(
        list,
        h('h2', `${r.messages.length} parked message${r.messages.length === 1 ? '' : 's'}`),
        table(
          ['parked', 'message', 'from queue', 'reason', 'attempts', ''],
          rows,
          'The parking queue is empty: every message was processed or is still being retried.',
        ),
      );
    } catch (e) {
      fill(list, errorBox(e));
    }
  }

  async function inspect(m) {
    detail.hidden = false;
    fill(detail, h('h2', 'Parked message'), h('p.muted', 'Loading…'));
    try {
      const full = await get(`/admin/api/parking/${m.id}`);
      fill(
        detail,
        h('h2', 'Parked message ', h('code', full.messageId ?? m.id)),
        h('p.reason', full.reason ?? ''),
        h('h3', 'Body'),
        json(full.body),
        h('h3', 'Headers'),
        json(full.headers ?? {}),
        h('h3', 'Properties'),
        json(full.properties ?? {}),
      );
    } catch (e) {
      fill(detail, h('h2', 'Parked message'), errorBox(e));
    }
  }

  async function act(m, what) {
    const text =
      what === 'replay'
        ? `Replay ${m.messageId ?? m.id} to ${m.routingKey}? It is processed again as if new.`
        : `Discard ${m.messageId ?? m.id}? It is removed for good (the audit log keeps its body).`;
    if (!(await ctx.confirm(text, what === 'replay' ? 'Replay' : 'Discard'))) return;
    try {
      if (what === 'replay') await api('POST', `/admin/api/parking/${m.id}/replay`);
      else await api('DELETE', `/admin/api/parking/${m.id}`);
      fill(
        note,
        h(
          'p.ok',
          what === 'replay' ? `Replayed ${m.messageId} to ${m.routingKey}.` : `Discarded ${m.messageId}.`,
        ),
      );
      detail.hidden = true;
    } catch (e) {
      fill(note, errorBox(e));
    }
    await load();
  }

  await load();
}
