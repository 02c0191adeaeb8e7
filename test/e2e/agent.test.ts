import { randomBytes } from 'node:crypto';
import { AdminTokenStore } from '@switchboard/core';
import { RoutingStore } from '@switchboard/routing';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

/**
 * The agent as a user meets it, through the HTTP API: commands, tools called by the model and run by
 * the tool-runner, routing rules changed while running, skills with knowledge and the response cache.
 * Real RabbitMQ, PostgreSQL, Redis and tool-runner; the model is the scripted fake.
 */
const JWT_SECRET = 'agent-test-jwt-secret-0123456789abcdef';

describe('agent: tools, routing, skills, knowledge, cache, commands', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let db: pg.Pool;
  let routes: RoutingStore;

  const unique = (w: string) => `${w}-${randomBytes(3).toString('hex')}`;

  async function ask(conversationId: string, text: string): Promise<string> {
    const res = await postMessage(stack.web.url, stack.token, { conversationId, text });
    expect(res.status).toBe(202);
    const id = String(res.body.id);
    const reply = await waitFor(
      `the answer to "${text}"`,
      async () => {
        const r = await fetch(`${stack.web.url}/v1/messages/${encodeURIComponent(id)}`, {
          headers: { authorization: `Bearer ${stack.token}` },
        });
        const body = (await r.json()) as { status: string; reply?: { text: string } };
        return body.status === 'answered' ? body.reply : undefined;
      },
      30_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(25)}`);
    });
    return reply.text;
  }

  /** The model calls (fake) whose last user message contains `s`. */
  const callsAbout = (s: string) =>
    llm.calls.filter((c) => c.messages.some((m) => m.role === 'user' && String(m.content).includes(s)));

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({
      workers: 1,
      workerEnv: {
        OLLAMA_URL: llm.url,
        DEFAULT_PROFILE_TOOLS: 'shell',
        // The FAQ skill answers on the default route only because the route allows it.
        DEFAULT_PROFILE_SKILLS: 'faq',
        REDIS_URL: 'redis://127.0.0.1:6379',
      },
      webEnv: {
        API_JWT_SECRET: JWT_SECRET,
        API_JWT_ISSUER: 'https://idp.example.test',
        API_JWT_AUDIENCE: 'switchboard',
        API_JWT_CLAIMS: 'sub,team',
      },
      // The runner grants the default route what the workers offer there: it reads no list from a request.
      tools: { SHELL_ALLOWLIST: 'uptime,df', DEFAULT_PROFILE_TOOLS: 'shell' },
    }).start();
    db = new pg.Pool({ connectionString: stack.databaseUrl });
    routes = new RoutingStore(db);
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
    await llm?.close();
  });

  it('runs a tool the model asks for in the tool-runner and answers with its result, recorded', async () => {
    const q = unique('check the load');
    llm.setRules([
      { match: { contains: q }, toolCalls: [{ name: 'shell', arguments: { command: 'uptime' } }], times: 1 },
      { match: { contains: q }, reply: 'The load is fine.' },
    ]);
    expect(await ask('agent-tools', q)).toBe('The load is fine.');
    const calls = callsAbout(q);
    expect(calls).toHaveLength(2);
    // The model was offered the shell tool, and read the command's real output the second time.
    expect(JSON.stringify(calls[0]?.tools)).toContain('"shell"');
    const toolMessage = calls[1]?.messages.find((m) => m.role === 'tool');
    expect(String(toolMessage?.content)).toMatch(/load average/);
    const { rows } = await db.query(
      `SELECT tool, status, arguments FROM tool_calls WHERE conversation_id = 'agent-tools'`,
    );
    expect(rows).toEqual([
      expect.objectContaining({ tool: 'shell', status: 'ok', arguments: { command: 'uptime' } }),
    ]);
    // Operators see the calls of a conversation through the worker's admin API, and nobody else does.
    const url = `${stack.workers[0]!.url}/admin/tool-calls?platform=web&botId=web&conversationId=agent-tools`;
    expect((await fetch(url)).status).toBe(401);
    // The console's own tokens and roles: a viewer may read them.
    const viewer = (
      await new AdminTokenStore(db).create({
        name: 'e2e-viewer',
        role: 'viewer',
        ttlMs: 600_000,
        createdBy: 'test',
      })
    ).token;
    const listed = (await (await fetch(url, { headers: { authorization: `Bearer ${viewer}` } })).json()) as {
      calls: Array<{ tool: string; status: string }>;
    };
    expect(listed.calls).toEqual([expect.objectContaining({ tool: 'shell', status: 'ok' })]);
    // Both model calls counted against the user, the route and the model.
    const usage = await db.query(
      `SELECT route, model, requests FROM token_usage WHERE route = 'default' AND model = 'ollama/fake-small'`,
    );
    expect(Number(usage.rows[0]?.requests)).toBeGreaterThanOrEqual(2);
  });

  it('refuses a command off the allowlist, tells the model why, and records the refusal', async () => {
    const q = unique('clean up');
    llm.setRules([
      {
        match: { contains: q },
        toolCalls: [{ name: 'shell', arguments: { command: 'rm', args: ['-rf', '/tmp/x'] } }],
        times: 1,
      },
      { match: { contains: q }, reply: 'I am not allowed to do that.' },
    ]);
    expect(await ask('agent-refused', q)).toBe('I am not allowed to do that.');
    const toolMessage = callsAbout(q)[1]?.messages.find((m) => m.role === 'tool');
    expect(String(toolMessage?.content)).toMatch(/not on the allowlist|not allowed/i);
    const { rows } = await db.query(`SELECT status FROM tool_calls WHERE conversation_id = 'agent-refused'`);
    expect(rows.map((r) => r.status)).toEqual(['refused']);
  });

  it('answers chat commands itself, without the model', async () => {
    const before = llm.calls.length;
    expect(await ask('agent-commands', '/whoami')).toMatch(/on web[\s\S]*route \*\*default\*\*/);
    expect(await ask('agent-commands', '/help')).toContain('`/model`');
    const status = await ask('agent-commands', '/status');
    expect(status).toMatch(/Models:\*\* ollama\/fake-small/);
    expect(status).toMatch(/Skills:\*\* .*faq/);
    expect(await ask('agent-commands', '/model')).toContain('`ollama/fake-small`');
    expect(await ask('agent-commands', '/model nonsense')).toMatch(/is not one of the models/);
    expect(llm.calls.length).toBe(before);
  });

  it('follows a routing rule added while running, in order, and stops when it is removed', async () => {
    await routes.createProfile({ name: 'urgent', systemPrompt: 'URGENT-PROFILE: be brief.' });
    const rule = await routes.createRule({
      name: 'urgent',
      match: { text: '^#urgent' },
      target: { profile: 'urgent' },
    });
    // An earlier rule wins over a later one: a fixed reply placed first for one keyword.
    await routes.createRule({
      name: 'maintenance',
      position: 1,
      match: { text: 'maintenance window' },
      target: { action: 'reply', text: 'Maintenance is on Sundays at 02:00.' },
    });
    const q = unique('#urgent disk full');
    await waitFor('the rule to apply', async () => {
      await ask('agent-routes', `${q} ${llm.calls.length}`);
      const last = llm.calls.at(-1);
      return last?.messages[0]?.content === 'URGENT-PROFILE: be brief.';
    });
    expect(await ask('agent-routes', '#urgent maintenance window?')).toBe(
      'Maintenance is on Sundays at 02:00.',
    );
    await routes.deleteRule(rule.id);
    const plain = unique('#urgent again');
    await waitFor('the default route again', async () => {
      await ask('agent-routes-2', plain);
      return llm.calls.at(-1)?.messages[0]?.content !== 'URGENT-PROFILE: be brief.';
    });
  });

  it('serves an identical question from the response cache without a model call', async () => {
    await routes.createProfile({ name: 'cached', cacheTtlSeconds: 60, systemPrompt: 'CACHED-PROFILE' });
    await routes.createRule({ name: 'cached', match: { text: '^cacheable' }, target: { profile: 'cached' } });
    const q = `cacheable ${unique('question')}`;
    // Answered on the cached route (not the default one, before the worker saw the rule): cached now.
    const first = await waitFor('the cached route', async () => {
      const text = await ask(unique('conv'), q);
      return callsAbout(q).at(-1)?.messages[0]?.content === 'CACHED-PROFILE' ? text : undefined;
    });
    const calls = callsAbout(q).length;
    expect(await ask(unique('conv'), q)).toBe(first);
    expect(callsAbout(q).length).toBe(calls);
  });

  it('answers through the FAQ skill with knowledge passages and cites its sources, in English and Chinese', async () => {
    llm.setRules([
      { match: { contains: 'restart PostgreSQL' }, reply: 'Restart it with systemctl [1].' },
      { match: { contains: 'VPN' }, reply: '打开自助服务门户重置 [1]。' },
    ]);
    const en = await ask('agent-faq', 'How do I restart PostgreSQL?');
    expect(en).toMatch(/^Restart it with systemctl \[1\]\.\n\nSources:.*runbook\.md/s);
    const prompt = String(callsAbout('restart PostgreSQL').at(-1)?.messages[0]?.content);
    expect(prompt).toMatch(/cite/i);
    expect(prompt).toMatch(/\[1\][\s\S]*Restart PostgreSQL/);
    // Chinese has no spaces between words: found through the trigram and CJK bigram index.
    const zh = await ask('agent-faq-zh', '如何重置 VPN 密码？');
    expect(zh).toMatch(/^打开自助服务门户重置 \[1\]。\n\nSources:.*faq-zh\.md/s);
  });

  it('routes an API client by a claim of its JWT', async () => {
    await routes.createProfile({ name: 'sre', systemPrompt: 'SRE-PROFILE' });
    await routes.createRule({
      name: 'sre-team',
      match: { claims: { team: 'sre' } },
      target: { profile: 'sre' },
    });
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ team: 'sre' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('https://idp.example.test')
      .setAudience('switchboard')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(JWT_SECRET));
    const q = unique('who is paged');
    await waitFor('the claims rule to apply', async () => {
      const res = await postMessage(stack.web.url, jwt, { conversationId: unique('jwt'), text: q });
      expect(res.status).toBe(202);
      await waitFor('the model call', () => callsAbout(q).length > 0);
      return callsAbout(q).some((c) => c.messages[0]?.content === 'SRE-PROFILE');
    });
  });
});
