import { execFileSync } from 'node:child_process';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteBrokerPrefix, uniqueName, waitFor } from '../../../../test/support/infra.ts';
import { createLogger } from '../logger.ts';
import { TOOL_PROTOCOL_VERSION, type ToolRequest, type ToolResult } from '../tools.ts';
import { Broker, type BrokerOptions } from './broker.ts';
import {
  serveTools,
  TOOL_DEADLINE_HEADER,
  type ToolCallContext,
  type ToolHandler,
  ToolRpcClient,
  type ToolServer,
  toolFailure,
  toolQueueName,
} from './rpc.ts';
import { Headers } from './topology.ts';

const log = createLogger('rpc-test', 'error');

function request(over: Partial<ToolRequest> = {}): ToolRequest {
  const id = uniqueName('call-');
  return {
    v: TOOL_PROTOCOL_VERSION,
    id,
    tool: 'echo',
    arguments: { text: id },
    caller: {
      platform: 'web',
      botId: 'web',
      conversationId: 'c1',
      userId: 'u1',
      messageId: `m-${id}`,
      traceId: `t-${id}`,
    },
    allowedTools: ['echo'],
    timeoutMs: 5_000,
    ...over,
  };
}

const ok = (r: ToolRequest, output: string): ToolResult => ({
  v: TOOL_PROTOCOL_VERSION,
  id: r.id,
  ok: true,
  output,
  truncated: false,
  attachments: [],
  durationMs: 1,
});

/** Closes one named client connection on the broker side, as a network cut or a broker restart would. */
function dropConnection(name: string): void {
  const lines = execFileSync(
    'rabbitmqctl',
    ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties'],
    {
      encoding: 'utf8',
    },
  ).split('\n');
  const line = lines.find((l) => l.includes(`{"connection_name","${name}"}`));
  if (!line) throw new Error(`no connection named ${name}`);
  execFileSync('rabbitmqctl', ['close_connection', line.split('\t')[0]!, 'test: connection cut'], {
    stdio: 'ignore',
  });
}

/** Consumers of a queue as the broker lists them (a quorum queue's declare-ok count lags behind). */
function consumersOf(queue: string): number {
  return execFileSync('rabbitmqctl', ['list_consumers', '-q', '--no-table-headers', 'queue_name'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter((l) => l.trim() === queue).length;
}

describe('tool RPC over RabbitMQ (ToolRpcClient and serveTools)', () => {
  let prefix: string;
  let opts: BrokerOptions;
  let clientBroker: Broker;
  let serverBroker: Broker;
  let client: ToolRpcClient;
  let server: ToolServer;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  /** What the server sees; each test sets its own behaviour. */
  let behave: ToolHandler;
  const seen: Array<{ request: ToolRequest; ctx: ToolCallContext }> = [];
  let running = 0;
  let maxRunning = 0;

  beforeAll(async () => {
    prefix = uniqueName('sbtrpc');
    opts = {
      url: AMQP_URL,
      prefix,
      queueType: 'quorum',
      partitions: 1,
      prefetch: 10,
      retryDelaysMs: [50],
      maxAttempts: 2,
    };
    serverBroker = new Broker({ ...opts, connectionName: `${prefix}-server` }, log);
    await serverBroker.start();
    server = await serveTools(
      serverBroker,
      opts,
      async (req, ctx) => {
        seen.push({ request: req, ctx });
        running++;
        maxRunning = Math.max(maxRunning, running);
        try {
          return await behave(req, ctx);
        } finally {
          running--;
        }
      },
      log,
      { concurrency: 3, drainTimeoutMs: 5_000 },
    );
    clientBroker = new Broker({ ...opts, connectionName: `${prefix}-client` }, log);
    await clientBroker.start();
    client = new ToolRpcClient(clientBroker, opts, log, { replyGraceMs: 200 });
    await client.start();
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    ch.on('error', () => {});
  });

  afterAll(async () => {
    await server?.stop();
    await client?.close();
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await clientBroker?.close();
    await serverBroker?.close();
    if (prefix)
      await deleteBrokerPrefix(prefix, 1, 1, [toolQueueName(prefix), toolQueueName(prefix, 'browser')]);
  });

  it('calls a tool and returns its result, with the deadline and correlation on the wire', async () => {
    behave = async (r) => ok(r, `echo: ${String(r.arguments.text)}`);
    const req = request();
    const before = Date.now();
    const res = await client.invoke(req);
    expect(res).toEqual(ok(req, `echo: ${req.id}`));
    const call = seen.find((s) => s.request.id === req.id)!;
    expect(call.request).toEqual(req);
    expect(call.ctx.redelivered).toBe(false);
    expect(call.ctx.deadline).toBeGreaterThanOrEqual(before + req.timeoutMs);
    expect(call.ctx.deadline).toBeLessThanOrEqual(Date.now() + req.timeoutMs);
    // The tool queue is a durable quorum queue, as the topology's work queues are.
    const declared = await ch.checkQueue(toolQueueName(prefix));
    expect(declared.queue).toBe(`${prefix}.tools`);
    expect(client.inFlight).toBe(0);
  });

  it('matches answers to calls by correlation id while several run at once, within the concurrency', async () => {
    maxRunning = 0;
    behave = async (r) => {
      // Later calls finish first, so answers come back out of order.
      await new Promise((res) => setTimeout(res, 200 - Number(r.arguments.n) * 10));
      return ok(r, `n=${String(r.arguments.n)}`);
    };
    const reqs = Array.from({ length: 12 }, (_, n) => request({ arguments: { n } }));
    const results = await Promise.all(reqs.map((r) => client.invoke(r)));
    results.forEach((res, n) => {
      expect(res.id).toBe(reqs[n]!.id);
      expect(res.output).toBe(`n=${n}`);
    });
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBeGreaterThan(1);
  });

  it('aborts the handler at the deadline; the runner answers before the caller gives up', async () => {
    behave = (r, ctx) =>
      new Promise((resolve) =>
        ctx.signal.addEventListener('abort', () =>
          resolve(toolFailure(r.id, 'TOOL_TIMEOUT', 'stopped at the deadline', 300)),
        ),
      );
    const started = Date.now();
    const res = await client.invoke(request({ timeoutMs: 300 }));
    expect(res.error).toEqual({ code: 'TOOL_TIMEOUT', message: 'stopped at the deadline' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(300 + 200);
  });

  it('times out without throwing when nobody answers, and drops the late answer', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    behave = async (r) => {
      await released; // ignores its deadline, as a stuck tool would
      return ok(r, 'too late');
    };
    const started = Date.now();
    const req = request({ timeoutMs: 200 });
    const res = await client.invoke(req);
    expect(res).toMatchObject({
      id: req.id,
      ok: false,
      error: {
        code: 'TOOL_TIMEOUT',
        message: 'echo did not answer within 200 ms (the tool service may be busy or down)',
      },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(client.inFlight).toBe(0);
    release();
    await waitFor('the stuck call to finish', () => server.inFlight === 0);
    // The late reply changed nothing, and the client keeps working.
    behave = async (r) => ok(r, 'fine');
    expect((await client.invoke(request())).output).toBe('fine');
  });

  it('parks an invalid request with the reason and tells the waiting caller at once', async () => {
    const bad = request({ tool: '' });
    const started = Date.now();
    const res = await client.invoke(bad);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.ok).toBe(false);
    expect(res.error?.code).toBe('TOOL_BAD_ARGUMENTS');
    expect(res.error?.message).toMatch(/^invalid tool request: .*tool/s);
    const parked = await waitFor('the parked request', async () => {
      const m = await ch.get(`${prefix}.parking`, { noAck: true });
      return m !== false && m.properties.messageId === bad.id ? m : undefined;
    });
    const h = parked.properties.headers ?? {};
    expect(String(h[Headers.parkReason])).toMatch(/^invalid tool request/);
    expect(h[Headers.originQueue]).toBe(toolQueueName(prefix));
    expect(JSON.parse(parked.content.toString())).toEqual(bad);
    expect(seen.some((s) => s.request.id === bad.id)).toBe(false);
  });

  it('parks a request that names no reply queue, and never runs it', async () => {
    const req = request();
    await clientBroker.publish('', toolQueueName(prefix), req, { messageId: req.id, traceId: 't' });
    const parked = await waitFor('the parked request', async () => {
      const m = await ch.get(`${prefix}.parking`, { noAck: true });
      return m !== false && m.properties.messageId === req.id ? m : undefined;
    });
    expect(String(parked.properties.headers?.[Headers.parkReason])).toBe(
      'invalid tool request: no reply queue (replyTo) to answer to',
    );
    expect(seen.some((s) => s.request.id === req.id)).toBe(false);
  });

  it('drops a request whose deadline passed while it waited, without running it', async () => {
    behave = async (r) => ok(r, 'ran');
    const stale = request();
    await clientBroker.publish('', toolQueueName(prefix), stale, {
      messageId: stale.id,
      traceId: 't',
      replyTo: client.replyQueue,
      correlationId: stale.id,
      headers: { [TOOL_DEADLINE_HEADER]: Date.now() - 1 },
    });
    // A request sent after it is answered, so the stale one has been taken off the queue by then.
    expect((await client.invoke(request())).output).toBe('ran');
    expect(seen.some((s) => s.request.id === stale.id)).toBe(false);
  });

  it('answers again after the client connection was cut: the reply queue is declared anew', async () => {
    behave = async (r) => ok(r, 'after reconnect');
    let reconnects = 0;
    clientBroker.onConnect(() => reconnects++);
    dropConnection(`${prefix}-client`);
    await waitFor('the client to reconnect', () => reconnects > 0 && clientBroker.isConnected(), 20_000);
    const res = await waitFor(
      'a call to succeed over the new connection',
      async () => {
        const r = await client.invoke(request({ timeoutMs: 1_000 }));
        return r.ok ? r : undefined;
      },
      20_000,
    );
    // The answer came back through the reply queue, so it exists again on the new connection.
    expect(res.output).toBe('after reconnect');
  });

  it('on stop, finishes the calls in hand and leaves new ones in the queue for another runner', async () => {
    // Calls of earlier tests (a retry loop across the reconnect) may still be finishing.
    await waitFor('the runner to be idle', () => server.inFlight === 0);
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const started = new Set<string>();
    behave = async (r) => {
      started.add(r.id);
      await released;
      return ok(r, 'finished during shutdown');
    };
    const firstReq = request({ timeoutMs: 10_000 });
    const first = client.invoke(firstReq);
    await waitFor('the call to be running', () => started.has(firstReq.id));
    const stopping = server.stop();
    await waitFor('the runner to stop consuming', () => consumersOf(toolQueueName(prefix)) === 0);
    const secondReq = request({ timeoutMs: 10_000 });
    const second = client.invoke(secondReq);
    await waitFor('the new call to wait in the queue', async () => {
      return (await ch.checkQueue(toolQueueName(prefix))).messageCount === 1;
    });
    expect([...started]).toEqual([firstReq.id]);
    release();
    await stopping;
    expect((await first).output).toBe('finished during shutdown');
    // Another runner takes the call the stopped one did not.
    const other = await serveTools(serverBroker, opts, async (r) => ok(r, 'other runner'), log, {
      concurrency: 1,
    });
    try {
      expect((await second).output).toBe('other runner');
    } finally {
      await other.stop();
    }
  });

  it('resolves calls still waiting with TOOL_UNAVAILABLE when the client closes', async () => {
    // Nobody serves the queue any more (the previous test stopped the runners).
    const lone = new ToolRpcClient(clientBroker, opts, log);
    await lone.start();
    const pending = lone.invoke(request({ timeoutMs: 1_000 }));
    await lone.close();
    expect((await pending).error).toEqual({
      code: 'TOOL_UNAVAILABLE',
      message: 'the tool client is shutting down',
    });
  });

  it('lets the broker expire a request nobody took before its deadline', async () => {
    const queue = toolQueueName(prefix);
    await waitFor('an empty tool queue', async () => (await ch.checkQueue(queue)).messageCount === 0, 15_000);
    const req = request({ timeoutMs: 300 });
    const res = await client.invoke(req);
    expect(res.error?.code).toBe('TOOL_TIMEOUT');
    // Quorum queues dead-letter expired messages: the request ends in parking, never run late.
    const parked = await waitFor('the expired request in parking', async () => {
      const m = await ch.get(`${prefix}.parking`, { noAck: true });
      return m !== false && m.properties.messageId === req.id ? m : undefined;
    });
    const deaths = (parked.properties.headers?.['x-death'] ?? []) as Array<{ reason: string }>;
    expect(deaths[0]?.reason).toBe('expired');
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
  });
});
