import { declareLogExchange, errorMessage, type Logger } from '@switchboard/core';
import amqplib, { type ChannelModel } from 'amqplib';

export interface LogLine {
  /** Arrival order in this process, for SSE ids and "since". */
  seq: number;
  service: string;
  level: string;
  line: Record<string, unknown>;
}

export interface LogFilter {
  level?: string;
  service?: string;
  q?: string;
}

const LEVELS = ['error', 'warn', 'info', 'debug'];

/** `level=warn` means warn and worse, the way an operator reads a threshold. */
export function matches(l: LogLine, f: LogFilter): boolean {
  if (f.level) {
    const want = LEVELS.indexOf(f.level);
    const got = LEVELS.indexOf(l.level);
    if (want >= 0 && (got < 0 || got > want)) return false;
  }
  if (f.service && l.service !== f.service) return false;
  if (f.q && !JSON.stringify(l.line).toLowerCase().includes(f.q.toLowerCase())) return false;
  return true;
}

/**
 * The live end of the log fan-in: an exclusive, auto-delete, length-capped queue bound to
 * `<prefix>.logs`, feeding a ring buffer and any open SSE streams. What arrives while nobody reads
 * is capped by the broker (x-max-length drops the oldest), never piled up.
 */
export class LogTail {
  private readonly ring: LogLine[] = [];
  private seq = 0;
  private conn: ChannelModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly listeners = new Set<(l: LogLine) => void>();

  constructor(
    private readonly o: { url: string; prefix: string; capacity: number; log: Logger; maxQueued?: number },
  ) {}

  get connected(): boolean {
    return this.conn !== undefined;
  }

  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      this.o.log.warn('live logs: cannot bind to the log exchange; retrying', {
        error: { message: errorMessage(err) },
      });
      this.retryLater();
    }
  }

  private async connect(): Promise<void> {
    const conn = await amqplib.connect(this.o.url, {
      clientProperties: { connection_name: 'admin-log-tail' },
    });
    conn.on('error', () => {});
    conn.on('close', () => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      if (!this.stopped) this.retryLater();
    });
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      const exchange = await declareLogExchange(ch, this.o.prefix);
      const { queue } = await ch.assertQueue('', {
        exclusive: true,
        autoDelete: true,
        durable: false,
        arguments: { 'x-max-length': this.o.maxQueued ?? 10_000, 'x-queue-type': 'classic' },
      });
      await ch.bindQueue(queue, exchange, '#');
      await ch.consume(
        queue,
        (msg) => {
          if (!msg) return;
          const [service = '?', level = 'info'] = msg.fields.routingKey.split('.');
          try {
            const line = JSON.parse(msg.content.toString('utf8')) as Record<string, unknown>;
            this.add({ seq: 0, service, level, line });
          } catch {
            // Not a log line; nothing to show.
          }
        },
        { noAck: true },
      );
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    if (this.stopped) {
      await conn.close().catch(() => {});
      return;
    }
    this.conn = conn;
  }

  private add(l: LogLine): void {
    l.seq = ++this.seq;
    this.ring.push(l);
    if (this.ring.length > this.o.capacity) this.ring.shift();
    for (const fn of this.listeners) fn(l);
  }

  private retryLater(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, 2_000);
    this.timer.unref();
  }

  /** The newest `limit` lines matching, oldest first. */
  recent(f: LogFilter, limit: number): LogLine[] {
    const out: LogLine[] = [];
    for (let i = this.ring.length - 1; i >= 0 && out.length < limit; i--) {
      const l = this.ring[i]!;
      if (matches(l, f)) out.push(l);
    }
    return out.reverse();
  }

  subscribe(fn: (l: LogLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    const c = this.conn;
    this.conn = undefined;
    await c?.close().catch(() => {});
  }
}
