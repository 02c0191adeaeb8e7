import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient, postMessage } from '../support/web-client.ts';

describe('message path: HTTP and WebSocket in, worker, model, reply out', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let db: pg.Pool;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({ workers: 2, workerEnv: { OLLAMA_URL: llm.url } }).start();
    db = new pg.Pool({ connectionString: stack.databaseUrl });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
    await llm?.close();
  });

  it('answers an HTTP message over the WebSocket of its conversation', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-http-ws').connect();
    const res = await postMessage(stack.web.url, stack.token, {
      conversationId: 'conv-http-ws',
      text: 'hello there',
    });
    expect(res.status).toBe(202);
    expect(res.body.id).toMatch(/^web:web:/);
    const [reply] = await chat.waitForReplies(1);
    expect(reply).toMatchObject({ inReplyTo: res.body.id, text: 'echo: hello there', status: 'ok' });
    // The model saw our system prompt and the user's text.
    const call = llm.calls.find((c) => c.messages.some((m) => m.content === 'hello there'));
    expect(call?.messages[0]?.role).toBe('system');
    // And the reply can be fetched over HTTP too.
    const r = await fetch(`${stack.web.url}/v1/messages/${encodeURIComponent(String(res.body.id))}`, {
      headers: { authorization: `Bearer ${stack.token}` },
    });
    expect(await r.json()).toMatchObject({ status: 'answered', reply: { text: 'echo: hello there' } });
    chat.close();
  });

  it('answers a message sent over the WebSocket itself, keeping history in the conversation', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-ws').connect();
    chat.send('first');
    await chat.waitForReplies(1);
    chat.send('second');
    const replies = await chat.waitForReplies(2);
    expect(replies.map((r) => r.text)).toEqual(['echo: first', 'echo: second']);
    const second = llm.calls.find((c) => c.messages.at(-1)?.content === 'second');
    expect(second?.messages.map((m) => m.content)).toEqual([
      expect.any(String),
      'first',
      'echo: first',
      'second',
    ]);
    chat.close();
  });

  it('answers ten messages to one conversation in order', async () => {
    llm.setLatency(20);
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-order').connect();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await postMessage(stack.web.url, stack.token, {
        conversationId: 'conv-order',
        text: `message ${i}`,
      });
      expect(res.status).toBe(202);
      ids.push(String(res.body.id));
    }
    const replies = await chat.waitForReplies(10);
    expect(replies.map((r) => r.text)).toEqual(ids.map((_, i) => `echo: message ${i}`));
    expect(replies.map((r) => r.inReplyTo)).toEqual(ids);
    // Serialised turns: each model call saw every earlier exchange of the conversation.
    const calls = llm.calls.filter((c) => String(c.messages.at(-1)?.content).startsWith('message '));
    expect(calls.map((c) => c.messages.length)).toEqual(
      Array.from({ length: 10 }, (_, i) => Math.min(2 + 2 * i, 21)),
    );
    llm.setLatency(0);
    chat.close();
  });

  it('serves a repeated client id once', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-idem').connect();
    const a = await postMessage(stack.web.url, stack.token, {
      conversationId: 'conv-idem',
      text: 'once',
      id: 'client-1',
    });
    const b = await postMessage(
      stack.web.url,
      stack.token,
      { conversationId: 'conv-idem', text: 'once' },
      { 'idempotency-key': 'client-1' },
    );
    expect(a.body.id).toBe(b.body.id);
    await chat.waitForReplies(1);
    chat.send('after', 'client-2');
    await chat.waitForReplies(2);
    expect(chat.replies.map((r) => r.text)).toEqual(['echo: once', 'echo: after']);
    const rows = await db.query("SELECT count(*)::int AS n FROM messages WHERE content = 'once'");
    expect(rows.rows[0].n).toBe(1);
    chat.close();
  });

  it('resets the conversation on /reset', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-reset').connect();
    chat.send('remember me');
    await chat.waitForReplies(1);
    chat.send('/reset');
    await chat.waitForReplies(2);
    expect(chat.replies[1]?.text).toMatch(/Conversation reset/);
    chat.send('who am i');
    await chat.waitForReplies(3);
    const call = llm.calls.find((c) => c.messages.at(-1)?.content === 'who am i');
    expect(call?.messages.map((m) => m.content)).not.toContain('remember me');
    chat.close();
  });

  it('refuses malformed, oversized and unauthenticated requests with a reason, publishing nothing', async () => {
    const url = stack.web.url;
    const cases: Array<[string, Awaited<ReturnType<typeof postMessage>>, number, RegExp]> = [
      [
        'no token',
        await postMessage(url, undefined, { conversationId: 'conv-bad', text: 'x' }),
        401,
        /bearer/i,
      ],
      [
        'wrong token',
        await postMessage(url, 'not-the-token-at-all', { conversationId: 'conv-bad', text: 'x' }),
        401,
        /invalid/i,
      ],
      [
        'malformed json',
        await postMessage(url, stack.token, '{"conversationId": "conv-bad", "text": '),
        400,
        /json/i,
      ],
      ['missing text', await postMessage(url, stack.token, { conversationId: 'conv-bad' }), 400, /text/],
      [
        'bad conversation id',
        await postMessage(url, stack.token, { conversationId: '../../etc', text: 'x' }),
        400,
        /conversationId/,
      ],
      [
        'empty text',
        await postMessage(url, stack.token, { conversationId: 'conv-bad', text: '   ' }),
        400,
        /empty/,
      ],
      [
        'text too long',
        await postMessage(url, stack.token, { conversationId: 'conv-bad', text: 'x'.repeat(16_001) }),
        413,
        /longer than/,
      ],
      [
        'body too large',
        await postMessage(url, stack.token, { conversationId: 'conv-bad', text: 'x'.repeat(300_000) }),
        413,
        /large/i,
      ],
    ];
    for (const [name, res, status, reason] of cases) {
      expect(res.status, name).toBe(status);
      expect(res.body.error?.message, name).toMatch(reason);
      expect(res.body.error?.code, name).toMatch(/^(SB|FST)_ERR_/);
    }
    // A good message to the same conversation afterwards is the only thing that ever reached a worker.
    const chat = await new ChatClient(url, stack.token, 'conv-bad').connect();
    await postMessage(url, stack.token, { conversationId: 'conv-bad', text: 'valid' });
    await chat.waitForReplies(1);
    const rows = await db.query(
      "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.external_id = 'conv-bad' ORDER BY m.id",
    );
    expect(rows.rows.map((r) => r.content)).toEqual(['valid', 'echo: valid']);
    chat.close();
  });

  it('refuses a WebSocket without a valid token', async () => {
    const chat = new ChatClient(stack.web.url, 'wrong-token-wrong-token', 'conv-ws-bad');
    await expect(chat.connect()).rejects.toThrow(/socket closed with 4401/);
    expect(chat.frames).toContainEqual(
      expect.objectContaining({ type: 'error', code: 'SB_ERR_UNAUTHORIZED' }),
    );
  });

  it('exposes health, readiness and metrics', async () => {
    for (const svc of [stack.web, ...stack.workers]) {
      expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${svc.url}/readyz`);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { broker: 'ok', database: 'ok' } });
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).toMatch(/^switchboard_process_cpu_user_seconds_total/m);
    }
    const webMetrics = await (await fetch(`${stack.web.url}/metrics`)).text();
    expect(webMetrics).toMatch(/switchboard_ingress_messages_total\{[^}]*outcome="accepted"[^}]*\} [1-9]/);
    expect(webMetrics).toMatch(
      /switchboard_http_request_duration_seconds_count\{[^}]*route="\/v1\/messages"[^}]*status_code="202"/,
    );
    const workerMetrics = await Promise.all(
      stack.workers.map(async (w) => (await fetch(`${w.url}/metrics`)).text()),
    );
    await waitFor('turn counters', () =>
      workerMetrics.some((m) => /switchboard_turns_total\{[^}]*outcome="answered"/.test(m)),
    );
    // Two workers split the partitions between them.
    const held = workerMetrics.map((m) => Number(/switchboard_partitions_held\S* (\d+)/.exec(m)?.[1] ?? 0));
    expect(held.reduce((a, b) => a + b, 0)).toBe(4);
    expect(Math.min(...held)).toBeGreaterThan(0);
  });
});
