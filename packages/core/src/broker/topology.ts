import type { Channel } from 'amqplib';

export interface TopologyOptions {
  prefix: string;
  queueType: 'quorum' | 'classic';
  partitions: number;
  retryDelaysMs: number[];
  maxAttempts: number;
}

/** Header names we set on messages; `x-sb-` keeps them apart from RabbitMQ's own `x-` headers. */
export const Headers = {
  traceId: 'x-sb-trace-id',
  attempts: 'x-sb-attempts',
  // NOTE: not `x-`: a headers exchange ignores binding arguments starting with `x-` under
  // `x-match: all`, which would bind every tier to every retry.
  retryTier: 'sb-retry-tier',
  originQueue: 'x-sb-origin-queue',
  parkReason: 'x-sb-parking-reason',
  parkCode: 'x-sb-error-code',
  parkedAt: 'x-sb-parked-at',
  partition: 'x-sb-partition',
} as const;

/** Names of every exchange and queue, in one place, derived from the prefix. */
export function topologyNames(prefix: string, partitions: number) {
  return {
    inbound: `${prefix}.inbound`,
    outbound: `${prefix}.outbound`,
    unrouted: `${prefix}.unrouted`,
    retry: `${prefix}.retry`,
    requeue: `${prefix}.requeue`,
    parking: `${prefix}.parking`,
    rpcRequests: `${prefix}.rpc.requests`,
    rpcReplies: `${prefix}.rpc.replies`,
    rpcRender: `${prefix}.rpc.render`,
    retryQueue: (tier: number) => `${prefix}.retry.${tier}`,
    agentQueue: (partition: number) => `${prefix}.agent.in.${partition}`,
    agentQueues: Array.from({ length: partitions }, (_, p) => `${prefix}.agent.in.${p}`),
    inboundKey: (partition: number, platform: string) => `in.${partition}.${platform}`,
    outboundKey: (platform: string, botId: string) => `out.${platform}.${botId.replaceAll('.', '_')}`,
  };
}
export type TopologyNames = ReturnType<typeof topologyNames>;

/** Arguments of a work queue: quorum unless the operator chose classic for latency. */
export function workQueueArgs(opts: TopologyOptions, extra: Record<string, unknown> = {}) {
  const args: Record<string, unknown> = { ...extra };
  if (opts.queueType === 'quorum') {
    args['x-queue-type'] = 'quorum';
    // A message that kills its consumer (crash, kill -9) is redelivered without passing our retry
    // logic; the broker's own limit parks it instead of letting it crash-loop the workers.
    args['x-delivery-limit'] = opts.maxAttempts * 2;
    args['x-dead-letter-exchange'] = `${opts.prefix}.parking`;
    // at-least-once dead-lettering needs reject-publish overflow; it keeps the parked copy until confirmed.
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  } else {
    args['x-queue-type'] = 'classic';
  }
  return args;
}

/**
 * Declares the whole topology. Idempotent, and run again on every reconnect, so a broker that lost
 * its definitions (a fresh node) is rebuilt before anything is published or consumed.
 */
export async function declareTopology(ch: Channel, opts: TopologyOptions): Promise<void> {
  const n = topologyNames(opts.prefix, opts.partitions);
  await ch.assertExchange(n.inbound, 'topic', { durable: true });
  await ch.assertExchange(n.unrouted, 'fanout', { durable: true });
  // Replies nobody consumes (a connector not running) are kept in `unrouted`, not dropped.
  await ch.assertExchange(n.outbound, 'topic', { durable: true, alternateExchange: n.unrouted });
  await ch.assertExchange(n.retry, 'headers', { durable: true });
  await ch.assertExchange(n.requeue, 'direct', { durable: true });
  await ch.assertExchange(n.parking, 'fanout', { durable: true });
  // The tool and skill RPC's (rpc.ts): queues are reached through these, never by name.
  await ch.assertExchange(n.rpcRequests, 'direct', { durable: true });
  await ch.assertExchange(n.rpcReplies, 'direct', { durable: true });
  await ch.assertExchange(n.rpcRender, 'direct', { durable: true });

  await ch.assertQueue(n.unrouted, { durable: true, arguments: { 'x-queue-type': opts.queueType } });
  await ch.bindQueue(n.unrouted, n.unrouted, '');
  await ch.assertQueue(n.parking, { durable: true, arguments: { 'x-queue-type': opts.queueType } });
  await ch.bindQueue(n.parking, n.parking, '');

  // One delay queue per tier: a single queue with per-message TTLs would hold short delays behind
  // long ones, since RabbitMQ only expires messages at the head.
  for (const [tier, delay] of opts.retryDelaysMs.entries()) {
    const q = n.retryQueue(tier);
    await ch.assertQueue(q, {
      durable: true,
      arguments: { 'x-message-ttl': delay, 'x-dead-letter-exchange': n.requeue, 'x-queue-type': 'classic' },
    });
    await ch.bindQueue(q, n.retry, '', { 'x-match': 'all', [Headers.retryTier]: tier });
  }

  for (let p = 0; p < opts.partitions; p++) {
    const q = n.agentQueue(p);
    await ch.assertQueue(q, {
      durable: true,
      arguments: workQueueArgs(opts, { 'x-single-active-consumer': true }),
    });
    await ch.bindQueue(q, n.inbound, `in.${p}.#`);
    await ch.bindQueue(q, n.requeue, q);
  }
}

/**
 * What a service that may not declare does instead (BROKER_DECLARE_TOPOLOGY=false): a passive
 * check, which needs no permission, so a missing exchange is a clear 404 at start rather than a
 * publish that vanishes. The exchanges come from the broker's definitions (init-secrets).
 */
export async function checkExchanges(ch: Channel, prefix: string): Promise<void> {
  for (const x of exchangeNames(prefix)) await ch.checkExchange(x);
}

/** Every exchange of the topology under `prefix`: what a service checks, and what a test removes. */
export function exchangeNames(prefix: string): string[] {
  return [
    'inbound',
    'outbound',
    'unrouted',
    'retry',
    'requeue',
    'parking',
    'rpc.requests',
    'rpc.replies',
    'rpc.render',
  ].map((x) => `${prefix}.${x}`);
}
