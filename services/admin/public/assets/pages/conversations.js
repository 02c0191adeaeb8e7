// Conversations: search, the transcript, and each message's trace across the services.
import { get, qs } from '../api.js';
import { errorBox, field, fill, h, json, ms, num, table, when } from '../dom.js';

const PLATFORMS = ['', 'web', 'openai', 'telegram', 'slack', 'discord', 'wecom', 'dingtalk'];

export async function render(ctx) {
  const params = new URLSearchParams(location.search);
  const q = h('input#search-q', {
    name: 'q',
    type: 'search',
    placeholder: 'text contains…',
    value: params.get('q') ?? '',
  });
  const user = h('input#search-user', {
    name: 'user',
    placeholder: 'platform user id',
    value: params.get('user') ?? '',
  });
  const platform = h(
    'select#search-platform',
    { name: 'platform' },
    PLATFORMS.map((p) =>
      h('option', { value: p, selected: p === (params.get('platform') ?? '') }, p || 'any platform'),
    ),
  );
  const messageId = h('input#search-message', {
    name: 'messageId',
    placeholder: 'message id',
    value: params.get('messageId') ?? '',
  });
  const form = h(
    'form.search#search',
    field('Text', q),
    field('User', user),
    field('Platform', platform),
    field('Message id', messageId),
    h('button', { type: 'submit' }, 'Search'),
  );
  const results = h('section.panel#results');
  const transcript = h('section.panel#transcript', { hidden: true });
  const trace = h('section.panel#trace', { hidden: true });
  fill(
    ctx.main,
    h('div.page-head', h('h1', 'Conversations')),
    form,
    results,
    h('div.split', transcript, trace),
  );

  function remember(extra) {
    const u = new URLSearchParams({
      q: q.value,
      user: user.value,
      platform: platform.value,
      messageId: messageId.value,
      ...extra,
    });
    for (const [k, v] of [...u]) if (!v) u.delete(k);
    history.replaceState(null, '', `${location.pathname}${u.size ? `?${u}` : ''}`);
  }

  let openConv = params.get('conversation');
  async function search() {
    fill(results, h('p.muted', 'Searching…'));
    try {
      const r = await get(
        `/admin/api/conversations${qs({ q: q.value, user: user.value, platform: platform.value, messageId: messageId.value })}`,
      );
      const rows = r.conversations.map((c) =>
        h(
          'tr',
          { dataset: { conversation: c.id } },
          h('td', h('span.pill', c.platform)),
          h('td', h('code', c.conversationId), h('div.muted.small', `bot ${c.botId}`)),
          h('td', c.user ?? '—'),
          h('td.text', c.lastText ?? ''),
          h('td', when(c.lastMessageAt)),
          h('td', h('button.small', { type: 'button', onclick: () => openTranscript(c) }, 'Open')),
        ),
      );
      fill(
        results,
        h('h2', `${r.conversations.length} conversation${r.conversations.length === 1 ? '' : 's'}`),
        table(
          ['platform', 'conversation', 'user', 'last message', 'at', ''],
          rows,
          'No conversation matches. Try fewer filters, or check the platform.',
        ),
      );
      const again = openConv && r.conversations.find((c) => c.id === openConv);
      if (again) await openTranscript(again);
    } catch (e) {
      fill(results, errorBox(e));
    }
  }

  async function openTranscript(c) {
    openConv = c.id;
    remember({ conversation: c.id });
    for (const tr of results.querySelectorAll('tr[data-conversation]'))
      tr.classList.toggle('selected', tr.dataset.conversation === c.id);
    transcript.hidden = false;
    fill(transcript, h('h2', `Transcript · ${c.platform} ${c.conversationId}`), h('p.muted', 'Loading…'));
    try {
      const r = await get(`/admin/api/conversations/${encodeURIComponent(c.id)}/messages`);
      const list = h(
        'ol.transcript',
        r.messages.map((m) =>
          h(
            `li.msg.${m.role}`,
            { dataset: { messageId: m.id, role: m.role } },
            h(
              'div.meta',
              h('strong', m.role),
              ' ',
              m.user ? h('span.muted', m.user) : null,
              ' ',
              when(m.at),
              m.status && m.status !== 'ok' ? h('span.pill.bad', m.status) : null,
              m.model ? h('span.pill', m.model) : null,
              h(
                'button.small.quiet.trace-button',
                { type: 'button', onclick: () => openTrace(m.id) },
                'Trace',
              ),
            ),
            h('div.text', m.text),
            h('div.muted.small', 'id ', h('code', m.id), ' · trace ', h('code', m.traceId)),
          ),
        ),
      );
      fill(
        transcript,
        h('h2', `Transcript · ${c.platform} ${c.conversationId}`),
        r.messages.length ? list : h('p.empty', 'This conversation has no stored messages.'),
      );
      const wanted = new URLSearchParams(location.search).get('trace');
      if (wanted && r.messages.some((m) => m.id === wanted)) await openTrace(wanted);
    } catch (e) {
      fill(transcript, h('h2', 'Transcript'), errorBox(e));
    }
  }

  async function openTrace(id) {
    remember({ conversation: openConv ?? '', trace: id });
    trace.hidden = false;
    fill(trace, h('h2', 'Trace'), h('p.muted', 'Loading…'));
    try {
      const t = await get(`/admin/api/messages/${encodeURIComponent(id)}/trace`);
      const t0 = t.hops.length ? new Date(t.hops[0].at).getTime() : 0;
      fill(
        trace,
        h('h2', 'Trace of ', h('code', t.messageId)),
        h('p', 'trace id ', h('code#trace-id', t.traceId), ' — search it in Kibana or the Logs page.'),
        h('h3', 'Hops'),
        table(
          ['+time', 'service', 'event', 'at', 'detail'],
          t.hops.map((x) =>
            h(
              'tr.hop',
              h('td.num', `+${num(new Date(x.at).getTime() - t0)} ms`),
              h('td', h('span.pill', x.service)),
              h('td', x.event),
              h('td', when(x.at)),
              h('td', x.detail ? h('code.small', JSON.stringify(x.detail)) : ''),
            ),
          ),
          'No hops recorded.',
          'hops',
        ),
        h('h3', 'Model calls'),
        table(
          ['model', 'status', 'latency', 'prompt tokens', 'completion tokens', 'at'],
          t.modelCalls.map((m) =>
            h(
              'tr.model-call',
              h('td', m.model),
              h('td', h(`span.pill.${m.status === 'ok' ? 'ok' : 'bad'}`, m.status)),
              h('td.num', ms(m.latencyMs)),
              h('td.num', num(m.promptTokens)),
              h('td.num', num(m.completionTokens)),
              h('td', when(m.at)),
            ),
          ),
          'No model call (a fixed reply, an ignored message, or not answered yet).',
          'model-calls',
        ),
        h('h3', 'Tool calls'),
        table(
          ['round', 'tool', 'status', 'error', 'duration', 'at'],
          t.toolCalls.map((c) =>
            h(
              'tr.tool-call',
              h('td.num', c.round),
              h('td', c.tool),
              h('td', h(`span.pill.${c.status === 'ok' ? 'ok' : 'bad'}`, c.status)),
              h('td', c.errorCode ?? ''),
              h('td.num', ms(c.durationMs)),
              h('td', when(c.at)),
            ),
          ),
          'No tool was called for this message.',
          'tool-calls',
        ),
        h('details', h('summary', 'Raw trace'), json(t)),
      );
    } catch (e) {
      fill(trace, h('h2', 'Trace'), errorBox(e));
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    openConv = null;
    transcript.hidden = true;
    trace.hidden = true;
    remember({});
    search();
  });
  await search();
}
