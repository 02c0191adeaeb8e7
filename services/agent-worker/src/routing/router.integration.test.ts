import { createPool, type InboundEnvelope, migrate, type Pool } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import type { RoutingStore } from '@switchboard/routing';
import { RoutingError, RoutingErrorCode } from '@switchboard/routing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../../test/support/captured-logger.ts';
import { createTestDatabase, waitFor } from '../../../../test/support/infra.ts';
import { type IntentClassifier, type RouteDecision, Router } from './router.ts';

const capture = () => capturedLogger('routing-test', 'info');

let seq = 0;
function envelope(over: Partial<InboundEnvelope> = {}): InboundEnvelope {
  seq++;
  return {
    v: 1,
    kind: 'inbound',
    id: `web:web:m${seq}`,
    platform: 'web',
    botId: 'web',
    conversationId: 'conv-1',
    user: { id: 'alice' },
    text: 'hello',
    attachments: [],
    receivedAt: new Date().toISOString(),
    traceId: `trace${seq}`,
    ...over,
  };
}

const where = (d: RouteDecision) =>
  d.action === 'agent' ? `${d.route}->${d.profile.name}` : `${d.route}->${d.action}`;

const DEFAULTS = {
  systemPrompt: 'You are the default assistant.',
  modelChain: parseModelChain('ollama/fake-small'),
};

async function clearRouting(pool: Pool) {
  await pool.query('DELETE FROM routing_rules');
  await pool.query('DELETE FROM agent_profiles');
}

describe('Router with rules in PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let router: Router;
  let store: RoutingStore;
  let captured: ReturnType<typeof capturedLogger>;

  beforeAll(async () => {
    db = await createTestDatabase();
    captured = capture();
    pool = createPool(db.url, captured.log);
    await migrate(pool, captured.log);
    router = new Router({
      pool,
      databaseUrl: db.url,
      log: captured.log,
      defaults: DEFAULTS,
      // Long enough that only a notification can explain a change showing up in a test.
      reloadIntervalMs: 600_000,
      regexBudgetMs: 25,
      classifyTimeoutMs: 300,
      applicationName: 'sb-routing-test',
    });
    await router.start();
    store = router.store;
  });
  afterAll(async () => {
    await router?.stop();
    await pool?.end();
    await db?.drop();
  });
  beforeEach(async () => {
    await clearRouting(pool);
    await router.reload();
  });

  /** Waits until the router has seen the committed changes (the NOTIFY-driven reload). */
  async function settled(expectRules: number) {
    await waitFor(`router to hold ${expectRules} rules`, () => router.rules.length === expectRules, 5_000);
  }

  it('routes to the default profile when no rule matches', async () => {
    const d = await router.resolve(envelope());
    expect(d).toMatchObject({ action: 'agent', route: 'default', ruleId: undefined });
    if (d.action !== 'agent') throw new Error('not an agent route');
    expect(d.profile).toMatchObject({
      name: 'default',
      systemPrompt: DEFAULTS.systemPrompt,
      modelChainSpec: 'ollama/fake-small',
      tools: [],
      cacheTtlSeconds: 0,
    });
  });

  it('tries rules in position order; the first match wins', async () => {
    await store.createProfile({
      name: 'urgent',
      systemPrompt: 'Escalate.',
      modelChain: 'openai/gpt-4o-mini@30000,ollama/fake-small',
      tools: ['http_fetch'],
      cacheTtlSeconds: 60,
    });
    await store.createProfile({ name: 'ops', knowledge: true });
    await store.createRule({
      name: 'urgent tag',
      match: { text: '^#(urgent|important)', textFlags: 'i' },
      target: { profile: 'urgent' },
    });
    await store.createRule({
      name: 'telegram groups',
      match: { platform: 'telegram', group: 'group' },
      target: { profile: 'ops' },
    });
    await store.createRule({
      name: 'spammer',
      match: { user: ['web:spam-1', 'web:spam-2'] },
      target: { action: 'ignore' },
    });
    await store.createRule({
      name: 'ops team',
      match: { claims: { team: 'ops', level: [3, 4] } },
      target: { action: 'reply', text: 'Use the ops console.' },
    });
    await settled(4);

    const tgGroup = { platform: 'telegram' as const, chat: { type: 'group' as const, channelId: '-100' } };
    expect(where(await router.resolve(envelope({ text: '#URGENT disk full', ...tgGroup })))).toBe(
      'urgent tag->urgent',
    );
    expect(where(await router.resolve(envelope({ text: 'disk full', ...tgGroup })))).toBe(
      'telegram groups->ops',
    );
    expect(where(await router.resolve(envelope({ platform: 'telegram', text: 'in private' })))).toBe(
      'default->default',
    );
    expect(where(await router.resolve(envelope({ user: { id: 'spam-2' } })))).toBe('spammer->ignore');
    expect(where(await router.resolve(envelope({ claims: { team: 'ops', level: 4 } })))).toBe(
      'ops team->reply',
    );
    expect(where(await router.resolve(envelope({ claims: { team: 'ops', level: 2 } })))).toBe(
      'default->default',
    );
    expect(where(await router.resolve(envelope({ claims: { team: 'dev' } })))).toBe('default->default');

    const urgent = await router.resolve(envelope({ text: '#important' }));
    if (urgent.action !== 'agent') throw new Error('not an agent route');
    // Null fields fall back to the worker's settings; set ones win.
    expect(urgent.profile).toMatchObject({
      systemPrompt: 'Escalate.',
      modelChainSpec: 'openai/gpt-4o-mini@30000,ollama/fake-small',
      tools: ['http_fetch'],
      cacheTtlSeconds: 60,
    });
    const ops = await router.resolve(envelope({ text: 'x', ...tgGroup }));
    if (ops.action !== 'agent') throw new Error('not an agent route');
    expect(ops.profile).toMatchObject({
      systemPrompt: DEFAULTS.systemPrompt,
      knowledge: true,
      cacheTtlSeconds: 0,
    });

    // A rule put first shifts the others down and now wins.
    const first = await store.createRule({
      name: 'all telegram',
      position: 1,
      match: { platform: 'telegram' },
      target: { profile: 'default' },
    });
    await settled(5);
    expect(router.rules.map((r) => r.name)).toEqual([
      'all telegram',
      'urgent tag',
      'telegram groups',
      'spammer',
      'ops team',
    ]);
    expect(where(await router.resolve(envelope({ text: '#urgent', ...tgGroup })))).toBe(
      'all telegram->default',
    );

    // Moved to the end: the earlier order applies again.
    await store.updateRule(first.id, { position: 5 });
    await waitFor('the move to apply', () => router.rules.at(-1)?.name === 'all telegram', 5_000);
    expect((await store.listRules()).map((r) => r.position)).toEqual([1, 2, 3, 4, 5]);
    expect(where(await router.resolve(envelope({ text: '#urgent', ...tgGroup })))).toBe('urgent tag->urgent');

    // A disabled rule is passed over.
    const rules = await store.listRules();
    await store.updateRule(rules[0]!.id, { enabled: false });
    await settled(4);
    expect(where(await router.resolve(envelope({ text: '#urgent', ...tgGroup })))).toBe(
      'telegram groups->ops',
    );
  });

  it('applies a change made through another connection without a restart', async () => {
    await store.createProfile({ name: 'alpha' });
    await store.createProfile({ name: 'beta' });
    const rule = await store.createRule({
      name: 'web',
      match: { platform: 'web' },
      target: { profile: 'alpha' },
    });
    await settled(1);
    expect(where(await router.resolve(envelope()))).toBe('web->alpha');

    // Someone else (another worker's store, the admin console, psql) changes the rule.
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      const before = router.version;
      await other.query(`UPDATE routing_rules SET target = '{"profile":"beta"}' WHERE id = $1`, [rule.id]);
      await waitFor('the NOTIFY-driven reload', () => router.version > before, 5_000);
      expect(where(await router.resolve(envelope()))).toBe('web->beta');

      // A profile edit applies the same way.
      await other.query(`UPDATE agent_profiles SET system_prompt = 'Beta speaking.' WHERE name = 'beta'`);
      await waitFor(
        'the profile change',
        async () => {
          const d = await router.resolve(envelope());
          return d.action === 'agent' && d.profile.systemPrompt === 'Beta speaking.';
        },
        5_000,
      );
    } finally {
      await other.end();
    }
  });

  it('listens again after losing its connection, and reloads what it missed', async () => {
    await store.createProfile({ name: 'gamma' });
    await settled(0);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sb-routing-test' AND datname = current_database()",
      );
      expect(killed.rowCount).toBe(1);
      // Made while the listener may still be down: the reload on reconnect must pick it up.
      await admin.query(`INSERT INTO routing_rules (position, name, match, target)
        VALUES (1, 'after reconnect', '{"platform":"web"}', '{"profile":"gamma"}')`);
      await waitFor(
        'the rule made around the reconnect',
        async () => where(await router.resolve(envelope())) === 'after reconnect->gamma',
        10_000,
      );
      // And the new connection listens: a later change arrives by NOTIFY.
      await waitFor(
        'the listener to be back',
        async () =>
          (
            await admin.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = 'sb-routing-test' AND datname = current_database()",
            )
          ).rowCount === 1,
        10_000,
      );
      await admin.query(`UPDATE routing_rules SET enabled = false`);
      await settled(0);
    } finally {
      await admin.end();
    }
  });

  it('refuses an unsafe or broken rule at save and changes nothing', async () => {
    await store.createProfile({ name: 'ops' });
    await store.createRule({ name: 'ok', match: { text: '^#ops' }, target: { profile: 'ops' } });
    const cases: Array<[string, Parameters<RoutingStore['createRule']>[0], string, RegExp]> = [
      [
        'nested quantifier',
        { name: 'bad', match: { text: '(a+)+$' }, target: { profile: 'ops' } },
        RoutingErrorCode.unsafeRegex,
        /nested quantifier/,
      ],
      [
        'backreference',
        { name: 'bad', match: { text: '(x)\\1' }, target: { profile: 'ops' } },
        RoutingErrorCode.unsafeRegex,
        /backreference/,
      ],
      [
        'does not compile',
        { name: 'bad', match: { text: '([a-' }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /does not compile/,
      ],
      [
        'unknown profile',
        { name: 'bad', match: {}, target: { profile: 'nope' } },
        RoutingErrorCode.invalid,
        /no agent profile "nope"/,
      ],
      [
        'unknown condition',
        { name: 'bad', match: { colour: 'red' } as never, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /colour/,
      ],
      [
        'bad target',
        { name: 'bad', match: {}, target: { action: 'explode' } as never },
        RoutingErrorCode.invalid,
        /target/,
      ],
      [
        'empty name',
        { name: ' ', match: {}, target: { action: 'ignore' } },
        RoutingErrorCode.invalid,
        /name/,
      ],
      [
        'user without its platform',
        { name: 'bad', match: { user: 'U123' }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /user "U123" names no platform: write it as "<platform>:<id>", e\.g\. "slack:U123"/,
      ],
      [
        'channel without its platform, in a list',
        { name: 'bad', match: { channel: ['slack:C1', 'C456'] }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /channel "C456" names no platform/,
      ],
      [
        'not a platform',
        { name: 'bad', match: { user: 'skype:bob' }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /"skype" is not a platform/,
      ],
      [
        'internal id that is not a UUID',
        { name: 'bad', match: { user: 'internal:bob' }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /Switchboard user id is a UUID/,
      ],
      [
        'a channel cannot be internal',
        {
          name: 'bad',
          match: { channel: 'internal:7b7e0f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
          target: { profile: 'ops' },
        },
        RoutingErrorCode.invalid,
        /only users have Switchboard ids/,
      ],
      [
        'a user that can never match the platform condition',
        { name: 'bad', match: { platform: 'telegram', user: 'slack:U123' }, target: { profile: 'ops' } },
        RoutingErrorCode.invalid,
        /user "slack:U123" can never match: the rule is limited to platform telegram/,
      ],
    ];
    for (const [what, input, code, message] of cases) {
      const err = await store.createRule(input).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(RoutingError);
      expect((err as RoutingError).code, what).toBe(code);
      expect((err as RoutingError).message, what).toMatch(message);
    }
    const [ok] = await store.listRules();
    const err = await store.updateRule(ok!.id, { match: { text: '(\\w*\\s?)*' } }).catch((e: unknown) => e);
    expect((err as RoutingError).code).toBe(RoutingErrorCode.unsafeRegex);
    const after = await store.listRules();
    expect(after.map((r) => [r.name, r.match])).toEqual([['ok', { text: '^#ops' }]]);
    expect(await store.updateRule('999999', { name: 'x' }).catch((e: RoutingError) => e.code)).toBe(
      RoutingErrorCode.notFound,
    );
  });

  it('binds user and channel conditions to their platform; a Switchboard id only to verified platforms', async () => {
    await store.createProfile({ name: 'slack-ops', tools: ['shell'] });
    await store.createProfile({ name: 'web-carol' });
    await store.createProfile({ name: 'known' });
    const internal = '7b7e0f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    await store.createRule({
      name: 'slack ops',
      match: { user: 'slack:U123' },
      target: { profile: 'slack-ops' },
    });
    await store.createRule({
      name: 'ops channel',
      match: { channel: ['slack:C456', 'telegram:-100'] },
      target: { profile: 'slack-ops' },
    });
    await store.createRule({ name: 'carol', match: { user: 'web:carol' }, target: { profile: 'web-carol' } });
    await store.createRule({
      name: 'known',
      match: { user: `internal:${internal}` },
      target: { profile: 'known' },
    });
    await settled(4);

    expect(where(await router.resolve(envelope({ platform: 'slack', user: { id: 'U123' } })))).toBe(
      'slack ops->slack-ops',
    );
    // The same strings from a web client (a claim) or another platform match nothing.
    expect(where(await router.resolve(envelope({ user: { id: 'U123' } })))).toBe('default->default');
    expect(where(await router.resolve(envelope({ user: { id: 'slack:U123' } })))).toBe('default->default');
    expect(where(await router.resolve(envelope({ platform: 'discord', user: { id: 'U123' } })))).toBe(
      'default->default',
    );
    expect(where(await router.resolve(envelope({ conversationId: 'C456' })))).toBe('default->default');
    expect(where(await router.resolve(envelope({ platform: 'slack', conversationId: 'C456' })))).toBe(
      'ops channel->slack-ops',
    );
    expect(
      where(
        await router.resolve(
          envelope({ platform: 'telegram', conversationId: 'x', chat: { type: 'group', channelId: '-100' } }),
        ),
      ),
    ).toBe('ops channel->slack-ops');
    // A rule may name a web user, knowingly matching whoever claims that id.
    expect(where(await router.resolve(envelope({ user: { id: 'carol' } })))).toBe('carol->web-carol');
    // Our own id counts only where a connector resolved it, never on a web message that carries one.
    expect(
      where(
        await router.resolve(envelope({ platform: 'telegram', user: { id: '42', internalId: internal } })),
      ),
    ).toBe('known->known');
    expect(where(await router.resolve(envelope({ user: { id: internal, internalId: internal } })))).toBe(
      'default->default',
    );
  });

  it('skips a rule made invalid by hand with an error log, keeping the others', async () => {
    await store.createProfile({ name: 'ops' });
    await store.createRule({ name: 'good', match: { text: '^#ops' }, target: { profile: 'ops' } });
    await settled(1);
    // Written straight into the table, past the store's checks.
    await pool.query(`INSERT INTO routing_rules (position, name, match, target) VALUES
      (0, 'evil pattern', '{"text":"(a+)+$"}', '{"action":"ignore"}'),
      (5, 'bad match', '{"colour":"red"}', '{"action":"ignore"}'),
      (6, 'slow pattern', '{"text":"^(a|a)*$"}', '{"action":"ignore"}'),
      (7, 'catch all', '{}', '{"action":"reply","text":"fallback"}')`);
    await settled(3);
    expect(router.rules.map((r) => r.name)).toEqual(['good', 'slow pattern', 'catch all']);
    expect(where(await router.resolve(envelope({ text: '#ops' })))).toBe('good->ops');
    // The slow pattern passes the static check but runs out of its time budget: skipped, logged once.
    const evilText = `${'a'.repeat(40)}!`;
    const started = performance.now();
    expect(where(await router.resolve(envelope({ text: evilText })))).toBe('catch all->reply');
    expect(where(await router.resolve(envelope({ text: evilText })))).toBe('catch all->reply');
    expect(performance.now() - started).toBeLessThan(2_000);
    const slow = captured.lines().filter((l) => String(l.message).includes('ran out of time'));
    expect(slow).toHaveLength(1);
    expect((slow[0]!.labels as Record<string, string>).rule).toBe('slow pattern');
    const errors = captured.lines().filter((l) => l.message === 'routing rule skipped: invalid');
    expect(errors.map((l) => (l.labels as Record<string, string>).rule)).toEqual(
      expect.arrayContaining(['evil pattern', 'bad match']),
    );
    // The admin view shows them with the reason.
    const listed = await store.listRules();
    expect(listed.find((r) => r.name === 'evil pattern')?.problem).toMatch(/nested quantifier/);
  });

  it('calls the intent classifier only when an intent rule is reached, once per message', async () => {
    await store.createProfile({ name: 'billing' });
    await store.createProfile({ name: 'urgent' });
    await store.createProfile({ name: 'ops' });
    await store.createRule({
      name: 'slack billing',
      match: { platform: 'slack', intent: 'billing' },
      target: { profile: 'billing' },
    });
    await store.createRule({ name: 'urgent', match: { text: '^#urgent' }, target: { profile: 'urgent' } });
    await store.createRule({ name: 'outage', match: { intent: 'outage' }, target: { profile: 'ops' } });
    await settled(3);

    const calls: Array<{ text: string; labels: string[] }> = [];
    const answers: Record<string, string> = { invoice: 'billing', 'site down': 'outage', weird: 'poetry' };
    const classify: IntentClassifier = async (text, labels) => {
      calls.push({ text, labels });
      return answers[text];
    };

    // Rule 1 fails on platform, rule 2 matches: no classification needed.
    expect(where(await router.resolve(envelope({ text: '#urgent' }), classify))).toBe('urgent->urgent');
    expect(calls).toEqual([]);

    // Reaches rule 3: one call, with every label the rules use.
    expect(where(await router.resolve(envelope({ text: 'site down' }), classify))).toBe('outage->ops');
    expect(calls).toEqual([{ text: 'site down', labels: ['billing', 'outage'] }]);

    // Slack: rule 1 asks; rule 3 reuses the same answer.
    calls.length = 0;
    const slack = envelope({ platform: 'slack', text: 'site down' });
    const d = await router.resolve(slack, classify);
    expect(where(d)).toBe('outage->ops');
    expect(d.intent).toBe('outage');
    expect(calls).toHaveLength(1);
    // The same message again (a redelivery): not classified again.
    expect(where(await router.resolve(slack, classify))).toBe('outage->ops');
    expect(calls).toHaveLength(1);

    expect(where(await router.resolve(envelope({ platform: 'slack', text: 'invoice' }), classify))).toBe(
      'slack billing->billing',
    );
    // A label no rule uses counts as no intent; a failing classifier too, without failing the turn.
    expect(where(await router.resolve(envelope({ text: 'weird' }), classify))).toBe('default->default');
    const broken: IntentClassifier = async () => {
      throw new Error('model down');
    };
    expect(where(await router.resolve(envelope({ text: 'site down' }), broken))).toBe('default->default');
    // One that never answers (and ignores its signal) is cut off at the classifier timeout.
    const hanging: IntentClassifier = () => new Promise(() => {});
    const started = performance.now();
    expect(where(await router.resolve(envelope({ text: 'site down' }), hanging))).toBe('default->default');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(
      captured
        .lines()
        .some((l) => l.message === 'intent classifier failed; treating the message as having no intent'),
    ).toBe(true);
  });

  it('validates profiles and refuses deleting one a rule uses', async () => {
    const bad: Array<[Parameters<RoutingStore['createProfile']>[0], RegExp]> = [
      [{ name: 'Bad Name' }, /profile name/],
      [{ name: 'default' }, /built-in profile/],
      [{ name: 'p1', modelChain: 'gpt-4o' }, /model chain/],
      [{ name: 'p1', modelChain: 'anthropic/claude' }, /provider must be ollama or openai/],
      [{ name: 'p1', tools: ['shell', 'rm_rf'] as never }, /tools/],
      [{ name: 'p1', cacheTtlSeconds: -1 }, /cacheTtlSeconds/],
    ];
    for (const [input, message] of bad) {
      const err = await store.createProfile(input).catch((e: unknown) => e);
      expect((err as RoutingError).code, JSON.stringify(input)).toBe(RoutingErrorCode.invalid);
      expect((err as RoutingError).message).toMatch(message);
    }
    expect(await store.listProfiles()).toEqual([]);

    await store.createProfile({ name: 'p1', tools: ['shell'] });
    expect(await store.createProfile({ name: 'p1' }).catch((e: RoutingError) => e.code)).toBe(
      RoutingErrorCode.exists,
    );
    const updated = await store.updateProfile('p1', { systemPrompt: 'Hi.', cacheTtlSeconds: 30 });
    // A patch changes only what it names.
    expect(updated).toMatchObject({ name: 'p1', tools: ['shell'], systemPrompt: 'Hi.', cacheTtlSeconds: 30 });
    expect(await store.updateProfile('p1', { modelChain: 'nope' }).catch((e: RoutingError) => e.code)).toBe(
      RoutingErrorCode.invalid,
    );

    await store.createRule({ name: 'uses p1', match: {}, target: { profile: 'p1' } });
    const err = await store.deleteProfile('p1').catch((e: unknown) => e);
    expect((err as RoutingError).code).toBe(RoutingErrorCode.profileInUse);
    expect((err as RoutingError).message).toMatch(/"uses p1"/);
    const [rule] = await store.listRules();
    await store.deleteRule(rule!.id);
    await store.deleteProfile('p1');
    expect(await store.getProfile('p1').catch((e: RoutingError) => e.code)).toBe(RoutingErrorCode.notFound);
  });
});
