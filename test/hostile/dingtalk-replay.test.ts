/**
 * Item 10.4: DingTalk signs a callback's timestamp, not its body, and the timestamp is accepted for
 * an hour. A captured (timestamp, sign) pair must not authenticate another body: the connector
 * binds each pair to the body it first came with (in PostgreSQL, shared by replicas). The same
 * body again is a redelivery and is answered once; another body under the pair is refused 401 and
 * nothing of it is published.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDingtalk, startFakeDingtalk } from '../fakes/dingtalk/server.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';

describe('dingtalk: a captured callback signature cannot carry another body', () => {
  let dt: FakeDingtalk;
  let llm: FakeLlm;
  let stack: TestStack;
  let svc: ServiceProcess;
  let db: pg.Pool;
  let callback: string;

  beforeAll(async () => {
    dt = await startFakeDingtalk();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-dingtalk', {
      DINGTALK_APP_KEY: dt.appKey,
      DINGTALK_APP_SECRET: dt.appSecret,
      DINGTALK_API_URL: dt.url,
    }));
    callback = `${svc.url}/dingtalk/callback`;
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await dt?.close();
  });

  const post = async (body: Record<string, unknown>, headers: Record<string, string>) => {
    const res = await fetch(callback, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as { code?: string; error?: string }) : {} };
  };
  const replies = (s: string) => dt.sends.filter((m) => m.text.includes(s));
  const userMessages = async (text: string) =>
    (await db.query(`SELECT count(*)::int AS n FROM messages WHERE role = 'user' AND content = $1`, [text]))
      .rows[0].n as number;

  it('refuses a replayed sign with a different body (401, nothing published), takes a redelivery once', async () => {
    const genuine = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidVictim',
      userId: 'staff-1',
      text: 'hello',
    });
    const captured = dt.signHeaders();
    expect((await post(genuine, captured)).status).toBe(200);
    await waitFor('the answer to the genuine message', () => replies('echo: hello')[0]);

    // The attacker reuses the captured headers with a body of their own, within the hour.
    const forged = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidVictim',
      userId: 'staff-1',
      text: 'forged instruction',
    });
    const refused = await post(forged, captured);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({
      code: 'SB_ERR_SIGNATURE_INVALID',
      error: 'sign was already used with another body (replayed signature)',
    });
    await waitFor('the refusal in the log', () =>
      svc.logs.some((l) => l.includes('dingtalk callback refused') && l.includes('replayed signature')),
    );

    // The genuine body again under its own pair is a redelivery: accepted, answered only once.
    expect((await post(genuine, captured)).status).toBe(200);

    // A later genuine message, freshly signed, goes through; once it is answered, everything before
    // it has been handled: the forged text was never published, and hello was answered once.
    const marker = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidVictim',
      userId: 'staff-1',
      text: 'marker',
    });
    expect((await post(marker, dt.signHeaders())).status).toBe(200);
    await waitFor('the answer to the marker', () => replies('echo: marker')[0]);
    expect(replies('forged instruction')).toEqual([]);
    expect(await userMessages('forged instruction')).toBe(0);
    expect(replies('echo: hello')).toHaveLength(1);
    expect(await userMessages('hello')).toBe(1);
  });
});
