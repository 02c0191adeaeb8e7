import {
  Broker,
  type BrokerOptions,
  createLogger,
  rpcExchanges,
  TOOL_PROTOCOL_VERSION,
  ToolRpcClient,
  toolQueueName,
} from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteBrokerPrefix, uniqueName } from '../../../../test/support/infra.ts';
import { ToolError } from '../tool.ts';
import type { RenderAnswer, RenderContext, RenderRequest } from './protocol.ts';
import { RemoteRenderer } from './remote.ts';
import { serveRenders } from './serve.ts';

const log = createLogger('render-rpc-test', 'error');
const LIMITS = { maxTextBytes: 1024, maxScreenshotBytes: 65_536 };

/**
 * The render RPC over a real broker: the tool-runner's side refuses what tool-browser must never
 * make it store (an answer over the BROWSER_MAX_* limits or off the schema), and passes the
 * renderer's own refusals on with their code. The renderer here stands in for Chromium, whose
 * page work test/tools covers; what is under test is the boundary between the two processes.
 */
describe('render RPC (tool-runner ↔ tool-browser)', () => {
  const prefix = uniqueName('rr');
  const topo: BrokerOptions = {
    url: AMQP_URL,
    prefix,
    queueType: 'quorum',
    partitions: 1,
    prefetch: 8,
    retryDelaysMs: [100],
    maxAttempts: 2,
  };
  const brokers: Broker[] = [];
  let next: (req: RenderRequest) => Promise<unknown>;
  const seen: RenderRequest[] = [];
  let renderer: RemoteRenderer;
  let stopServer: () => Promise<void>;
  const good: RenderAnswer = {
    title: 'Status',
    url: 'https://example.org/',
    status: 200,
    text: 'all good',
    truncated: false,
    blocked: [],
    blockedCount: 0,
    screenshot: Buffer.from('\x89PNG').toString('base64'),
  };
  const ctx = (): RenderContext => ({
    signal: new AbortController().signal,
    deadline: Date.now() + 10_000,
    caller: {
      platform: 'web',
      botId: 'web',
      conversationId: 'c',
      userId: 'u',
      messageId: 'm',
      traceId: 'trace-render',
    },
  });

  beforeAll(async () => {
    const serverBroker = new Broker(topo, log);
    const clientBroker = new Broker(topo, log);
    brokers.push(serverBroker, clientBroker);
    await Promise.all([serverBroker.start(), clientBroker.start()]);
    const server = await serveRenders(
      serverBroker,
      topo,
      {
        render: async (req) => {
          seen.push(req);
          return (await next(req)) as RenderAnswer;
        },
        close: async () => {},
      },
      log,
      { concurrency: 2 },
    );
    stopServer = () => server.stop();
    renderer = new RemoteRenderer(clientBroker, topo, log, LIMITS);
    await renderer.start();
  });

  afterAll(async () => {
    await renderer?.close();
    await stopServer?.();
    for (const b of brokers) await b.close().catch(() => {});
    await deleteBrokerPrefix(prefix, 1, 1, [toolQueueName(prefix), toolQueueName(prefix, 'browser')]);
  });

  it('renders through the render exchange and returns the answer as sent', async () => {
    next = async () => good;
    await expect(renderer.render({ url: 'https://example.org', fullPage: true }, ctx())).resolves.toEqual(
      good,
    );
    expect(seen.at(-1)).toEqual({ url: 'https://example.org', fullPage: true });
  });

  it.each([
    [
      'a screenshot over BROWSER_MAX_SCREENSHOT_BYTES',
      { screenshot: Buffer.alloc(70_000).toString('base64') },
      /BROWSER_MAX_SCREENSHOT_BYTES/,
    ],
    ['page text over BROWSER_MAX_TEXT_BYTES', { text: 'x'.repeat(4096) }, /BROWSER_MAX_TEXT_BYTES/],
    ['a screenshot that is not base64', { screenshot: 'not base64!' }, /screenshot/],
    ['a field the schema does not know', { cookies: 'session=1' }, /cookies/],
  ])('refuses an answer with %s (TOOL_FAILED)', async (_what, change, reason) => {
    next = async () => ({ ...good, ...change });
    const err = await renderer.render({ url: 'https://example.org', fullPage: false }, ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).code).toBe('TOOL_FAILED');
    expect((err as ToolError).message).toMatch(/the browser service's answer was refused/);
    expect((err as ToolError).message).toMatch(reason);
  });

  it("passes the renderer's refusal on with its code", async () => {
    next = async () => {
      throw new ToolError('TOOL_REFUSED', '10.0.0.1 is a private address');
    };
    const err = await renderer.render({ url: 'http://10.0.0.1/', fullPage: false }, ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect(err).toMatchObject({ code: 'TOOL_REFUSED', message: '10.0.0.1 is a private address' });
  });

  it('refuses a request that is not a render request, without rendering', async () => {
    const before = seen.length;
    next = async () => good;
    const raw = new Broker(topo, log);
    brokers.push(raw);
    await raw.start();

    const client = new ToolRpcClient(raw, topo, log, {
      queue: toolQueueName(prefix, 'browser'),
      exchange: rpcExchanges(prefix).render,
      declareQueue: false,
    });
    await client.start();
    const r = await client.invoke({
      v: TOOL_PROTOCOL_VERSION,
      id: uniqueName('call-'),
      tool: 'shell',
      arguments: { command: 'ls' },
      caller: ctx().caller,
      allowedTools: ['shell'],
      timeoutMs: 5_000,
    });
    await client.close();
    expect(r).toMatchObject({ ok: false, error: { code: 'TOOL_BAD_ARGUMENTS' } });
    expect(r.output).toMatch(/not a render request/);
    expect(seen.length).toBe(before);
  });
});
