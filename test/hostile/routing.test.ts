import { randomBytes } from 'node:crypto';
import { PairingStore } from '@switchboard/connector';
import { RoutingError, RoutingErrorCode, RoutingStore } from '@switchboard/routing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRANGER_DETAILS_REPLY } from '../../services/agent-worker/src/agent/agent.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { numericId, TelegramUpdates } from '../fakes/telegram/harness.ts';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

const MARKER = 'SLACK-ADMINS-PROFILE-7f3a';

/**
 * Hostile: routing rules keyed on a platform identity, and what strangers learn from the worker.
 * Real agent-worker, ingress-web and Telegram connector (real grammY against the fake Bot API),
 * real RabbitMQ and PostgreSQL; the model is the scripted fake, which records what it was offered.
 */
describe('hostile: routing identities and strangers', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let tg: FakeTelegram;
  let db: pg.Pool;
  let routes: RoutingStore;
  const updates = new TelegramUpdates();
  const admin = `admin${randomBytes(3).toString('hex')}`;
  const adminTg = () => String(numericId(admin));
  const unique = (w: string) => `${w}-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    tg = await startFakeTelegram();
    ({ llm, stack, db } = await startConnectorTestbed('ingress-telegram', {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'polling',
      TELEGRAM_POLL_TIMEOUT_S: '1',
      // The door is open: strangers reach the worker, which must still tell them nothing internal.
      STRANGER_MODE: 'open',
    }));
    routes = new RoutingStore(db);
    await routes.createProfile({
      name: 'slack-admins',
      systemPrompt: MARKER,
      modelChain: 'ollama/fake-large',
      tools: ['shell'],
    });
    await routes.createRule({
      name: 'slack admins',
      match: { user: ['slack:U0ADMIN', `telegram:${adminTg()}`] },
      target: { profile: 'slack-admins' },
    });
    await routes.createRule({
      name: 'slack ops channel',
      match: { channel: 'slack:C0OPS' },
      target: { profile: 'slack-admins' },
    });
    await new PairingStore(db).pair({ platform: 'telegram', externalId: adminTg() }, 'ops');
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await tg?.close();
  });

  /** The model calls whose user message contains `s`. */
  const callsAbout = (s: string) =>
    llm.calls.filter((c) => c.messages.some((m) => m.role === 'user' && String(m.content).includes(s)));

  function tgSay(user: string, text: string): void {
    tg.pushUpdate(updates.message({ chat: 'direct', userId: user, text }));
  }
  const tgReplies = (user: string) =>
    tg.sent.filter((m) => m.chatId === String(numericId(user))).map((m) => m.text);
  /** Sends and waits for the next reply to that user. */
  async function tgAsk(user: string, text: string): Promise<string> {
    const before = tgReplies(user).length;
    tgSay(user, text);
    return waitFor(`a reply to ${user} for "${text}"`, () => tgReplies(user)[before]).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
    });
  }

  async function webAsk(body: Record<string, unknown>): Promise<string> {
    const res = await postMessage(stack.web.url, stack.token, body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = String(res.body.id);
    const reply = await waitFor(`the answer to ${JSON.stringify(body)}`, async () => {
      const r = await fetch(`${stack.web.url}/v1/messages/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${stack.token}` },
      });
      const b = (await r.json()) as { status: string; reply?: { text: string } };
      return b.status === 'answered' ? b.reply : undefined;
    });
    return reply.text;
  }

  it('the Slack rule works for the verified identity it names (the control)', async () => {
    // Retried until the worker has loaded the rules created at the start (NOTIFY, milliseconds).
    await waitFor('the rule to apply to the verified Telegram identity', async () => {
      const q = unique('admin asks');
      await tgAsk(admin, q);
      return callsAbout(q).at(-1)?.messages[0]?.content === MARKER;
    });
    const q = unique('admin again');
    await tgAsk(admin, q);
    const call = callsAbout(q).at(-1)!;
    expect(call.model).toBe('fake-large');
    expect(JSON.stringify(call.tools)).toContain('shell');
  });

  it("a web or OpenAI client claiming the Slack user's id, or talking in the Slack channel's id, gets none of its route", async () => {
    const rulesBefore = await routes.listRules();
    const claims: Array<Record<string, unknown>> = [
      { user: { id: 'U0ADMIN' } },
      { user: { id: 'slack:U0ADMIN' } },
      { user: { id: adminTg() } },
      { conversationId: 'C0OPS' },
      { conversationId: 'slack:C0OPS' },
    ];
    for (const claim of claims) {
      const q = unique('claimed');
      const answer = await webAsk({ conversationId: unique('conv'), text: q, ...claim });
      expect(answer, JSON.stringify(claim)).toBe(`echo: ${q}`);
      const [call] = callsAbout(q);
      expect(call, JSON.stringify(claim)).toBeDefined();
      // The default route: the worker's prompt and model, no tools offered.
      expect(call!.messages[0]?.content, JSON.stringify(claim)).not.toBe(MARKER);
      expect(call!.model, JSON.stringify(claim)).toBe('fake-small');
      expect(call!.tools ?? [], JSON.stringify(claim)).toEqual([]);
    }
    // What the worker says about the claimant: the default route.
    expect(await webAsk({ conversationId: 'C0OPS', text: '/whoami', user: { id: 'U0ADMIN' } })).toMatch(
      /You are `U0ADMIN` on web[\s\S]*route \*\*default\*\*/,
    );

    // The OpenAI-compatible API's `user` is a claim too.
    const q = unique('openai claims');
    const res = await fetch(`${stack.web.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'switchboard',
        user: 'U0ADMIN',
        messages: [{ role: 'user', content: q }],
      }),
    });
    expect(res.status).toBe(200);
    const [call] = callsAbout(q);
    expect(call?.messages[0]?.content).not.toBe(MARKER);
    expect(call?.tools ?? []).toEqual([]);
    // Nothing about the rules changed along the way.
    expect(await routes.listRules()).toEqual(rulesBefore);
  });

  it('refuses a rule keyed on a bare user or channel id at save, with the reason, and stores nothing', async () => {
    const before = (
      await db.query('SELECT id, position, enabled, name, match, target FROM routing_rules ORDER BY id')
    ).rows;
    const bare: Array<[Record<string, unknown>, RegExp]> = [
      [{ user: 'U0ADMIN' }, /user "U0ADMIN" names no platform: write it as "<platform>:<id>"/],
      [{ user: ['slack:U1', '42'] }, /user "42" names no platform/],
      [{ channel: 'C0OPS' }, /channel "C0OPS" names no platform/],
      [{ platform: 'slack', user: 'U0ADMIN' }, /user "U0ADMIN" names no platform/],
      [{ user: 'mallory:U0ADMIN' }, /"mallory" is not a platform/],
      [{ platform: 'web', user: 'slack:U0ADMIN' }, /can never match: the rule is limited to platform web/],
    ];
    for (const [match, reason] of bare) {
      const err = await routes
        .createRule({ name: 'sneaky', match, target: { profile: 'slack-admins' } } as never)
        .catch((e: unknown) => e);
      expect(err, JSON.stringify(match)).toBeInstanceOf(RoutingError);
      expect((err as RoutingError).code).toBe(RoutingErrorCode.invalid);
      expect((err as RoutingError).statusCode).toBe(400);
      expect((err as RoutingError).message).toMatch(reason);
    }
    // Nor can an existing rule be edited into one.
    const [first] = await routes.listRules();
    const err = await routes.updateRule(first!.id, { match: { user: 'U0ADMIN' } }).catch((e: unknown) => e);
    expect((err as RoutingError).message).toMatch(/names no platform/);
    const after = (
      await db.query('SELECT id, position, enabled, name, match, target FROM routing_rules ORDER BY id')
    ).rows;
    expect(after).toEqual(before);
  });

  it("a stranger's /whoami, /status and /model reveal no ids, routes, models or tools; a paired user's do", async () => {
    const stranger = `stranger${randomBytes(3).toString('hex')}`;
    const callsBefore = llm.calls.length;
    // The stranger's first message makes the connector resolve their Switchboard id.
    const whoami = await tgAsk(stranger, '/whoami');
    const { rows } = await db.query<{ user_id: string }>(
      `SELECT user_id FROM user_identities WHERE platform = 'telegram' AND external_id = $1`,
      [String(numericId(stranger))],
    );
    expect(rows).toHaveLength(1);
    const internalId = rows[0]!.user_id;
    const secrets = [internalId, 'default', 'slack', 'fake-small', 'fake-large', 'ollama', 'shell', 'route'];
    const answers = {
      whoami,
      status: await tgAsk(stranger, '/status'),
      model: await tgAsk(stranger, '/model'),
      pick: await tgAsk(stranger, '/model fake-large'),
    };
    for (const [cmd, text] of Object.entries(answers)) {
      expect(text, cmd).toBe(STRANGER_DETAILS_REPLY);
      for (const s of secrets) expect(text.toLowerCase(), `${cmd} shows ${s}`).not.toContain(s);
    }
    const help = await tgAsk(stranger, '/help');
    expect(help).toContain('/whoami');
    expect(help).not.toMatch(/shell|Tools/);
    // Nothing changed: no model was called, no chat setting was stored, the stranger is not paired.
    expect(llm.calls.length).toBe(callsBefore);
    expect((await db.query('SELECT 1 FROM conversation_settings WHERE model IS NOT NULL')).rows).toHaveLength(
      0,
    );
    expect(
      (await db.query('SELECT 1 FROM paired_users WHERE external_id = $1', [String(numericId(stranger))]))
        .rows,
    ).toHaveLength(0);

    // A paired user keeps the full answers: the control that the refusal is about standing.
    const adminId = (
      await db.query<{ user_id: string }>(
        `SELECT user_id FROM user_identities WHERE platform = 'telegram' AND external_id = $1`,
        [adminTg()],
      )
    ).rows[0]!.user_id;
    const mine = await tgAsk(admin, '/whoami');
    expect(mine).toContain(adminId);
    expect(mine).toMatch(/slack admins/);
    expect(await tgAsk(admin, '/status')).toMatch(/fake-large[\s\S]*shell/);
  });
});
