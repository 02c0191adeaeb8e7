// The audit log: every change made through the admin API, newest first.
import { get, qs } from '../api.js';
import { errorBox, field, fill, h, table, when } from '../dom.js';

const PAGE = 100;

export async function render(ctx) {
  const actor = h('input#audit-actor', { placeholder: 'token name' });
  const action = h('input#audit-action', { placeholder: 'e.g. route.create' });
  const form = h(
    'form.search',
    field('Actor', actor),
    field('Action', action),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const list = h('section.panel#audit');
  const more = h('button.quiet#audit-more', { type: 'button', hidden: true }, 'Older entries');
  fill(ctx.main, h('div.page-head', h('h1', 'Audit log')), form, list, more);
  let entries = [];

  function detailsOf(d) {
    if (!d || typeof d !== 'object') return '';
    const el = h(
      'details',
      h('summary', Object.keys(d).join(', ') || '—'),
      h('pre.json', JSON.stringify(d, null, 2)),
    );
    return el;
  }

  function draw() {
    fill(
      list,
      table(
        ['at', 'actor', 'action', 'target', 'details'],
        entries.map((e) =>
          h(
            'tr.entry',
            { dataset: { action: e.action } },
            h('td', when(e.at)),
            h('td.actor', e.actor),
            h('td.action', h('code', e.action)),
            h('td', h('code.small', e.target ?? '')),
            h('td', detailsOf(e.details)),
          ),
        ),
        'No changes recorded yet.',
      ),
    );
  }

  async function load(reset) {
    try {
      const before = reset ? undefined : entries.at(-1)?.id;
      const r = await get(
        `/admin/api/audit${qs({ limit: PAGE, before, actor: actor.value.trim(), action: action.value.trim() })}`,
      );
      entries = reset ? r.entries : entries.concat(r.entries);
      more.hidden = r.entries.length < PAGE;
      draw();
    } catch (e) {
      fill(list, errorBox(e));
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load(true);
  });
  more.addEventListener('click', () => load(false));
  await load(true);
}
