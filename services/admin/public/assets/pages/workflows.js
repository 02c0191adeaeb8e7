// Workflows: what the scheduler runs, their recent runs, and "Run now".
import { api, get } from '../api.js';
import { errorBox, fill, h, table, when } from '../dom.js';

export async function render(ctx) {
  const note = h('div#workflow-note');
  const list = h('section.panel#workflows');
  const runs = h('section.panel#runs', { hidden: true });
  fill(ctx.main, h('div.page-head', h('h1', 'Workflows')), note, list, runs);

  async function showRuns(name) {
    runs.hidden = false;
    fill(runs, h('h2', `Runs of ${name}`), h('p.muted', 'Loading…'));
    try {
      const r = await get(`/admin/api/workflows/${encodeURIComponent(name)}/runs?limit=50`);
      fill(
        runs,
        h('h2', `Runs of ${name}`),
        table(
          ['run', 'trigger', 'status', 'created', 'started', 'finished', 'error'],
          r.runs.map((x) => [
            h('code.small', x.id),
            x.trigger_type,
            h(`span.pill.${x.status === 'succeeded' ? 'ok' : x.status === 'failed' ? 'bad' : ''}`, x.status),
            when(x.created_at),
            when(x.started_at),
            when(x.finished_at),
            x.error ? h('span.error', x.failed_step ? `${x.failed_step}: ${x.error}` : x.error) : '',
          ]),
          'This workflow has not run yet.',
        ),
      );
    } catch (e) {
      fill(runs, h('h2', `Runs of ${name}`), errorBox(e));
    }
  }

  async function runNow(w) {
    if (!(await ctx.confirm(`Run ${w.name} now?`, 'Run'))) return;
    try {
      const r = await api('POST', `/admin/api/workflows/${encodeURIComponent(w.name)}/run`, {});
      fill(note, h('p.ok', `Started ${w.name}: run ${r.run_id} (${r.status}).`));
      await showRuns(w.name);
    } catch (e) {
      fill(note, errorBox(e));
    }
  }

  try {
    const r = await get('/admin/api/workflows');
    fill(
      list,
      table(
        ['workflow', 'trigger', 'next run', 'enabled', 'source', ''],
        r.workflows.map((w) =>
          h(
            'tr',
            { dataset: { workflow: w.name } },
            h('td', h('strong', w.name), w.description ? h('div.muted.small', w.description) : null),
            h(
              'td',
              w.trigger?.type ?? '',
              w.trigger?.schedule ? h('div', h('code.small', w.trigger.schedule)) : null,
            ),
            h('td', when(w.nextRun ?? w.next_run)),
            h('td', w.enabled ? 'yes' : 'no'),
            h('td', h('code.small', w.source ?? '')),
            h(
              'td.actions',
              h('button.small.quiet', { type: 'button', onclick: () => showRuns(w.name) }, 'Runs'),
              ctx.guard(
                h('button.small', { type: 'button', onclick: () => runNow(w) }, 'Run now'),
                'operator',
              ),
            ),
          ),
        ),
        'No workflows: put YAML files in the workflows folder, or save one through the API.',
      ),
      r.problems?.length
        ? h(
            'div',
            h('h3', 'Workflows that did not load'),
            h(
              'ul',
              r.problems.map((p) => h('li.error', typeof p === 'string' ? p : JSON.stringify(p))),
            ),
          )
        : null,
    );
  } catch (e) {
    fill(list, errorBox(e));
  }
}
