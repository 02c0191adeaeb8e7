import {
  ErrorCodes,
  SwitchboardError,
  type ToolCaller,
  type ToolInvoker,
  type ToolRequest,
  type ToolResult,
} from '@switchboard/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ToolSpec } from '../models/provider.ts';
import { parseToolTimeouts, toolLoopConfigShape, toolLoopSettings } from './config.ts';
import { Toolbox } from './toolbox.ts';
import { type LocalTool, type LocalToolContext, LocalToolError, type ToolExecution } from './types.ts';

const caller: ToolCaller = {
  platform: 'slack',
  botId: 'B1',
  conversationId: 'C1',
  userId: 'U1',
  messageId: 'slack:Ev1',
  traceId: 'trace-toolbox',
};
const spec = (name: string): ToolSpec => ({
  name,
  description: `${name} tool`,
  parameters: { type: 'object' },
});
const exec = (over: Partial<ToolExecution> = {}): ToolExecution => ({
  requestId: '7d1c1a52-5a4c-4a55-9b3c-0a7f7c1e9b11',
  caller,
  allowedTools: ['shell'],
  timeoutMs: 1_000,
  ...over,
});
const local = (name: string, run: LocalTool['run'] = async () => `${name} ok`): LocalTool => ({
  spec: spec(name),
  run,
});

/** An invoker that answers every request the same way, keeping what it was sent. */
function invoker(
  answer: (req: ToolRequest) => Promise<ToolResult>,
): ToolInvoker & { requests: ToolRequest[] } {
  const requests: ToolRequest[] = [];
  return {
    requests,
    invoke: (req) => {
      requests.push(req);
      return answer(req);
    },
  };
}
const okInvoker = () =>
  invoker(async (req) => ({
    v: 1,
    id: req.id,
    ok: true,
    output: 'done',
    truncated: false,
    attachments: [],
    durationMs: 12,
  }));

describe('Toolbox', () => {
  it('keeps valid local tools and reports each one it leaves out, with the reason', () => {
    const box = new Toolbox({ invoker: okInvoker(), builtin: [spec('shell')] });
    const rejected = box.setLocalTools([
      local('kb_search'),
      local('shell'),
      local('kb_search'),
      local('bad name!'),
      { spec: spec('no_run') } as unknown as LocalTool,
      local('oncall'),
    ]);
    expect(rejected).toEqual([
      { name: 'shell', reason: '"shell" is a built-in tool' },
      { name: 'kb_search', reason: 'another tool is already named "kb_search"' },
      { name: 'bad name!', reason: 'a tool name is 1-64 letters, digits, _ or -' },
      { name: 'no_run', reason: 'the tool has no run function' },
    ]);
    expect(['shell', 'kb_search', 'oncall', 'no_run'].map((n) => box.has(n))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // A reload replaces the whole set: tools of removed skills disappear.
    box.setLocalTools([local('oncall')]);
    expect(box.has('kb_search')).toBe(false);
  });

  it('lists the specs of the allowed tools that exist, in the order allowed, once each', () => {
    const box = new Toolbox({ invoker: okInvoker(), builtin: [spec('shell'), spec('files')] });
    box.setLocalTools([local('kb_search')]);
    expect(box.specs(['kb_search', 'nope', 'shell', 'kb_search']).map((s) => s.name)).toEqual([
      'kb_search',
      'shell',
    ]);
    expect(box.specs([])).toEqual([]);
  });

  it('sends a built-in call as a protocol request and returns the result without the envelope', async () => {
    const inv = okInvoker();
    const box = new Toolbox({ invoker: inv, builtin: [spec('shell')] });
    const out = await box.execute('shell', { command: 'uptime' }, exec({ allowedTools: ['shell', 'files'] }));
    expect(out).toEqual({ ok: true, output: 'done', truncated: false, attachments: [], durationMs: 12 });
    expect(inv.requests).toEqual([
      {
        v: 1,
        id: '7d1c1a52-5a4c-4a55-9b3c-0a7f7c1e9b11',
        tool: 'shell',
        arguments: { command: 'uptime' },
        caller,
        allowedTools: ['shell', 'files'],
        timeoutMs: 1_000,
      },
    ]);
  });

  it('answers a name it does not know with TOOL_UNKNOWN without calling anything', async () => {
    const inv = okInvoker();
    const box = new Toolbox({ invoker: inv, builtin: [spec('shell')] });
    const out = await box.execute('rm', {}, exec());
    expect(out.error).toEqual({ code: 'TOOL_UNKNOWN', message: 'there is no tool named "rm"' });
    expect(inv.requests).toEqual([]);
  });

  it('reports an RPC client that gives up at the deadline as TOOL_TIMEOUT, and any other failure as TOOL_UNAVAILABLE', async () => {
    const timedOut = new Toolbox({
      invoker: invoker(async () => {
        throw new SwitchboardError(ErrorCodes.TIMEOUT, 'no reply within 1000 ms');
      }),
      builtin: [spec('shell')],
    });
    expect((await timedOut.execute('shell', {}, exec())).error?.code).toBe('TOOL_TIMEOUT');

    const broken = new Toolbox({
      invoker: {
        invoke: () => {
          throw new Error('not connected');
        },
      },
      builtin: [spec('shell')],
    });
    expect(await broken.execute('shell', {}, exec())).toMatchObject({
      ok: false,
      error: { code: 'TOOL_UNAVAILABLE', message: 'the tool service could not be reached; try again later' },
    });
  });

  it('runs a local tool with the caller, its timeout and a signal that fires once the call is over', async () => {
    let ctx: LocalToolContext | undefined;
    const box = new Toolbox({ invoker: okInvoker(), builtin: [] });
    box.setLocalTools([
      local('kb_search', async (args, c) => {
        ctx = c;
        expect(c.signal.aborted).toBe(false);
        return `found ${String(args.q)}`;
      }),
    ]);
    const out = await box.execute('kb_search', { q: 'disk' }, exec({ timeoutMs: 2_500 }));
    expect(out).toMatchObject({ ok: true, output: 'found disk', truncated: false, attachments: [] });
    expect(ctx).toMatchObject({ caller, timeoutMs: 2_500 });
    expect(ctx?.signal.aborted).toBe(true);
  });

  it('turns what a local tool does wrong into a result with a code, never a thrown error', async () => {
    const box = new Toolbox({ invoker: okInvoker(), builtin: [] });
    box.setLocalTools([
      local('not_text', async () => 42 as unknown as string),
      local('long_error', async () => {
        throw new Error('x'.repeat(5_000));
      }),
      local('odd_code', async () => {
        throw new LocalToolError('SB_WHATEVER' as 'TOOL_FAILED', 'odd');
      }),
      local('sync_throw', () => {
        throw new LocalToolError('TOOL_REFUSED', 'not for you');
      }),
    ]);
    expect((await box.execute('not_text', {}, exec())).error).toEqual({
      code: 'TOOL_FAILED',
      message: 'the tool returned no text',
    });
    const long = (await box.execute('long_error', {}, exec())).error!;
    expect(long.code).toBe('TOOL_FAILED');
    expect(long.message.length).toBeLessThanOrEqual(1_001);
    expect((await box.execute('odd_code', {}, exec())).error).toEqual({
      code: 'TOOL_FAILED',
      message: 'odd',
    });
    expect((await box.execute('sync_throw', {}, exec())).error).toEqual({
      code: 'TOOL_REFUSED',
      message: 'not for you',
    });
  });
});

describe('tool loop settings', () => {
  const schema = z.object(toolLoopConfigShape);

  it('has safe defaults', () => {
    expect(toolLoopSettings(schema.parse({}))).toEqual({
      maxRounds: 5,
      maxCallsPerRound: 8,
      defaultTimeoutMs: 30_000,
      timeoutsMs: {},
      outputMaxChars: 16_000,
    });
  });

  it('reads per-tool timeouts', () => {
    expect(parseToolTimeouts(' browser=60000, shell=20000 ,')).toEqual({ browser: 60_000, shell: 20_000 });
    const cfg = schema.parse({ TOOL_TIMEOUTS: 'browser=60000', TOOL_MAX_ROUNDS: '3' });
    expect(toolLoopSettings(cfg)).toMatchObject({ maxRounds: 3, timeoutsMs: { browser: 60_000 } });
  });

  it('refuses a bad per-tool timeout, quoting the entry', () => {
    expect(() => parseToolTimeouts('browser')).toThrow(
      '"browser": expected tool=milliseconds, e.g. browser=60000',
    );
    expect(() => parseToolTimeouts('shell=50')).toThrow(
      '"shell=50": the timeout must be between 100 and 600000 ms',
    );
    const r = schema.safeParse({ TOOL_TIMEOUTS: 'shell=abc' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({
      path: ['TOOL_TIMEOUTS'],
      message: expect.stringContaining('"shell=abc"'),
    });
  });

  it('refuses a step limit of zero', () => {
    expect(schema.safeParse({ TOOL_MAX_ROUNDS: '0' }).success).toBe(false);
  });
});
