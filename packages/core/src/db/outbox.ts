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

const MARK_WINDOW_MS = 20;

interface OutboxRow {
  id: string;
  exchange: string;
  routing_key: string;
  message_id: string;
  payload: unknown;
  trace_id: string;
}

/**
 * Publishes committed outbox rows and marks them sent only after the broker confirmed.
 *
 * The hot path is {@link publishCommitted}: the process that committed a row publishes it at once
 * and marks it sent in a batched update. The timer is the recovery path, for rows a crash or a
 * broker outage left behind: it claims rows older than `recoverAfterMs` in id order with
 * SKIP LOCKED, so several relays never publish the same row at once. `kick()` runs that pass now,
 * for every unsent row whatever its age.
 */
export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  private toMark: string[] = [];
  private marking: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly opts: {
      pollMs: number;
      batchSize?: number;
      /** Rows younger than this are left to the process that committed them. */
      recoverAfterMs?: number;
      onPublished?: (n: number) => void;
    },
  ) {}

  /**
   * Publishes one row its caller has just committed. Never throws: a row that could not be
   * published stays unsent and the recovery pass publishes it later.
   */
  async publishCommitted(id: string, m: OutboxMessage): Promise<void> {
    const p = this.broker
      .publish(m.exchange, m.routingKey, m.payload, { messageId: m.messageId, traceId: m.traceId })
      .then(
        () => {
          this.opts.onPublished?.(1);
          this.markSent(id);
        },
        (err) => {
          this.log.warn('reply not published yet; the outbox relay will retry it', {
            trace: { id: m.traceId },
            error: { message: errorMessage(err) },
          });
        },
      );
    this.inFlight.add(p);
    try {
      await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  /** Coalesces the `sent_at` updates of everything confirmed meanwhile into one statement. */
  private markSent(id: string): void {
    this.toMark.push(id);
    if (this.marking) return;
    // A short window gathers the confirms of many turns into one UPDATE: each statement costs a
    // round trip, and rows stay safe meanwhile (unsent rows are only republished after recoverAfterMs).
    this.marking = new Promise<void>((resolve) => setTimeout(resolve, MARK_WINDOW_MS)).then(async () => {
      while (this.toMark.length > 0) {
        const ids = this.toMark;
        this.toMark = [];
        await this.pool
          .query('UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])', [
            ids,
          ])
          .catch((err) =>
            // Left unsent: the recovery pass publishes these again (consumers drop repeated ids).
            this.log.warn('could not mark outbox rows sent', { error: { message: errorMessage(err) } }),
          );
      }
      this.marking = undefined;
    });
  }

  start(): void {
    this.timer = setInterval(() => this.kick(this.opts.recoverAfterMs ?? 5_000), this.opts.pollMs);
    this.timer.unref();
    this.kick(this.opts.recoverAfterMs ?? 5_000);
  }

  /** Publishes unsent rows older than `minAgeMs` now. Coalesces: kicks during a pass cause one more. */
  kick(minAgeMs = 0): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop(minAgeMs).finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when this process's publishes are confirmed and marked, and the recovery pass ran. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    while (this.marking) await this.marking;
    while (this.running) await this.running;
    await this.drainOnce(this.opts.recoverAfterMs ?? 5_000);
  }

  private async loop(minAgeMs: number): Promise<void> {
    do {
      this.again = false;
      try {
        while ((await this.drainOnce(minAgeMs)) === (this.opts.batchSize ?? 256) && !this.stopped) {}
      } catch (err) {
        this.log.warn('outbox relay pass failed; rows stay queued', {
          error: { message: errorMessage(err) },
        });
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async drainOnce(minAgeMs: number): Promise<number> {
    const batch = this.opts.batchSize ?? 256;
    const client = await this.pool.connect();
    let rows: OutboxRow[] = [];
    try {
      await client.query('BEGIN');
      rows = (
        await client.query<OutboxRow>(
          `SELECT id, exchange, routing_key, message_id, payload, trace_id FROM outbox
           WHERE sent_at IS NULL AND created_at <= now() - make_interval(secs => $2::float8 / 1000)
           ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [batch, minAgeMs],
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
    await Promise.allSettled([...this.inFlight]);
    while (this.marking) await this.marking;
    // Let the current pass finish so a confirmed publish is also marked sent.
    while (this.running) await this.running;
    this.stopped = true;
  }
}
