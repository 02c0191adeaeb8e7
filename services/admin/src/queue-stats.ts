import { errorMessage, topologyNames } from '@switchboard/core';
import { request } from 'undici';
import type { AmqpLink } from './amqp-link.ts';

export interface QueueFigures {
  name: string;
  messages: number;
  ready: number;
  /** null when only AMQP was asked: it does not tell unacknowledged messages apart. */
  unacked: number | null;
  consumers: number;
}

export interface QueueStatsOptions {
  link: AmqpLink;
  prefix: string;
  partitions: number;
  retryTiers: number;
  management?: { url: string; user: string; password: string; timeoutMs: number };
}

/**
 * Queue depths for the status and overview pages: from RabbitMQ's management API when configured
 * (every queue of our prefix, unacked included), otherwise from AMQP's queue.declare-passive for
 * the queues the topology names (connectors' outbound queues are then not listed).
 */
export class QueueStats {
  constructor(private readonly o: QueueStatsOptions) {}

  async list(): Promise<{ queues: QueueFigures[]; source: 'management' | 'amqp'; error?: string }> {
    if (this.o.management) {
      try {
        return { queues: await this.fromManagement(this.o.management), source: 'management' };
      } catch (err) {
        const amqp = await this.fromAmqp();
        return { queues: amqp, source: 'amqp', error: `management API: ${errorMessage(err)}` };
      }
    }
    return { queues: await this.fromAmqp(), source: 'amqp' };
  }

  private async fromManagement(m: NonNullable<QueueStatsOptions['management']>): Promise<QueueFigures[]> {
    const url = managementApiUrl(m.url, 'api/queues');
    url.searchParams.set('columns', 'name,messages,messages_ready,messages_unacknowledged,consumers');
    const res = await request(url, {
      headers: { authorization: `Basic ${Buffer.from(`${m.user}:${m.password}`).toString('base64')}` },
      headersTimeout: m.timeoutMs,
      bodyTimeout: m.timeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`HTTP ${res.statusCode}`);
    }
    const all = (await res.body.json()) as Array<Record<string, unknown>>;
    return all
      .filter((q) => String(q.name).startsWith(`${this.o.prefix}.`))
      .map((q) => ({
        name: String(q.name),
        messages: Number(q.messages ?? 0),
        ready: Number(q.messages_ready ?? 0),
        unacked: Number(q.messages_unacknowledged ?? 0),
        consumers: Number(q.consumers ?? 0),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private async fromAmqp(): Promise<QueueFigures[]> {
    const n = topologyNames(this.o.prefix, this.o.partitions);
    const names = [
      ...n.agentQueues,
      ...Array.from({ length: this.o.retryTiers }, (_, t) => n.retryQueue(t)),
      n.parking,
      n.unrouted,
    ];
    const out: QueueFigures[] = [];
    // One channel per queue: a missing queue closes the channel it was asked on.
    for (const name of names) {
      try {
        const q = await this.o.link.withChannel((ch) => ch.checkQueue(name));
        out.push({
          name,
          messages: q.messageCount,
          ready: q.messageCount,
          unacked: null,
          consumers: q.consumerCount,
        });
      } catch {
        // Not declared (yet): nothing to show.
      }
    }
    return out;
  }
}

/**
 * An API path under the management URL, keeping its path prefix: behind nginx the UI and its API
 * live under /rabbitmq (management.path_prefix), so `/api/...` from the host root would miss.
 */
export function managementApiUrl(base: string, path: string): URL {
  return new URL(path.replace(/^\/+/, ''), base.endsWith('/') ? base : `${base}/`);
}
