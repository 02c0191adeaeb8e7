// Pairing: strangers waiting for approval, the blocklist, and who is paired.
import { api, get } from '../api.js';
import { errorBox, fill, h, table, when } from '../dom.js';

export async function render(ctx) {
  const note = h('div#pairing-note');
  const pending = h('section.panel#pending');
  const blocked = h('section.panel#blocklist');
  const paired = h('section.panel#paired');
  fill(ctx.main, h('div.page-head', h('h1', 'Pairing')), note, pending, blocked, paired);

  async function run(fn, ok) {
    try {
      await fn();
      fill(note, h('p.ok', ok));
    } catch (e) {
      fill(note, errorBox(e));
    }
    await load();
  }

  async function load() {
    let r;
    try {
      r = await get('/admin/api/pairing');
    } catch (e) {
      fill(pending, errorBox(e));
      return;
    }
    fill(
      pending,
      h('h2', 'Pending requests'),
      table(
        ['#', 'platform', 'user', 'conversation', 'attempts', 'expires', ''],
        r.pending.map((p) => {
          const hours = h('input.narrow', {
            type: 'number',
            min: 1,
            value: 1,
            'aria-label': 'block for hours',
          });
          return h(
            'tr',
            { dataset: { request: p.id } },
            h('td', p.id),
            h('td', h('span.pill', p.platform), h('div.muted.small', p.botId)),
            h('td', p.userName ?? '', h('div', h('code', p.externalId))),
            h('td', h('code', p.conversationId)),
            h('td.num', p.attempts ?? 0),
            h('td', when(p.expiresAt)),
            h(
              'td.actions',
              ctx.guard(
                h(
                  'button.small',
                  {
                    type: 'button',
                    onclick: () =>
                      run(
                        () => api('POST', `/admin/api/pairing/${p.id}/approve`),
                        `Approved ${p.externalId}.`,
                      ),
                  },
                  'Approve',
                ),
                'operator',
              ),
              ctx.guard(
                h(
                  'button.small.danger',
                  {
                    type: 'button',
                    onclick: async () => {
                      if (
                        !(await ctx.confirm(`Deny ${p.externalId} and block for ${hours.value} h?`, 'Deny'))
                      )
                        return;
                      await run(
                        () =>
                          api('POST', `/admin/api/pairing/${p.id}/deny`, {
                            blockSeconds: Math.round(Number(hours.value) * 3600),
                          }),
                        `Denied ${p.externalId}.`,
                      );
                    },
                  },
                  'Deny',
                ),
                'operator',
              ),
              h('label.small', ' block ', hours, ' h'),
            ),
          );
        }),
        'Nobody is waiting: strangers who write to a bot appear here until approved, denied or expired.',
      ),
    );
    fill(
      blocked,
      h('h2', 'Blocklist'),
      table(
        ['platform', 'user', 'until', 'reason', 'since', ''],
        r.blocklist.map((b) =>
          h(
            'tr',
            h('td', h('span.pill', b.platform)),
            h('td', h('code', b.externalId)),
            h('td', when(b.until)),
            h('td', b.reason ?? ''),
            h('td', when(b.createdAt)),
            h(
              'td',
              ctx.guard(
                h(
                  'button.small',
                  {
                    type: 'button',
                    onclick: async () => {
                      if (!(await ctx.confirm(`Remove ${b.id} from the blocklist?`, 'Remove'))) return;
                      await run(
                        () => api('DELETE', `/admin/api/pairing/blocklist/${encodeURIComponent(b.id)}`),
                        `Unblocked ${b.id}.`,
                      );
                    },
                  },
                  'Remove',
                ),
                'operator',
              ),
            ),
          ),
        ),
        'Nobody is blocked.',
      ),
    );
    const pairedRows = (r.paired ?? []).map((p) => [
      h('span.pill', p.platform),
      h('code', p.externalId),
      when(p.pairedAt),
      p.approvedBy ?? '',
    ]);
    fill(
      paired,
      h('h2', 'Paired users'),
      table(['platform', 'user', 'since', 'approved by'], pairedRows, 'No one is paired yet.'),
    );
  }

  await load();
}
