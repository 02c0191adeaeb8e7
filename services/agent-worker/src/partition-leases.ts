import { createHash } from 'node:crypto';
import { errorMessage, type Logger } from '@switchboard/core';
import pg from 'pg';

export interface LeaseCallbacks {
  /** Start consuming the partition; called only while this worker holds its lease. */
  acquire(partition: number): Promise<void>;
  /** Stop consuming and finish every delivery in hand; the lease is released afterwards. */
  release(partition: number): Promise<void>;
}

/**
 * Splits the inbound partitions fairly among live workers with PostgreSQL session advisory locks.
 * A worker consumes a partition only while it holds that partition's lock, and gives a partition up
 * only after finishing the deliveries it holds from it, so a conversation's turns never run in two
 * workers at once and keep their order across a hand-over. A worker that dies loses its session, and
 * with it its locks, at the same moment the broker requeues its unacknowledged messages.
 * Live workers are counted by the application_name of these lease sessions.
 */
export class PartitionLeases {
  private client: pg.Client | undefined;
  private readonly held = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private readonly ns: number;
  private readonly appName: string;
  private readonly order: number[];

  constructor(
    private readonly o: {
      databaseUrl: string;
      prefix: string;
      partitions: number;
      intervalMs: number;
      workerId: string;
      log: Logger;
      callbacks: LeaseCallbacks;
      onChange?: (held: number) => void;
    },
  ) {
    this.ns = createHash('sha1').update(`switchboard-partitions:${o.prefix}`).digest().readInt32BE(0);
    this.appName = `sb-lease:${o.prefix}`.slice(0, 63);
    // Each worker tries partitions from its own starting point so simultaneous starts spread out.
    const start = createHash('sha1').update(o.workerId).digest().readUInt32BE(0) % o.partitions;
    this.order = Array.from({ length: o.partitions }, (_, i) => (start + i) % o.partitions);
  }

  get heldPartitions(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
  }

  /** One rebalance pass; passes never overlap. */
  tick(): Promise<void> {
    if (this.ticking || this.stopped) return this.ticking ?? Promise.resolve();
    this.ticking = this.rebalance()
      .catch(async (err) => {
        this.o.log.warn('partition lease pass failed', { error: { message: errorMessage(err) } });
        await this.dropConnection();
      })
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ connectionString: this.o.databaseUrl, application_name: this.appName });
    client.on('error', (err) => {
      this.o.log.warn('lease session lost; giving up partitions', { error: { message: errorMessage(err) } });
      void this.dropConnection();
    });
    await client.connect();
    this.client = client;
    return client;
  }

  /** The locks died with the session: stop consuming at once; others may already own the partitions. */
  private async dropConnection(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    const lost = [...this.held];
    this.held.clear();
    this.o.onChange?.(0);
    await Promise.all(lost.map((p) => this.o.callbacks.release(p).catch(() => {})));
    await c?.end().catch(() => {});
  }

  private async rebalance(): Promise<void> {
    const c = await this.connect();
    const live = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
      [this.appName],
    );
    const workers = Math.max(1, Number(live.rows[0]?.n ?? 1));
    const target = Math.ceil(this.o.partitions / workers);

    while (this.held.size > target && !this.stopped) {
      const p = Math.max(...this.held);
      await this.o.callbacks.release(p);
      this.held.delete(p);
      await c.query('SELECT pg_advisory_unlock($1, $2)', [this.ns, p]);
      this.o.log.info('partition released for rebalancing', {
        labels: { partition: String(p), workers: String(workers) },
      });
    }
    for (const p of this.order) {
      if (this.held.size >= target || this.stopped) break;
      if (this.held.has(p)) continue;
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [this.ns, p]);
      if (!r.rows[0]?.ok) continue;
      this.held.add(p);
      try {
        await this.o.callbacks.acquire(p);
      } catch (err) {
        this.held.delete(p);
        await c.query('SELECT pg_advisory_unlock($1, $2)', [this.ns, p]);
        throw err;
      }
    }
    this.o.onChange?.(this.held.size);
  }

  /**
   * Stops consuming every partition and finishes the turns in hand, but keeps the locks: they are
   * released by {@link close}, after the broker connection closed and returned what was not started.
   * Releasing earlier would let the next owner take newer messages of a conversation first.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.ticking) await this.ticking;
    await Promise.all([...this.held].map((p) => this.o.callbacks.release(p).catch(() => {})));
  }

  /** Ends the lease session, which releases every lock at once. */
  async close(): Promise<void> {
    const c = this.client;
    this.held.clear();
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}
