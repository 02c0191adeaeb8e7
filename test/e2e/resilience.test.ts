import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient, postMessage } from '../support/web-client.ts';

/** Per inbound id: how many assistant rows, outbox rows and distinct replies the clients saw. */
async function exactlyOnce(db: pg.Pool, ids: string[]) {
  const rows = await db.query<{ in_reply_to: string; n: number }>(
    "SELECT in_reply_to, count(*)::int AS n FROM messages WHERE role = 'assistant' AND in_reply_to = ANY($1) GROUP BY 1",
    [ids],
  );
  const outbox = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE message_id = ANY($1)',
    [ids.map((id) => `reply:${id}`)],
  );
  return {
    answered: rows.rows.length,
    maxPerMessage: Math.max(0, ...rows.rows.map((r) => r.n)),
    outbox: outbox.rows[0]!.n,
  };
}

/** Sends with a client id and retries on 503, as the API docs tell clients to during a broker restart. */
async function sendReliably(
  url: string,
  token: string,
  conversationId: string,
  text: string,
  id: string,
): Promise<string> {
  return waitFor(
    `accepted ${id}`,
    async () => {
      const r = await postMessage(url, token, { conversationId, text, id }).catch(() => undefined);
      if (r?.status === 202) return String(r.body.id);
      if (r && r.status !== 503) throw new Error(`unexpected ${r.status}: ${JSON.stringify(r.body)}`);
      return undefined;
    },
    60_000,
    200,
  );
}

describe('resilience: worker crashes, graceful stops and broker restarts lose nothing', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let db: pg.Pool;
  const chats: ChatClient[] = [];

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: llm.url } }).start();
    db = new pg.Pool({ connectionString: stack.databaseUrl });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
    await llm?.close();
  });
  afterEach((ctx) => {
    for (const c of chats.splice(0)) c.close();
    if (ctx.task.result?.state === 'fail') console.log(stack.dumpLogs());
  });

  async function openChats(prefix: string, n: number): Promise<ChatClient[]> {
    const list = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        new ChatClient(stack.web.url, stack.token, `${prefix}-${i}`).connect(),
      ),
    );
    chats.push(...list);
    return list;
  }

  it('kill -9 of a worker in the middle of turns: after a restart every message is answered exactly once, in order', async () => {
    llm.setLatency(300);
    const convs = await openChats('crash', 3);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      for (const c of convs) {
        const r = await postMessage(stack.web.url, stack.token, {
          conversationId: c.conversationId,
          text: `${c.conversationId} #${i}`,
        });
        ids.push(String(r.body.id));
      }
    }
    // Wait until the worker is mid-turn (model calls in flight), then kill it without warning.
    await waitFor('turns in progress', () => llm.calls.length >= 4);
    const victim = stack.workers[0]!;
    await victim.kill('SIGKILL');
    llm.setLatency(20);
    await stack.startWorker();

    for (const c of convs) {
      const replies = await c.waitForReplies(8, 30_000);
      expect(replies.map((r) => r.text)).toEqual(
        Array.from({ length: 8 }, (_, i) => `echo: ${c.conversationId} #${i}`),
      );
    }
    const counts = await exactlyOnce(db, ids);
    expect(counts).toEqual({ answered: 24, maxPerMessage: 1, outbox: 24 });
    // No client saw a reply twice.
    for (const c of convs) expect(new Set(c.replies.map((r) => r.id)).size).toBe(c.replies.length);
  });

  it('a turn committed but not published before a crash goes out on redelivery, before the next reply', async () => {
    // The state a worker leaves when killed between its commit and its publish.
    const reply = {
      v: 1,
      kind: 'outbound',
      id: 'reply:web:web:gap-0',
      platform: 'web',
      botId: 'web',
      conversationId: 'crash-gap-0',
      inReplyTo: 'web:web:gap-0',
      text: 'stored answer',
      attachments: [],
      status: 'ok',
      createdAt: new Date().toISOString(),
      traceId: 'trace-gap-0',
    };
    await db.query("INSERT INTO inbox (message_id, trace_id) VALUES ('web:web:gap-0', 'trace-gap-0')");
    await db.query(
      "INSERT INTO outbox (exchange, routing_key, message_id, payload, trace_id) VALUES ($1, 'out.web.web', $2, $3, 'trace-gap-0')",
      [`${stack.prefix}.outbound`, reply.id, JSON.stringify(reply)],
    );
    const [chat] = await openChats('crash-gap', 1);
    // The broker redelivers the message, then the user's next one arrives.
    await postMessage(stack.web.url, stack.token, {
      conversationId: 'crash-gap-0',
      text: 'gap 0',
      id: 'gap-0',
    });
    await postMessage(stack.web.url, stack.token, {
      conversationId: 'crash-gap-0',
      text: 'gap 1',
      id: 'gap-1',
    });
    const replies = await chat!.waitForReplies(2);
    expect(replies.map((r) => r.text)).toEqual(['stored answer', 'echo: gap 1']);
    await waitFor('the row marked sent', async () => {
      const r = await db.query("SELECT sent_at FROM outbox WHERE message_id = 'reply:web:web:gap-0'");
      return r.rows[0]?.sent_at;
    });
  });

  it('SIGTERM of a worker mid-turn: it finishes what it started and another worker takes over the rest', async () => {
    llm.setLatency(200);
    await stack.startWorker();
    const convs = await openChats('graceful', 4);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const c of convs) {
        const r = await postMessage(stack.web.url, stack.token, {
          conversationId: c.conversationId,
          text: `${c.conversationId} #${i}`,
        });
        ids.push(String(r.body.id));
      }
    }
    const before = llm.calls.length;
    await waitFor('turns in progress', () => llm.calls.length >= before + 2);
    const leaving = stack.liveWorkers[0]!;
    expect(await leaving.kill('SIGTERM')).toBe(0);
    expect(leaving.logs.join('\n')).toMatch(/shutdown complete/);

    for (const c of convs) {
      const replies = await c.waitForReplies(5, 30_000);
      expect(replies.map((r) => r.text)).toEqual(
        Array.from({ length: 5 }, (_, i) => `echo: ${c.conversationId} #${i}`),
      );
    }
    expect(await exactlyOnce(db, ids)).toEqual({ answered: 20, maxPerMessage: 1, outbox: 20 });
  });

  it('RabbitMQ restarted during traffic: services reconnect by themselves and nothing is lost', async () => {
    llm.setLatency(50);
    while (stack.liveWorkers.length < 2) await stack.startWorker();
    const convs = await openChats('restart', 4);
    const ids: string[] = [];
    let n = 0;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        const c = convs[n % convs.length]!;
        ids.push(
          await sendReliably(
            stack.web.url,
            stack.token,
            c.conversationId,
            `${c.conversationId} n${n}`,
            `rs-${n}`,
          ),
        );
      }
    };
    await send(12);
    execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore' });
    await waitFor(
      'services to notice the broker is gone',
      async () => (await fetch(`${stack.web.url}/readyz`)).status === 503,
    );
    const during = send(12); // waits (and retries on 503) while the broker is down
    execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore' });
    await during;
    await send(12);

    for (const svc of [stack.web, ...stack.liveWorkers]) {
      await waitFor(
        `${svc.name} ready again`,
        async () => (await fetch(`${svc.url}/readyz`)).ok,
        60_000,
        200,
      );
    }
    await waitFor(
      'every message answered in the database',
      async () => (await exactlyOnce(db, ids)).answered === ids.length,
      60_000,
      200,
    );
    expect(await exactlyOnce(db, ids)).toEqual({ answered: 36, maxPerMessage: 1, outbox: 36 });
    // The open web chats got every reply, once, even those published while they were cut off.
    for (const c of convs) {
      const replies = await c.waitForReplies(9, 30_000);
      expect(new Set(replies.map((r) => r.id)).size).toBe(9);
    }
  }, 180_000);
});
