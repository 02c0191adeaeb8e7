import { randomBytes } from 'node:crypto';
import { exchangeNames } from '@switchboard/core';
import amqplib from 'amqplib';
import pg from 'pg';

/** Where the shared test services are; scripts/test.sh makes sure they run and creates the role. */
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const ADMIN_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://sbtest:sbtest@127.0.0.1:5432/postgres';

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** A fresh database per suite, so suites never see each other's rows. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName('sb_t_');
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Deletes every queue and exchange a suite declared under its prefix. */
export async function deleteBrokerPrefix(
  prefix: string,
  partitions: number,
  retryTiers = 3,
  extraQueues: string[] = [],
): Promise<void> {
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  const queues = [
    ...Array.from({ length: partitions }, (_, p) => `${prefix}.agent.in.${p}`),
    ...Array.from({ length: retryTiers }, (_, t) => `${prefix}.retry.${t}`),
    `${prefix}.parking`,
    `${prefix}.unrouted`,
    ...extraQueues,
  ];
  for (const q of queues) await ch.deleteQueue(q).catch(() => {});
  for (const x of exchangeNames(prefix)) await ch.deleteExchange(x).catch(() => {});
  await ch.close().catch(() => {});
  await conn.close().catch(() => {});
}

/** Polls until `check` returns a truthy value, or fails after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      lastErr = err;
      if ((err as Error).message?.startsWith('socket closed')) break;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`,
  );
}
