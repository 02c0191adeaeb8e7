import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AMQP_URL,
  createTestDatabase,
  deleteBrokerPrefix,
  uniqueName,
  waitFor,
} from '../../../../test/support/infra.ts';
import { Broker } from '../broker/broker.ts';
import { Headers } from '../broker/topology.ts';
import { ErrorCodes, SwitchboardError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { claimInbox, inboxHas } from './inbox.ts';
import { migrate, migrationsDir } from './migrate.ts';
import { enqueueOutbox, OutboxRelay } from './outbox.ts';
import { createPool, withTransaction } from './pool.ts';

const log = createLogger('db-test', 'error');
const shippedMigrations = readdirSync(migrationsDir())
  .filter((f) => /^\d+_.+\.sql$/.test(f))
  .sort();

async function appliedVersions(pool: pg.Pool): Promise<string[]> {
  const r = await pool.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
  return r.rows.map((row) => row.version);
}

describe('migrate', () => {
  it('applies every shipped migration once; a second run applies nothing', async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url, log);
    try {
      expect(shippedMigrations.length).toBeGreaterThan(0);
      expect(await migrate(pool, log)).toEqual(shippedMigrations);
      expect(await migrate(pool, log)).toEqual([]);
      expect(await appliedVersions(pool)).toEqual(shippedMigrations);
      // The tables the message path needs exist.
      const t = await pool.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(t.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['conversations', 'messages', 'inbox', 'outbox', 'schema_migrations']),
      );
    } finally {
      await pool.end();
      await db.drop();
    }
  });

  it('lets two services start at once: both succeed and each migration is applied exactly once', async () => {
    const db = await createTestDatabase();
    // Two pools, as two containers starting together would have.
    const a = createPool(db.url, log);
    const b = createPool(db.url, log);
    try {
      const [ra, rb] = await Promise.all([migrate(a, log), migrate(b, log)]);
      expect([...ra, ...rb].sort()).toEqual(shippedMigrations);
      expect(await appliedVersions(a)).toEqual(shippedMigrations);
    } finally {
      await a.end();
      await b.end();
      await db.drop();
    }
  });

  it('stops at a failing migration, naming its file, and keeps nothing of it', async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url, log);
    const dir = mkdtempSync(join(tmpdir(), 'sb-migrations-'));
    try {
      writeFileSync(join(dir, '001_ok.sql'), 'CREATE TABLE widgets (id int PRIMARY KEY);');
      writeFileSync(join(dir, '002_broken.sql'), 'CREATE TABLE gadgets (id int); SELECT no_such_function();');
      writeFileSync(join(dir, 'README.md'), 'not a migration');
      const err = await migrate(pool, log, dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect((err as SwitchboardError).code).toBe(ErrorCodes.MIGRATION_FAILED);
      expect((err as SwitchboardError).message).toContain('002_broken.sql');
      expect(await appliedVersions(pool)).toEqual(['001_ok.sql']);
      // The broken migration's first statement was rolled back with it.
      const g = await pool.query(`SELECT to_regclass('public.gadgets') AS t`);
      expect(g.rows[0].t).toBeNull();
      // Once fixed, the next start applies only what is missing.
      writeFileSync(join(dir, '002_broken.sql'), 'CREATE TABLE gadgets (id int);');
      expect(await migrate(pool, log, dir)).toEqual(['002_broken.sql']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await pool.end();
      await db.drop();
    }
  });
});

describe('inbox and outbox', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let broker: Broker;
  let prefix: string;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  /** Every message that reached the outbound exchange during this suite, in arrival order. */
  const received: amqplib.ConsumeMessage[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, log);
    await migrate(pool, log);
    prefix = uniqueName('sbtdb');
    broker = new Broker(
      {
        url: AMQP_URL,
        prefix,
        queueType: 'classic',
        partitions: 2,
        prefetch: 10,
        retryDelaysMs: [50, 100],
        maxAttempts: 3,
        publishTimeoutMs: 5_000,
      },
      log,
    );
    await broker.start();
    // What a connector would see: a queue bound to every outbound routing key.
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(queue, broker.names.outbound, 'out.#');
    await ch.consume(queue, (m) => m && received.push(m), { noAck: true });
  });

  afterAll(async () => {
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await broker?.close();
    await pool?.end();
    await db?.drop();
    if (prefix) await deleteBrokerPrefix(prefix, 2, 2);
  });

  function outboxMessage(messageId: string, routingKey = 'out.web.bot1') {
    return {
      exchange: broker.names.outbound,
      routingKey,
      messageId,
      payload: { id: messageId, text: `reply ${messageId}` },
      traceId: `trace-${messageId}`,
    };
  }

  function receivedIds(tag: string): string[] {
    return received.map((m) => String(m.properties.messageId)).filter((id) => id.startsWith(tag));
  }

  async function sentAt(messageId: string): Promise<Date | null | undefined> {
    const r = await pool.query<{ sent_at: Date | null }>('SELECT sent_at FROM outbox WHERE message_id = $1', [
      messageId,
    ]);
    return r.rows[0]?.sent_at;
  }

  it('claims an inbox id once: true, then false in a later transaction', async () => {
    const id = uniqueName('tg:bot1:');
    expect(await withTransaction(pool, (c) => claimInbox(c, id, 'trace-1'))).toBe(true);
    expect(await withTransaction(pool, (c) => claimInbox(c, id, 'trace-2'))).toBe(false);
    expect(await inboxHas(pool, id)).toBe(true);
    const r = await pool.query('SELECT trace_id FROM inbox WHERE message_id = $1', [id]);
    expect(r.rows).toEqual([{ trace_id: 'trace-1' }]);
  });

  it('forgets a claim whose transaction rolled back, so the redelivery can take effect', async () => {
    const id = uniqueName('tg:bot1:');
    await expect(
      withTransaction(pool, async (c) => {
        expect(await claimInbox(c, id, 'trace-1')).toBe(true);
        throw new Error('model call failed');
      }),
    ).rejects.toThrow('model call failed');
    expect(await inboxHas(pool, id)).toBe(false);
    expect(await withTransaction(pool, (c) => claimInbox(c, id, 'trace-1'))).toBe(true);
  });

  it('makes a concurrent second claim wait for the first and then lose', async () => {
    const id = uniqueName('tg:bot1:');
    const first = await pool.connect();
    const second = await pool.connect();
    try {
      await first.query('BEGIN');
      expect(await claimInbox(first, id, 'trace-1')).toBe(true);
      await second.query('BEGIN');
      const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const secondClaim = claimInbox(second, id, 'trace-2');
      // The second transaction is blocked on the first one's uncommitted row.
      await waitFor('the second claim to wait on a lock', async () => {
        const r = await pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
          [secondPid],
        );
        return (r.rowCount ?? 0) > 0;
      });
      await first.query('COMMIT');
      expect(await secondClaim).toBe(false);
      await second.query('COMMIT');
    } finally {
      first.release();
      second.release();
    }
  });

  it('publishes committed rows in id order after kick(), with message id and trace id, and marks them sent', async () => {
    const tag = uniqueName('order-');
    const ids = Array.from({ length: 20 }, (_, i) => `${tag}-${String(i).padStart(2, '0')}`);
    // Several transactions, as several turns would commit.
    for (let i = 0; i < ids.length; i += 5) {
      await withTransaction(pool, async (c) => {
        for (const id of ids.slice(i, i + 5)) await enqueueOutbox(c, outboxMessage(id));
      });
    }
    const relay = new OutboxRelay(pool, broker, log, { pollMs: 60_000, batchSize: 7 });
    try {
      relay.kick();
      await waitFor('all rows to arrive', () => receivedIds(tag).length >= ids.length);
      expect(receivedIds(tag)).toEqual(ids);
      const first = received.find((m) => m.properties.messageId === ids[0])!;
      expect(first.properties.headers?.[Headers.traceId]).toBe(`trace-${ids[0]}`);
      expect(first.properties.deliveryMode).toBe(2);
      expect(first.fields.routingKey).toBe('out.web.bot1');
      expect(JSON.parse(first.content.toString())).toEqual({ id: ids[0], text: `reply ${ids[0]}` });
      await waitFor('every row to be marked sent', async () => {
        const r = await pool.query(
          'SELECT count(*)::int AS n FROM outbox WHERE message_id LIKE $1 AND sent_at IS NOT NULL',
          [`${tag}%`],
        );
        return r.rows[0].n === ids.length;
      });
      // Nothing is published twice.
      await relay.flush();
      expect(receivedIds(tag)).toHaveLength(ids.length);
    } finally {
      await relay.stop();
    }
  });

  it('publishes a message enqueued twice under one message id only once', async () => {
    const id = uniqueName('dup-');
    await withTransaction(pool, (c) => enqueueOutbox(c, outboxMessage(id)));
    await withTransaction(pool, (c) => enqueueOutbox(c, { ...outboxMessage(id), payload: { other: true } }));
    const relay = new OutboxRelay(pool, broker, log, { pollMs: 60_000 });
    try {
      relay.kick();
      await waitFor('the row to arrive', () => receivedIds(id).length === 1);
      await relay.flush();
      expect(receivedIds(id)).toHaveLength(1);
      expect(
        JSON.parse(received.find((m) => m.properties.messageId === id)!.content.toString()),
      ).toMatchObject({ id });
    } finally {
      await relay.stop();
    }
  });

  it('never publishes a row whose transaction rolled back', async () => {
    const tag = uniqueName('rb-');
    await expect(
      withTransaction(pool, async (c) => {
        await enqueueOutbox(c, outboxMessage(`${tag}-rolled-back`));
        throw new Error('turn failed');
      }),
    ).rejects.toThrow('turn failed');
    await withTransaction(pool, (c) => enqueueOutbox(c, outboxMessage(`${tag}-committed`)));
    const relay = new OutboxRelay(pool, broker, log, { pollMs: 60_000 });
    try {
      relay.kick();
      await waitFor('the committed row to arrive', () => receivedIds(tag).includes(`${tag}-committed`));
      await relay.flush();
      expect(receivedIds(tag)).toEqual([`${tag}-committed`]);
      expect(await sentAt(`${tag}-rolled-back`)).toBeUndefined();
    } finally {
      await relay.stop();
    }
  });

  it('keeps a row the broker refused (nack) unsent with the error, and publishes it once the broker accepts', async () => {
    const id = uniqueName('nack-');
    const routingKey = `out.web.${id}`;
    // A full queue with reject-publish makes the broker nack every publish routed to it.
    const blocker = `${prefix}.blocker.${id}`;
    await ch.assertQueue(blocker, { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await ch.bindQueue(blocker, broker.names.outbound, routingKey);
    await withTransaction(pool, (c) => enqueueOutbox(c, outboxMessage(id, routingKey)));
    const relay = new OutboxRelay(pool, broker, log, { pollMs: 60_000 });
    try {
      relay.kick();
      const row = await waitFor('the failed attempt to be recorded', async () => {
        const r = await pool.query<{ sent_at: Date | null; attempts: number; last_error: string | null }>(
          'SELECT sent_at, attempts, last_error FROM outbox WHERE message_id = $1',
          [id],
        );
        return r.rows[0] && r.rows[0].attempts > 0 ? r.rows[0] : undefined;
      });
      expect(row.sent_at).toBeNull();
      expect(row.last_error).toMatch(/publish to .*outbound failed/);

      await ch.deleteQueue(blocker);
      relay.kick();
      await waitFor('the row to be marked sent', async () => (await sentAt(id)) instanceof Date);
      expect(receivedIds(id).length).toBeGreaterThanOrEqual(1);
    } finally {
      await relay.stop();
      await ch.deleteQueue(blocker).catch(() => {});
    }
  });

  it('publishes rows nobody kicked for on the poll timer', async () => {
    const relay = new OutboxRelay(pool, broker, log, { pollMs: 100 });
    relay.start();
    try {
      // start() drains once; wait for that pass so anything published later came from the timer.
      await relay.flush();
      const id = uniqueName('poll-');
      await withTransaction(pool, (c) => enqueueOutbox(c, outboxMessage(id)));
      await waitFor('the timer to publish the row', () => receivedIds(id).length === 1, 10_000);
      await waitFor('the row to be marked sent', async () => (await sentAt(id)) instanceof Date);
    } finally {
      await relay.stop();
    }
  });
});
