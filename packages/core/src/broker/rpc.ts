import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { z } from 'zod';
import { errorMessage, isSwitchboardError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { traceFields } from '../logger.ts';
import {
  TOOL_PROTOCOL_VERSION,
  type ToolErrorCode,
  type ToolInvoker,
  type ToolRequest,
  type ToolResult,
  toolRequestSchema,
  toolResultSchema,
} from '../tools.ts';
import type { Broker, ConsumerHandle, Delivery } from './broker.ts';
import { Headers, type TopologyOptions, workQueueArgs } from './topology.ts';

/**
 * The work queue of every tool call, `<prefix>.tools` (the tool-runner's). `<prefix>.tools.browser`
 * is the browser's renderer (tool-browser): the tool-runner's browser tool calls it, nobody else
 * (docs/threat-model/compose.md).
 */
export function toolQueueName(prefix: string, backend?: 'browser'): string {
  return backend === undefined ? `${prefix}.tools` : `${prefix}.tools.${backend}`;
}

/**
 * The exchanges of the request/reply protocol (declared with the topology). Requests and answers
 * never go through the nameless default exchange: publishing there reaches any queue by name, the
 * agents' included, so a broker user allowed it could forge inbound messages. Here a queue is
 * reachable only once bound, and each service's broker user may publish only on its side: callers
 * to requests, runners to replies (services/init-secrets/src/broker-users.ts). Render requests to
 * the browser have an exchange of their own, `render`, so that only the tool-runner's user may
 * publish them: a direct exchange's routing keys are not permission-checked.
 */
export function rpcExchanges(prefix: string): { requests: string; replies: string; render: string } {
  return {
    requests: `${prefix}.rpc.requests`,
    replies: `${prefix}.rpc.replies`,
    render: `${prefix}.rpc.render`,
  };
}

/** Absolute deadline of a tool request (epoch ms), so time spent queued counts against the budget. */
export const TOOL_DEADLINE_HEADER = 'x-sb-deadline';

async function declareToolQueue(
  ch: Channel,
  topo: TopologyOptions,
  queue = toolQueueName(topo.prefix),
  requests = rpcExchanges(topo.prefix).requests,
): Promise<void> {
  await ch.assertQueue(queue, { durable: true, arguments: workQueueArgs(topo) });
  // Parked requests can be replayed through the requeue exchange like any other work. Checked, not
  // declared: declaring needs the broker's configure right on it, which only the topology's owner
  // has (a runner's broker user may not delete or redefine a shared exchange).
  await ch.checkExchange(`${topo.prefix}.requeue`);
  await ch.bindQueue(queue, `${topo.prefix}.requeue`, queue);
  await ch.bindQueue(queue, requests, queue);
}

/** A result the caller builds itself: the request never produced one (timeout, broker down). */
export function toolFailure(id: string, code: ToolErrorCode, message: string, durationMs = 0): ToolResult {
  return {
    v: TOOL_PROTOCOL_VERSION,
    id,
    ok: false,
    output: message,
    truncated: false,
    error: { code, message },
    attachments: [],
    durationMs,
  };
}

export interface ToolRpcClientOptions {
  /**
   * How long past the request's own deadline the client keeps waiting, so the runner's answer for a
   * call it stopped at the deadline (with partial output) still arrives.
   */
  replyGraceMs?: number;
  /**
   * The work queue to call; default `<prefix>.tools`. Other request/reply services speaking the
   * same protocol (the agent-worker's skill runs on `<prefix>.skills`) pass theirs.
   */
  queue?: string;
  /** The exchange requests are published to; default `<prefix>.rpc.requests` (see rpcExchanges). */
  exchange?: string;
  /**
   * false: the work queue is not declared here; a caller whose broker user may only publish to it
   * (the tool-runner calling tool-browser) leaves that to the server.
   */
  declareQueue?: boolean;
}

interface Pending {
  resolve: (r: ToolResult) => void;
  timer: NodeJS.Timeout;
}

/**
 * Calls tools over RabbitMQ: publishes the request to `<prefix>.tools` with a correlation id and
 * this process's reply queue, and resolves with the runner's result. Never throws: a call that
 * cannot be made or is not answered in time resolves with `ok: false` and a code the model can read.
 */
export class ToolRpcClient implements ToolInvoker {
  /** Exclusive and auto-deleted: replies to a process that is gone have nowhere to pile up. */
  readonly replyQueue: string;
  /** The work queue every call goes to. */
  readonly queue: string;
  private readonly exchange: string;
  private readonly declareQueue: boolean;
  private readonly pending = new Map<string, Pending>();
  private handle: ConsumerHandle | undefined;
  private readonly graceMs: number;

  constructor(
    private readonly broker: Broker,
    private readonly topo: TopologyOptions,
    private readonly log: Logger,
    o: ToolRpcClientOptions = {},
  ) {
    this.graceMs = o.replyGraceMs ?? 1_000;
    this.queue = o.queue ?? toolQueueName(topo.prefix);
    this.exchange = o.exchange ?? rpcExchanges(topo.prefix).requests;
    this.declareQueue = o.declareQueue ?? true;
    this.replyQueue = `${this.queue}.reply.${randomUUID()}`;
  }

  async start(): Promise<void> {
    const { replyQueue, topo, queue, exchange, declareQueue } = this;
    // Through addSetup, so the queues are declared again after a reconnect, before the consumer
    // is re-registered; an exclusive queue dies with the connection that declared it.
    await this.broker.addSetup(async (ch: Channel) => {
      // Declared here too, so calls made before a runner started wait in their queue.
      if (declareQueue) await declareToolQueue(ch, topo, queue, exchange);
      await ch.assertQueue(replyQueue, {
        exclusive: true,
        autoDelete: true,
        durable: false,
        arguments: { 'x-queue-type': 'classic' },
      });
      await ch.bindQueue(replyQueue, rpcExchanges(topo.prefix).replies, replyQueue);
    });
    this.handle = await this.broker.consume(replyQueue, (d) => this.onReply(d), { prefetch: 256 });
  }

  async invoke(request: ToolRequest): Promise<ToolResult> {
    const started = Date.now();
    if (this.pending.has(request.id)) {
      return toolFailure(request.id, 'TOOL_FAILED', `tool call ${request.id} is already in progress`);
    }
    const deadline = started + request.timeoutMs;
    const answer = new Promise<ToolResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        const waited = Date.now() - started;
        resolve(
          toolFailure(
            request.id,
            'TOOL_TIMEOUT',
            `${request.tool} did not answer within ${request.timeoutMs} ms (the tool service may be busy or down)`,
            waited,
          ),
        );
      }, request.timeoutMs + this.graceMs);
      this.pending.set(request.id, { resolve, timer });
    });
    try {
      await this.broker.publish(this.exchange, this.queue, request, {
        messageId: request.id,
        traceId: request.caller.traceId,
        correlationId: request.id,
        replyTo: this.replyQueue,
        headers: { [TOOL_DEADLINE_HEADER]: deadline },
        // Not run after the caller gave up: the broker drops (quorum: parks) what waited too long.
        expiration: request.timeoutMs,
        timeoutMs: Math.min(request.timeoutMs, 15_000),
      });
    } catch (err) {
      this.settle(
        request.id,
        toolFailure(
          request.id,
          'TOOL_UNAVAILABLE',
          `the tool service could not be reached: ${errorMessage(err)}`,
          Date.now() - started,
        ),
      );
    }
    return answer;
  }

  /** Calls waiting for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Stops listening for replies; calls still waiting resolve with TOOL_UNAVAILABLE. */
  async close(): Promise<void> {
    await this.handle?.cancel().catch(() => {});
    for (const id of [...this.pending.keys()]) {
      this.settle(id, toolFailure(id, 'TOOL_UNAVAILABLE', 'the tool client is shutting down'));
    }
  }

  private settle(id: string, result: ToolResult): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private onReply(d: Delivery): void {
    d.ack();
    const id = d.properties.correlationId;
    if (!id || !this.pending.has(id)) {
      // A reply after the caller timed out: nothing waits for it any more.
      this.log.debug('late or unknown tool reply dropped', { labels: { correlation_id: id } });
      return;
    }
    let problem: string | undefined;
    try {
      const parsed = toolResultSchema.safeParse(d.json());
      if (parsed.success && parsed.data.id === id) {
        this.settle(id, parsed.data);
        return;
      }
      problem = parsed.success ? 'it answers another call' : z.prettifyError(parsed.error);
    } catch (err) {
      problem = errorMessage(err);
    }
    this.settle(
      id,
      toolFailure(id, 'TOOL_FAILED', `the tool service answered with an invalid result: ${problem}`),
    );
  }
}

export interface ToolCallContext {
  /** Epoch ms after which nobody waits for the answer any more. */
  deadline: number;
  /** Aborted at the deadline: tools stop their work when it fires. */
  signal: AbortSignal;
  /** True when the broker delivered this request before (a runner died with it in hand). */
  redelivered: boolean;
}

export type ToolHandler = (request: ToolRequest, ctx: ToolCallContext) => Promise<ToolResult>;

export interface ToolServerOptions {
  /** Calls run at once by this process (the consumer's prefetch). */
  concurrency: number;
  /**
   * Shutdown: how long in-flight calls may still finish. Calls not done by then are left
   * unacknowledged, so closing the connection returns them to the queue for another runner.
   */
  drainTimeoutMs?: number;
  /** The work queue to serve; default `<prefix>.tools` (see ToolRpcClientOptions.queue). */
  queue?: string;
  /** The exchange its requests come through; default `<prefix>.rpc.requests`. */
  exchange?: string;
}

export interface ToolServer {
  /** Calls running now. */
  readonly inFlight: number;
  /** Stops taking calls and waits up to drainTimeoutMs for those running. */
  stop(): Promise<void>;
}

/**
 * The tool-runner side: consumes `<prefix>.tools`, refuses (parks, with the reason) what is not a
 * valid request, runs the handler against the request's deadline and answers to its reply queue.
 * The request is acknowledged after the reply was confirmed, so a runner that dies mid-call leaves
 * it to another runner — which still honours the original deadline.
 */
export async function serveTools(
  broker: Broker,
  topo: TopologyOptions,
  handler: ToolHandler,
  log: Logger,
  o: ToolServerOptions,
): Promise<ToolServer> {
  const queue = o.queue ?? toolQueueName(topo.prefix);
  const exchange = o.exchange ?? rpcExchanges(topo.prefix).requests;
  await broker.addSetup((ch: Channel) => declareToolQueue(ch, topo, queue, exchange));
  const running = new Set<Promise<void>>();

  const onDelivery = async (d: Delivery): Promise<void> => {
    const { correlationId } = d.properties;
    const traceId = String(d.headers[Headers.traceId] ?? '');
    let request: ToolRequest;
    let replyTo: string;
    try {
      if (!d.properties.replyTo)
        throw new Error('invalid tool request: no reply queue (replyTo) to answer to');
      replyTo = d.properties.replyTo;
      const parsed = toolRequestSchema.safeParse(d.json());
      if (!parsed.success) throw new Error(`invalid tool request: ${z.prettifyError(parsed.error)}`);
      request = parsed.data;
    } catch (err) {
      const reason = errorMessage(err);
      log.warn('invalid tool request parked', {
        ...traceFields(traceId),
        error: { code: 'TOOL_BAD_ARGUMENTS', message: reason },
      });
      await d.park(err);
      // The caller is waiting: tell it now rather than let it run into its timeout.
      const to = d.properties.replyTo;
      if (to && correlationId) {
        await reply(to, correlationId, traceId, toolFailure(correlationId, 'TOOL_BAD_ARGUMENTS', reason));
      }
      return;
    }
    const headerDeadline = Number(d.headers[TOOL_DEADLINE_HEADER]);
    const deadline = Number.isFinite(headerDeadline)
      ? Math.min(headerDeadline, Date.now() + request.timeoutMs)
      : Date.now() + request.timeoutMs;
    if (deadline <= Date.now()) {
      // Whoever asked has stopped waiting; running it now would act on a stale decision.
      log.warn('expired tool request dropped', {
        ...traceFields(request.caller.traceId, {
          platform: request.caller.platform,
          conversation: request.caller.conversationId,
          tool: request.tool,
          call_id: request.id,
        }),
      });
      d.ack();
      return;
    }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error('deadline reached')), deadline - Date.now());
    let result: ToolResult;
    try {
      result = await handler(request, { deadline, signal: ac.signal, redelivered: d.redelivered });
    } catch (err) {
      result = toolFailure(request.id, 'TOOL_FAILED', `the tool failed: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
    }
    await reply(replyTo, correlationId ?? request.id, request.caller.traceId, result);
    d.ack();
  };

  const reply = async (replyTo: string, correlationId: string, traceId: string, result: ToolResult) => {
    try {
      await broker.publish(rpcExchanges(topo.prefix).replies, replyTo, result, {
        messageId: `${correlationId}:result`,
        traceId: traceId || correlationId,
        correlationId,
      });
    } catch (err) {
      // The work is done; running it again for a lost reply could repeat its effects.
      log.error('tool reply could not be published', {
        ...traceFields(traceId),
        error: { message: errorMessage(err), code: isSwitchboardError(err) ? err.code : undefined },
      });
    }
  };

  const handle = await broker.consume(
    queue,
    (d) => {
      // Also while stopping: what was delivered before the cancel took effect is ours to finish.
      const p = onDelivery(d).finally(() => running.delete(p));
      running.add(p);
      return p;
    },
    { prefetch: o.concurrency },
  );

  return {
    get inFlight() {
      return running.size;
    },
    async stop() {
      await handle.cancel().catch(() => {});
      const all = Promise.allSettled([...running]);
      const drainMs = o.drainTimeoutMs ?? 25_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), drainMs);
      });
      if ((await Promise.race([all, timedOut])) === 'timeout') {
        log.warn('tool calls still running at shutdown; their requests go back to the queue', {
          labels: { in_flight: String(running.size) },
        });
      }
      clearTimeout(timer);
    },
  };
}
