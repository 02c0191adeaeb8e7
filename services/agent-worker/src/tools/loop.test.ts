import { Writable } from 'node:stream';
import {
  createLogger,
  type ToolCaller,
  type ToolInvoker,
  type ToolRequest,
  type ToolResult,
  toolRequestSchema,
} from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { type FakeLlm, startFakeLlm } from '../../../../test/fakes/llm/server.ts';
import { waitFor } from '../../../../test/support/infra.ts';
import { buildModels, type ChainResult, ModelChain } from '../models/chain.ts';
import type { ChatMessage, ToolSpec } from '../models/provider.ts';
import {
  runToolLoop,
  stepLimitNote,
  stepLimitReply,
  type ToolLoopDeps,
  type ToolLoopSettings,
} from './loop.ts';
import { Toolbox } from './toolbox.ts';
import { type LocalTool, type LocalToolContext, LocalToolError, type ToolCallRecord } from './types.ts';

const quiet = createLogger('tool-loop-test', 'error');

const caller: ToolCaller = {
  platform: 'telegram',
  botId: 'bot1',
  conversationId: 'chat-42',
  userId: 'u-7',
  route: 'ops',
  messageId: 'tg:bot1:1001',
  traceId: 'trace-tool-loop',
};

const object = (properties: Record<string, unknown>) => ({ type: 'object', properties });
const builtin: ToolSpec[] = [
  {
    name: 'shell',
    description: 'Run an allowlisted command',
    parameters: object({ command: { type: 'string' } }),
  },
  { name: 'http_fetch', description: 'Fetch a URL', parameters: object({ url: { type: 'string' } }) },
  {
    name: 'browser',
    description: 'Open a page in a browser',
    parameters: object({ url: { type: 'string' } }),
  },
];

type Handler = (req: ToolRequest) => Promise<Partial<ToolResult>> | Partial<ToolResult>;

/**
 * A ToolInvoker as the tool-runner's RPC client would be: it receives the request the worker would
 * publish (checked against the protocol schema) and answers with a result. Per tool, a scripted answer.
 */
class ScriptedTools implements ToolInvoker {
  readonly requests: ToolRequest[] = [];
  handlers: Record<string, Handler> = {};

  async invoke(request: ToolRequest): Promise<ToolResult> {
    this.requests.push(toolRequestSchema.parse(request));
    const handler = this.handlers[request.tool];
    const answer = handler ? await handler(request) : { output: `${request.tool} ran` };
    return {
      v: 1,
      id: request.id,
      ok: true,
      output: '',
      truncated: false,
      attachments: [],
      durationMs: 3,
      ...answer,
    };
  }
}

/** The messages the model received in its nth call (from 0), as the fake recorded them. */
function sent(fake: FakeLlm, n: number) {
  return fake.calls[n]!.messages;
}

/** Text of the tool messages the model received in its nth call, in order. */
function toolMessages(fake: FakeLlm, n: number): string[] {
  return sent(fake, n)
    .filter((m) => m.role === 'tool')
    .map((m) => String(m.content));
}

const question = (text: string): ChatMessage[] => [
  { role: 'system', content: 'You are an ops assistant.' },
  { role: 'user', content: text },
];

describe.each(['ollama', 'openai'] as const)('runToolLoop with %s against the fake LLM', (provider) => {
  let fake: FakeLlm;
  let chain: ModelChain;
  let tools: ScriptedTools;
  let toolbox: Toolbox;
  /** Every model reply the loop received, to check the token sums against. */
  let replies: ChainResult[];
  let recorded: ToolCallRecord[][];
  let settings: ToolLoopSettings;

  beforeAll(async () => {
    fake = await startFakeLlm();
    const models = buildModels(parseModelChain(`${provider}/fake-small`), {
      ollamaUrl: fake.url,
      openaiBaseUrl: `${fake.url}/v1`,
      openaiApiKey: 'test-key',
      defaultTimeoutMs: 10_000,
    });
    chain = new ModelChain(models, { retries: 0, minBackoffMs: 1, log: quiet });
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    fake.reset();
    tools = new ScriptedTools();
    toolbox = new Toolbox({ invoker: tools, builtin, replyGraceMs: 100, log: quiet });
    replies = [];
    recorded = [];
    settings = {
      maxRounds: 4,
      maxCallsPerRound: 8,
      defaultTimeoutMs: 10_000,
      timeoutsMs: { shell: 5_000 },
      outputMaxChars: 4_000,
    };
  });

  function deps(over: Partial<ToolLoopDeps> = {}): ToolLoopDeps {
    return {
      // The real chain, with each reply noted on the way through.
      chain: {
        complete: async (...args: Parameters<ModelChain['complete']>) => {
          const r = await chain.complete(...args);
          replies.push(r);
          return r;
        },
      },
      tools: toolbox,
      settings,
      log: quiet,
      record: async (_caller, calls) => {
        recorded.push(calls);
      },
      ...over,
    };
  }

  const kbSearch: LocalTool = {
    spec: {
      name: 'kb_search',
      description: 'Search the runbooks',
      parameters: object({ query: { type: 'string' } }),
    },
    run: async (args) => `runbook hit for "${String(args.query)}": clean /var/log`,
  };

  it('runs several rounds: each call executed, its result fed back, then the final answer', async () => {
    toolbox.setLocalTools([kbSearch]);
    tools.handlers.shell = () => ({ output: 'Filesystem Size Use%\n/dev/sda1 50G 91%' });
    fake.setRules([
      {
        match: { contains: 'disk' },
        times: 1,
        toolCalls: [{ name: 'shell', arguments: { command: 'df', args: ['-h'] } }],
      },
      {
        match: { contains: 'disk' },
        times: 1,
        toolCalls: [{ name: 'kb_search', arguments: { query: 'disk full' } }],
      },
      { match: { contains: 'disk' }, reply: 'Disk is 91% full; the runbook says to clean /var/log.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('is the disk full on db1?'),
      caller,
      allowedTools: ['shell', 'kb_search'],
    });

    expect(r.content).toBe('Disk is 91% full; the runbook says to clean /var/log.');
    expect(r.model).toBe(`${provider}/fake-small`);
    expect(r.modelCalls).toBe(3);
    expect(r.hitStepLimit).toBe(false);
    // The built-in call went out as a valid RPC request with the route's tools and the per-tool timeout.
    expect(tools.requests).toHaveLength(1);
    expect(tools.requests[0]).toMatchObject({
      tool: 'shell',
      arguments: { command: 'df', args: ['-h'] },
      caller,
      allowedTools: ['shell', 'kb_search'],
      timeoutMs: 5_000,
    });
    // Each result reached the model in the next call, after the assistant's call.
    expect(toolMessages(fake, 1)).toEqual(['Filesystem Size Use%\n/dev/sda1 50G 91%']);
    expect(toolMessages(fake, 2)).toEqual([
      'Filesystem Size Use%\n/dev/sda1 50G 91%',
      'runbook hit for "disk full": clean /var/log',
    ]);
    expect(sent(fake, 2).map((m) => m.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
      'assistant',
      'tool',
    ]);
    // Every call offered the same tools.
    expect(
      fake.calls.map((c) => (c.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)),
    ).toEqual([
      ['shell', 'kb_search'],
      ['shell', 'kb_search'],
      ['shell', 'kb_search'],
    ]);
    expect(
      r.toolCalls.map(({ tool, round, position, status }) => ({ tool, round, position, status })),
    ).toEqual([
      { tool: 'shell', round: 1, position: 0, status: 'ok' },
      { tool: 'kb_search', round: 2, position: 0, status: 'ok' },
    ]);
    expect(r.toolCalls[0]!.id).toBe(tools.requests[0]!.id);
    expect(r.toolCalls[1]!.outputBytes).toBe(
      Buffer.byteLength('runbook hit for "disk full": clean /var/log'),
    );
    // One batch per round, recorded before the next model call.
    expect(recorded.map((batch) => batch.map((c) => c.tool))).toEqual([['shell'], ['kb_search']]);
    expect(r.promptTokens).toBe(replies.reduce((n, x) => n + (x.promptTokens ?? 0), 0));
    expect(r.completionTokens).toBe(replies.reduce((n, x) => n + (x.completionTokens ?? 0), 0));
    expect(r.promptTokens).toBeGreaterThan(replies[0]!.promptTokens!);
  });

  it('runs the calls of one reply together and answers each in the order they were asked', async () => {
    const started = new Set<string>();
    // Each call finishes only once both have started: the test deadlocks if they run one by one.
    const together: Handler = async (req) => {
      started.add(req.tool);
      await waitFor('both calls to start', () => started.size === 2, 5_000, 5);
      return { output: `${req.tool} done` };
    };
    tools.handlers.shell = together;
    tools.handlers.http_fetch = together;
    fake.setRules([
      {
        match: { contains: 'check' },
        times: 1,
        toolCalls: [
          { name: 'http_fetch', arguments: { url: 'https://status.example.com' } },
          { name: 'shell', arguments: { command: 'uptime' } },
        ],
      },
      { match: { contains: 'check' }, reply: 'All good.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('check prod'),
      caller,
      allowedTools: ['shell', 'http_fetch'],
    });

    expect(r.content).toBe('All good.');
    expect(toolMessages(fake, 1)).toEqual(['http_fetch done', 'shell done']);
    expect(r.toolCalls.map((c) => [c.tool, c.position])).toEqual([
      ['http_fetch', 0],
      ['shell', 1],
    ]);
    expect(recorded).toHaveLength(1);
  });

  it('at the step limit asks once more without tools and returns that answer', async () => {
    settings.maxRounds = 2;
    fake.setRules([
      {
        match: { contains: 'loop' },
        times: 2,
        toolCalls: [{ name: 'shell', arguments: { command: 'uptime' } }],
      },
      { match: { contains: 'loop' }, reply: 'Best effort: uptime is 3 days.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('loop forever'),
      caller,
      allowedTools: ['shell'],
    });

    expect(r).toMatchObject({ content: 'Best effort: uptime is 3 days.', modelCalls: 3, hitStepLimit: true });
    expect(tools.requests).toHaveLength(2);
    expect(fake.calls.map((c) => c.tools === undefined)).toEqual([false, false, true]);
    expect(sent(fake, 2).at(-1)).toEqual({ role: 'system', content: stepLimitNote(2) });
  });

  it('at the step limit returns a clear message when the model still gives no answer, running nothing more', async () => {
    settings.maxRounds = 2;
    fake.setRules([
      { match: { contains: 'loop' }, toolCalls: [{ name: 'shell', arguments: { command: 'uptime' } }] },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('loop forever'),
      caller,
      allowedTools: ['shell'],
    });

    expect(r).toMatchObject({ content: stepLimitReply(2), modelCalls: 3, hitStepLimit: true });
    expect(tools.requests).toHaveLength(2);
    expect(r.toolCalls).toHaveLength(2);
  });

  it('writes each call that runs as started before it runs; a refused call is only recorded finished', async () => {
    const events: string[] = [];
    tools.handlers.shell = (req) => {
      events.push(`ran ${req.id}`);
      return { output: 'up 3 days' };
    };
    fake.setRules([
      {
        match: { contains: 'uptime' },
        times: 1,
        toolCalls: [
          { name: 'shell', arguments: { command: 'uptime' } },
          { name: 'browser', arguments: { url: 'https://example.com' } },
        ],
      },
      { match: { contains: 'uptime' }, reply: 'Up 3 days.' },
    ]);
    const r = await runToolLoop(
      deps({
        start: async (_caller, call) => {
          events.push(`started ${call.id} ${call.tool} ${call.round}/${call.position}`);
        },
        record: async (_caller, calls) => {
          events.push(`recorded ${calls.map((c) => `${c.tool}:${c.status}`).join(',')}`);
        },
      }),
      { messages: question('uptime?'), caller, allowedTools: ['shell'] },
    );
    const id = r.toolCalls[0]!.id;
    expect(events).toEqual([`started ${id} shell 1/0`, `ran ${id}`, 'recorded shell:ok,browser:refused']);
  });

  it('runs no call whose started row could not be written, and fails the turn with that error', async () => {
    fake.setRules([
      { match: { contains: 'uptime' }, toolCalls: [{ name: 'shell', arguments: { command: 'uptime' } }] },
    ]);
    const err = await runToolLoop(
      deps({
        start: async () => {
          throw new Error('database down');
        },
      }),
      { messages: question('uptime?'), caller, allowedTools: ['shell'] },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('database down');
    expect(tools.requests).toEqual([]);
  });

  it('answers an unknown tool and a tool the route does not allow with an error, running neither', async () => {
    fake.setRules([
      {
        match: { contains: 'wipe' },
        times: 1,
        toolCalls: [
          { name: 'format_disk', arguments: { device: '/dev/sda' } },
          { name: 'browser', arguments: { url: 'http://169.254.169.254/' } },
        ],
      },
      { match: { contains: 'wipe' }, reply: 'I cannot do that.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('wipe the disk'),
      caller,
      allowedTools: ['shell'],
    });

    expect(r.content).toBe('I cannot do that.');
    expect(tools.requests).toEqual([]);
    expect(toolMessages(fake, 1)).toEqual([
      'Error TOOL_UNKNOWN: there is no tool named "format_disk". Available tools: shell',
      'Error TOOL_NOT_ALLOWED: the tool "browser" is not available here. Available tools: shell',
    ]);
    expect(r.toolCalls.map(({ tool, status, errorCode }) => ({ tool, status, errorCode }))).toEqual([
      { tool: 'format_disk', status: 'refused', errorCode: 'TOOL_UNKNOWN' },
      { tool: 'browser', status: 'refused', errorCode: 'TOOL_NOT_ALLOWED' },
    ]);
    // Refused calls are recorded too, with what the model tried.
    expect(recorded[0]!.map((c) => c.arguments)).toEqual([
      { device: '/dev/sda' },
      { url: 'http://169.254.169.254/' },
    ]);
  });

  it('stops waiting for a tool at its own timeout and tells the model', async () => {
    let signal: AbortSignal | undefined;
    // Ignores its signal on purpose: the loop must move on anyway.
    const stuck: LocalTool = {
      spec: { name: 'stuck', description: 'Never returns', parameters: object({}) },
      run: (_args, ctx: LocalToolContext) => {
        signal = ctx.signal;
        return new Promise<string>(() => {});
      },
    };
    toolbox.setLocalTools([stuck]);
    settings.timeoutsMs = { http_fetch: 300, stuck: 200 };
    // A tool-runner that never answers, as if it had died mid-call.
    tools.handlers.http_fetch = () => new Promise(() => {});
    fake.setRules([
      {
        match: { contains: 'slow' },
        times: 1,
        toolCalls: [
          { name: 'http_fetch', arguments: { url: 'https://slow.example.com' } },
          { name: 'stuck', arguments: {} },
        ],
      },
      { match: { contains: 'slow' }, reply: 'The site did not answer in time.' },
    ]);

    const started = performance.now();
    const r = await runToolLoop(deps(), {
      messages: question('fetch the slow site'),
      caller,
      allowedTools: ['http_fetch', 'stuck'],
    });
    const elapsed = performance.now() - started;

    expect(r.content).toBe('The site did not answer in time.');
    expect(tools.requests[0]!.timeoutMs).toBe(300);
    expect(toolMessages(fake, 1)).toEqual([
      'Error TOOL_TIMEOUT: the tool did not finish within 300 ms',
      'Error TOOL_TIMEOUT: the tool did not finish within 200 ms',
    ]);
    expect(r.toolCalls.map((c) => [c.status, c.errorCode])).toEqual([
      ['timeout', 'TOOL_TIMEOUT'],
      ['timeout', 'TOOL_TIMEOUT'],
    ]);
    // The RPC call waits its timeout plus the reply grace; the local tool exactly its timeout.
    expect(r.toolCalls[0]!.durationMs).toBeGreaterThanOrEqual(390);
    expect(r.toolCalls[1]!.durationMs).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(5_000);
    expect(signal?.aborted).toBe(true);
  });

  it('feeds tool errors back to the model with their codes', async () => {
    toolbox.setLocalTools([
      {
        spec: { name: 'kb_search', description: 'Search', parameters: object({}) },
        run: async () => {
          throw new LocalToolError('TOOL_BAD_ARGUMENTS', 'query must be a non-empty string');
        },
      },
      {
        spec: { name: 'crashy', description: 'Breaks', parameters: object({}) },
        run: async () => {
          throw new Error('index out of range');
        },
      },
    ]);
    tools.handlers.shell = () => ({
      ok: false,
      output: 'command "rm" is not on the allowlist',
      error: { code: 'TOOL_REFUSED', message: 'command "rm" is not on the allowlist' },
    });
    tools.handlers.http_fetch = () => {
      throw new Error('channel closed (amqp://guest:guest@127.0.0.1:5672)');
    };
    fake.setRules([
      {
        match: { contains: 'break' },
        times: 1,
        toolCalls: [
          { name: 'shell', arguments: { command: 'rm', args: ['-rf', '/'] } },
          { name: 'http_fetch', arguments: { url: 'https://example.com' } },
          { name: 'kb_search', arguments: { query: '' } },
          { name: 'crashy', arguments: {} },
        ],
      },
      { match: { contains: 'break' }, reply: 'Those did not work.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('break things'),
      caller,
      allowedTools: ['shell', 'http_fetch', 'kb_search', 'crashy'],
    });

    expect(r.content).toBe('Those did not work.');
    expect(toolMessages(fake, 1)).toEqual([
      'Error TOOL_REFUSED: command "rm" is not on the allowlist',
      'Error TOOL_UNAVAILABLE: the tool service could not be reached; try again later',
      'Error TOOL_BAD_ARGUMENTS: query must be a non-empty string',
      'Error TOOL_FAILED: index out of range',
    ]);
    expect(r.toolCalls.map((c) => [c.tool, c.status, c.errorCode])).toEqual([
      ['shell', 'refused', 'TOOL_REFUSED'],
      ['http_fetch', 'error', 'TOOL_UNAVAILABLE'],
      ['kb_search', 'refused', 'TOOL_BAD_ARGUMENTS'],
      ['crashy', 'error', 'TOOL_FAILED'],
    ]);
  });

  it('caps long output before the model reads it, and returns the attachments tools made', async () => {
    settings.outputMaxChars = 1_000;
    const shot = {
      kind: 'image' as const,
      name: 'page.png',
      mimeType: 'image/png',
      size: 2048,
      url: 'attachment://1f',
    };
    tools.handlers.browser = () => ({ output: 'p'.repeat(5_000), attachments: [shot] });
    tools.handlers.shell = () => ({ output: 'short, but cut by the tool-runner', truncated: true });
    fake.setRules([
      {
        match: { contains: 'page' },
        times: 1,
        toolCalls: [
          { name: 'browser', arguments: { url: 'https://example.com' } },
          { name: 'shell', arguments: { command: 'dmesg' } },
        ],
      },
      { match: { contains: 'page' }, reply: 'Here is the page.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('show me the page'),
      caller,
      allowedTools: ['browser', 'shell'],
    });

    const [page, log] = toolMessages(fake, 1);
    expect(page).toBe(`${'p'.repeat(1_000)}\n[output truncated]`);
    expect(log).toBe('short, but cut by the tool-runner\n[output truncated]');
    expect(r.toolCalls.map((c) => [c.truncated, c.outputBytes])).toEqual([
      [true, Buffer.byteLength(page!)],
      [true, Buffer.byteLength(log!)],
    ]);
    expect(r.attachments).toEqual([shot]);
  });

  it('refuses the calls of one reply beyond the per-round limit', async () => {
    settings.maxCallsPerRound = 1;
    fake.setRules([
      {
        match: { contains: 'many' },
        times: 1,
        toolCalls: [
          { name: 'shell', arguments: { command: 'uptime' } },
          { name: 'shell', arguments: { command: 'df' } },
        ],
      },
      { match: { contains: 'many' }, reply: 'Done.' },
    ]);

    const r = await runToolLoop(deps(), {
      messages: question('many calls'),
      caller,
      allowedTools: ['shell'],
    });

    expect(tools.requests.map((q) => q.arguments)).toEqual([{ command: 'uptime' }]);
    expect(toolMessages(fake, 1)[1]).toBe(
      'Error TOOL_REFUSED: too many tool calls in one reply (at most 1); call fewer at once',
    );
    expect(r.toolCalls.map((c) => c.status)).toEqual(['ok', 'refused']);
  });

  it('makes one plain model call when the route allows no tools', async () => {
    const r = await runToolLoop(deps(), { messages: question('hello'), caller, allowedTools: [] });
    expect(r).toMatchObject({ content: 'echo: hello', modelCalls: 1, toolCalls: [], hitStepLimit: false });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.tools).toBeUndefined();
    expect(recorded).toEqual([]);
  });

  it('stops before the next model call when a round cannot be recorded', async () => {
    fake.setRules([{ toolCalls: [{ name: 'shell', arguments: { command: 'uptime' } }] }]);
    const err = await runToolLoop(
      deps({
        record: async () => {
          throw new Error('database unavailable');
        },
      }),
      { messages: question('uptime?'), caller, allowedTools: ['shell'] },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('database unavailable');
    expect(fake.calls).toHaveLength(1);
  });

  it('logs each call with its tool and outcome, never its arguments or output', async () => {
    const lines: string[] = [];
    const log = winston.createLogger({
      level: 'debug',
      format: winston.format.json(),
      transports: [
        new winston.transports.Stream({
          stream: new Writable({
            write(chunk, _enc, done) {
              lines.push(String(chunk));
              done();
            },
          }),
        }),
      ],
    });
    tools.handlers.http_fetch = () => ({ output: 'session=SECRET-OUTPUT-555' });
    fake.setRules([
      {
        match: { contains: 'token' },
        times: 1,
        toolCalls: [{ name: 'http_fetch', arguments: { url: 'https://x.example/?key=hunter2-secret-arg' } }],
      },
      { match: { contains: 'token' }, reply: 'Fetched.' },
    ]);

    await runToolLoop(deps({ log }), {
      messages: question('use my token'),
      caller,
      allowedTools: ['http_fetch'],
    });

    const logged = lines.join('\n');
    expect(lines.some((l) => l.includes('"tool":"http_fetch"') && l.includes('"outcome":"ok"'))).toBe(true);
    expect(logged).toContain(caller.traceId);
    expect(logged).not.toContain('hunter2-secret-arg');
    expect(logged).not.toContain('SECRET-OUTPUT-555');
  });
});
