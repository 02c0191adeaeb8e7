// Configuration: routing rules, agent profiles, channel settings (validated by the API, every change
// audited, picked up by running workers without a restart) and the skills folder, read-only.
import { api, get } from '../api.js';
import { errorBox, field, fill, h, table, when } from '../dom.js';

function targetText(t) {
  if (!t) return '—';
  if (t.profile) return `profile ${t.profile}`;
  if (t.action === 'reply') return `reply "${t.text}"`;
  if (t.action === 'ignore') return 'ignore';
  return JSON.stringify(t);
}

export async function render(ctx) {
  const isAdmin = ctx.can('admin');
  const sections = {
    routes: h('section.panel#routes'),
    profiles: h('section.panel#profiles'),
    channels: h('section.panel#channels'),
    skills: h('section.panel#skills'),
  };
  fill(
    ctx.main,
    h('div.page-head', h('h1', 'Configuration')),
    isAdmin
      ? h(
          'p.muted',
          'Changes apply to running workers within a second (no restart) and are recorded in the audit log.',
        )
      : h(
          'p.warn',
          `Your role (${ctx.me.role}) can read the configuration; changing it needs an admin token.`,
        ),
    sections.routes,
    sections.profiles,
    sections.channels,
    sections.skills,
  );

  /** Submits a form's JSON; the API's validation message appears next to the form. */
  async function submit(formErr, fn, ok, reload) {
    fill(formErr);
    try {
      await fn();
      fill(formErr, h('p.ok', ok));
      await reload();
      return true;
    } catch (e) {
      fill(formErr, errorBox(e));
      return false;
    }
  }

  // ---- routing rules --------------------------------------------------------------------------
  async function loadRoutes() {
    const el = sections.routes;
    let rules;
    let profiles = [];
    try {
      [rules, profiles] = await Promise.all([
        get('/admin/api/routes').then((r) => r.routes),
        get('/admin/api/profiles').then((r) => r.profiles),
      ]);
    } catch (e) {
      fill(el, h('h2', 'Routing rules'), errorBox(e));
      return;
    }
    const formErr = h('div.form-error#route-error');
    const name = h('input#route-name', { required: true, placeholder: 'e.g. urgent to the big model' });
    const position = h('input.narrow#route-position', { type: 'number', min: 1, placeholder: 'last' });
    const enabled = h('input#route-enabled', { type: 'checkbox', checked: true });
    const match = h(
      'textarea#route-match',
      { rows: 3, placeholder: '{"text": "^#urgent", "platform": "slack"}' },
      '{}',
    );
    const kind = h(
      'select#route-target-kind',
      h('option', { value: 'profile' }, 'agent profile'),
      h('option', { value: 'reply' }, 'fixed reply'),
      h('option', { value: 'ignore' }, 'ignore'),
    );
    const profile = h(
      'select#route-profile',
      h('option', { value: 'default' }, 'default (the worker settings)'),
      profiles.filter((p) => !p.problem).map((p) => h('option', { value: p.name }, p.name)),
    );
    const replyText = h('input#route-reply', { placeholder: 'text of the fixed reply' });
    const submitBtn = ctx.guard(h('button#route-save', { type: 'submit' }, 'Create rule'), 'admin');
    const cancel = h('button.quiet', { type: 'button', hidden: true }, 'Cancel edit');
    let editing = null;
    const syncKind = () => {
      profile.closest('label').hidden = kind.value !== 'profile';
      replyText.closest('label').hidden = kind.value !== 'reply';
    };
    kind.addEventListener('change', syncKind);
    const form = h(
      'form.editor#route-form',
      h('h3', 'New rule'),
      h(
        'div.row',
        field('Name', name),
        field('Position', position, 'empty: after the last rule'),
        h('label.check', enabled, ' enabled'),
      ),
      field(
        'Match (JSON)',
        match,
        'platform, botId, channel and user (with their platform: "slack:C456", "slack:U123", "internal:<uuid>"), group ("direct"/"group"), text (a regular expression), textFlags, minChars, maxChars, intent, claims; {} matches every message',
      ),
      h('div.row', field('Send to', kind), field('Profile', profile), field('Reply', replyText)),
      h('div.row', submitBtn, cancel),
      formErr,
    );
    cancel.addEventListener('click', () => reset());
    function reset() {
      editing = null;
      form.querySelector('h3').textContent = 'New rule';
      submitBtn.textContent = 'Create rule';
      cancel.hidden = true;
      name.value = '';
      position.value = '';
      enabled.checked = true;
      match.value = '{}';
      kind.value = 'profile';
      profile.value = 'default';
      replyText.value = '';
      syncKind();
    }
    function edit(rule) {
      editing = rule.id;
      form.querySelector('h3').textContent = `Edit rule ${rule.id}`;
      submitBtn.textContent = 'Save rule';
      cancel.hidden = false;
      name.value = rule.name;
      position.value = String(rule.position);
      enabled.checked = rule.enabled;
      match.value = JSON.stringify(rule.match ?? {}, null, 1);
      kind.value = rule.target?.profile ? 'profile' : (rule.target?.action ?? 'profile');
      profile.value = rule.target?.profile ?? 'default';
      replyText.value = rule.target?.text ?? '';
      syncKind();
      form.scrollIntoView({ block: 'nearest' });
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      let m;
      try {
        m = JSON.parse(match.value || '{}');
      } catch (e) {
        fill(formErr, h('p.error', `Match is not valid JSON: ${e.message}`));
        return;
      }
      const target =
        kind.value === 'profile'
          ? { profile: profile.value }
          : kind.value === 'reply'
            ? { action: 'reply', text: replyText.value }
            : { action: 'ignore' };
      const body = { name: name.value, enabled: enabled.checked, match: m, target };
      if (position.value) body.position = Number(position.value);
      const id = editing;
      const ok = await submit(
        formErr,
        () => (id ? api('PUT', `/admin/api/routes/${id}`, body) : api('POST', '/admin/api/routes', body)),
        id ? `Rule ${id} saved.` : `Rule "${body.name}" created.`,
        loadRoutes,
      );
      if (ok) reset();
    });
    const rows = rules.map((r) =>
      h(
        `tr.rule${r.enabled ? '' : '.disabled'}`,
        { dataset: { rule: r.id, name: r.name } },
        h('td.num', r.position),
        h('td', r.name, r.problem ? h('div.error.small', r.problem) : null),
        h('td', r.enabled ? 'yes' : 'no'),
        h('td', h('code.small', JSON.stringify(r.match))),
        h('td', targetText(r.target)),
        h('td', when(r.updatedAt)),
        h(
          'td.actions',
          ctx.guard(h('button.small.quiet', { type: 'button', onclick: () => edit(r) }, 'Edit'), 'admin'),
          ctx.guard(
            h(
              'button.small.danger',
              {
                type: 'button',
                onclick: async () => {
                  if (!(await ctx.confirm(`Delete rule "${r.name}"?`, 'Delete'))) return;
                  await submit(
                    formErr,
                    () => api('DELETE', `/admin/api/routes/${r.id}`),
                    `Rule "${r.name}" deleted.`,
                    loadRoutes,
                  );
                },
              },
              'Delete',
            ),
            'admin',
          ),
        ),
      ),
    );
    fill(
      el,
      h('h2', 'Routing rules'),
      h(
        'p.muted.small',
        'The first enabled rule that matches a message decides where it goes; no match: the default profile.',
      ),
      table(
        ['#', 'name', 'enabled', 'match', 'target', 'updated', ''],
        rows,
        'No routing rules: every message goes to the default profile.',
        'rules',
      ),
      isAdmin ? form : null,
    );
    syncKind();
  }

  // ---- agent profiles -------------------------------------------------------------------------
  async function loadProfiles() {
    const el = sections.profiles;
    let profiles;
    try {
      profiles = (await get('/admin/api/profiles')).profiles;
    } catch (e) {
      fill(el, h('h2', 'Agent profiles'), errorBox(e));
      return;
    }
    const formErr = h('div.form-error#profile-error');
    const name = h('input#profile-name', { required: true, placeholder: 'a-z, 0-9, _ and -' });
    const description = h('input#profile-description');
    const prompt = h('textarea#profile-prompt', {
      rows: 3,
      placeholder: "empty: the worker's SYSTEM_PROMPT",
    });
    const chain = h('input#profile-models', {
      placeholder: "e.g. ollama/llama3.1,openai/gpt-4o-mini — empty: the worker's MODEL_CHAIN",
    });
    const tools = h('input#profile-tools', { placeholder: 'comma separated, e.g. http_get,shell' });
    const skill = h('input#profile-skill', { placeholder: 'a skill name, or empty' });
    const knowledge = h('input#profile-knowledge', { type: 'checkbox' });
    const cache = h('input.narrow#profile-cache', { type: 'number', min: 0, placeholder: 'none' });
    const submitBtn = ctx.guard(h('button#profile-save', { type: 'submit' }, 'Create profile'), 'admin');
    const cancel = h('button.quiet', { type: 'button', hidden: true }, 'Cancel edit');
    let editing = null;
    const form = h(
      'form.editor#profile-form',
      h('h3', 'New profile'),
      h('div.row', field('Name', name), field('Description', description)),
      field('System prompt', prompt),
      h('div.row', field('Model chain', chain), field('Tools', tools)),
      h(
        'div.row',
        field('Skill', skill),
        field('Answer cache (s)', cache),
        h('label.check', knowledge, ' knowledge base'),
      ),
      h('div.row', submitBtn, cancel),
      formErr,
    );
    const reset = () => {
      editing = null;
      name.disabled = false;
      form.querySelector('h3').textContent = 'New profile';
      submitBtn.textContent = 'Create profile';
      cancel.hidden = true;
      for (const i of [name, description, prompt, chain, tools, skill, cache]) i.value = '';
      knowledge.checked = false;
    };
    cancel.addEventListener('click', reset);
    const edit = (p) => {
      editing = p.name;
      name.value = p.name;
      name.disabled = true;
      description.value = p.description ?? '';
      prompt.value = p.systemPrompt ?? '';
      chain.value = p.modelChain ?? '';
      tools.value = (p.tools ?? []).join(',');
      skill.value = p.skill ?? '';
      knowledge.checked = !!p.knowledge;
      cache.value = p.cacheTtlSeconds ?? '';
      form.querySelector('h3').textContent = `Edit profile ${p.name}`;
      submitBtn.textContent = 'Save profile';
      cancel.hidden = false;
      form.scrollIntoView({ block: 'nearest' });
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {
        description: description.value,
        systemPrompt: prompt.value.trim() || null,
        modelChain: chain.value.trim() || null,
        tools: tools.value
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
        skill: skill.value.trim() || null,
        knowledge: knowledge.checked,
        cacheTtlSeconds: cache.value === '' ? null : Number(cache.value),
      };
      const target = editing;
      const ok = await submit(
        formErr,
        () =>
          target
            ? api('PUT', `/admin/api/profiles/${encodeURIComponent(target)}`, body)
            : api('POST', '/admin/api/profiles', { name: name.value.trim(), ...body }),
        target ? `Profile ${target} saved.` : `Profile ${name.value.trim()} created.`,
        async () => {
          await loadProfiles();
          await loadRoutes();
        },
      );
      if (ok) reset();
    });
    const rows = profiles.map((p) =>
      h(
        'tr.profile',
        { dataset: { profile: p.name } },
        h('td', h('strong', p.name), p.description ? h('div.muted.small', p.description) : null),
        p.problem
          ? h('td.error', { colspan: 5 }, p.problem)
          : [
              h('td', p.modelChain ?? h('span.muted', 'worker default')),
              h('td.text', p.systemPrompt ?? h('span.muted', 'worker default')),
              h('td', (p.tools ?? []).join(', ') || '—'),
              h(
                'td',
                [
                  p.skill ? `skill ${p.skill}` : null,
                  p.knowledge ? 'knowledge' : null,
                  p.cacheTtlSeconds ? `cache ${p.cacheTtlSeconds}s` : null,
                ]
                  .filter(Boolean)
                  .join(' · ') || '—',
              ),
              h('td', when(p.updatedAt)),
            ],
        h(
          'td.actions',
          p.problem
            ? null
            : ctx.guard(h('button.small.quiet', { type: 'button', onclick: () => edit(p) }, 'Edit'), 'admin'),
          ctx.guard(
            h(
              'button.small.danger',
              {
                type: 'button',
                onclick: async () => {
                  if (!(await ctx.confirm(`Delete profile "${p.name}"?`, 'Delete'))) return;
                  await submit(
                    formErr,
                    () => api('DELETE', `/admin/api/profiles/${encodeURIComponent(p.name)}`),
                    `Profile ${p.name} deleted.`,
                    loadProfiles,
                  );
                },
              },
              'Delete',
            ),
            'admin',
          ),
        ),
      ),
    );
    fill(
      el,
      h('h2', 'Agent profiles'),
      table(
        ['profile', 'models', 'system prompt', 'tools', 'extras', 'updated', ''],
        rows,
        'No profiles yet: the workers answer with their own settings (the "default" profile).',
        'profiles',
      ),
      isAdmin ? form : null,
    );
  }

  // ---- channels -------------------------------------------------------------------------------
  async function loadChannels() {
    const el = sections.channels;
    let channels;
    try {
      channels = (await get('/admin/api/channels')).channels;
    } catch (e) {
      fill(el, h('h2', 'Channels'), errorBox(e));
      return;
    }
    const formErr = h('div.form-error#channel-error');
    const policySelect = (value) =>
      h(
        'select',
        h('option', { value: '', selected: !value }, 'platform default'),
        h('option', { value: 'mention', selected: value === 'mention' }, 'answer when mentioned'),
        h('option', { value: 'always', selected: value === 'always' }, 'answer every message'),
      );
    const save = (p, value) =>
      submit(
        formErr,
        () =>
          api(
            'PUT',
            `/admin/api/channels/${encodeURIComponent(p.platform)}/${encodeURIComponent(p.botId)}/${encodeURIComponent(p.channelId)}`,
            {
              groupPolicy: value || null,
            },
          ),
        `Channel ${p.platform}/${p.channelId} saved; connectors apply it within seconds.`,
        loadChannels,
      );
    const rows = channels.map((c) => {
      const sel = policySelect(c.groupPolicy);
      sel.disabled = !isAdmin;
      return h(
        'tr',
        h('td', h('span.pill', c.platform)),
        h('td', h('code', c.botId)),
        h('td', h('code', c.channelId)),
        h('td', sel),
        h('td', when(c.updatedAt)),
        h(
          'td',
          ctx.guard(
            h('button.small', { type: 'button', onclick: () => save(c, sel.value) }, 'Save'),
            'admin',
          ),
        ),
      );
    });
    const platform = h(
      'select#channel-platform',
      ['telegram', 'slack', 'discord', 'wecom', 'dingtalk', 'web', 'openai'].map((p) =>
        h('option', { value: p }, p),
      ),
    );
    const botId = h('input#channel-bot', { placeholder: 'bot id' });
    const channelId = h('input#channel-id', { placeholder: 'group / channel id' });
    const policy = policySelect('mention');
    const add = h(
      'form.editor.inline#channel-form',
      field('Platform', platform),
      field('Bot', botId),
      field('Channel', channelId),
      field('In groups', policy),
      ctx.guard(h('button', { type: 'submit' }, 'Set'), 'admin'),
    );
    add.addEventListener('submit', (ev) => {
      ev.preventDefault();
      save(
        { platform: platform.value, botId: botId.value.trim(), channelId: channelId.value.trim() },
        policy.value,
      );
    });
    fill(
      el,
      h('h2', 'Channels'),
      h('p.muted.small', 'Whether a bot answers every message of a group or only when mentioned.'),
      table(
        ['platform', 'bot', 'channel', 'in groups', 'updated', ''],
        rows,
        'No channel settings: every group uses its platform default.',
      ),
      isAdmin ? add : null,
      formErr,
    );
  }

  // ---- skills (read-only) ---------------------------------------------------------------------
  async function loadSkills() {
    const el = sections.skills;
    try {
      const { skills } = await get('/admin/api/skills');
      fill(
        el,
        h('h2', 'Skills'),
        h('p.muted.small', "Read from the workers' skills folder; edit the files there."),
        table(
          ['skill', 'file', 'kind', 'triggers', 'description'],
          skills.map((s) => [
            s.name ?? h('span.muted', '—'),
            h('code', s.file),
            s.source,
            s.triggers ? h('code.small', JSON.stringify(s.triggers)) : '—',
            s.problem ? h('span.error', s.problem) : (s.description ?? ''),
          ]),
          'No skills in the skills folder.',
        ),
      );
    } catch (e) {
      fill(el, h('h2', 'Skills'), errorBox(e));
    }
  }

  await Promise.all([loadRoutes(), loadProfiles(), loadChannels(), loadSkills()]);
}
