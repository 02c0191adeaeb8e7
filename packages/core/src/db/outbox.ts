import type pg from 'pg';
import type { Broker } from '../broker/broker.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';

export interface OutboxMessage {
  exchange: string;
  routingKey: string;
  messageId: string;
  payload: unknown;
  traceId: string;
}

/** Writes a message to the outbox inside the caller's transaction. A repeated message id is a no-op. */
export async function enqueueOutbox(client: pg.PoolClient, m: OutboxMessage): Promise<void> {
  await client.query(
    `INSERT INTO outbox (exchange, routing_key, message_id, payload, trace_id)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING`,
    [m.exchange, m.routingKey, m.messageId, JSON.stringify(m.payload), m.traceId],
  );
}

interface OutboxRow {
  id: string;
  exchange: string;
  routing_key: string;
  message_id: string;
  payload: unknown;
  trace_id: string;
}

/**
 * Publishes committed outbox rows, in id order, and marks them sent only after the broker confirmed.
 * `kick()` right after a commit publishes at once; the timer only recovers rows left by a crash or a
 * broker outage. Rows are claimed with SKIP LOCKED so several relays never publish the same row at once.
 */
export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly opts: { pollMs: number; batchSize?: number; onPublished?: (n: number) => void },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Coalesces: many kicks during one drain cause exactly one more drain. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when everything committed so far has been published (or an attempt failed). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    await this.drainOnce();
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        while ((await this.drainOnce()) === (this.opts.batchSize ?? 256) && !this.stopped) {}
      } catch (err) {
        this.log.warn('outbox relay pass failed; rows stay queued', {
          error: { message: errorMessage(err) },
        });
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async drainOnce(): Promise<number> {
    const batch = this.opts.batchSize ?? 256;
    const client = await this.pool.connect();
    let rows: OutboxRow[] = [];
    try {
      await client.query('BEGIN');
      rows = (
        await client.query<OutboxRow>(
          `SELECT id, exchange, routing_key, message_id, payload, trace_id FROM outbox
           WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [batch],
        )
      ).rows;
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      // One confirm channel keeps publish order, so firing them together preserves row order.
      await Promise.all(
        rows.map((r) =>
          this.broker.publish(r.exchange, r.routing_key, r.payload, {
            messageId: r.message_id,
            traceId: r.trace_id,
          }),
        ),
      );
      await client.query(
        'UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])',
        [rows.map((r) => r.id)],
      );
      await client.query('COMMIT');
      this.opts.onPublished?.(rows.length);
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (rows.length > 0) {
        await this.pool
          .query('UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])', [
            rows.map((r) => r.id),
            errorMessage(err).slice(0, 500),
          ])
          .catch(() => {});
      }
      throw err;
    } finally {
      client.release();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Let the current pass finish so a confirmed publish is also marked sent.
    while (this.running) await this.running;
    this.stopped = true;
  }
}
