import {
  Broker,
  type BrokerOptions,
  createLogger,
  type ToolCaller,
  type ToolServer,
} from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteBrokerPrefix, uniqueName } from '../../../../test/support/infra.ts';
import type { ChatMessage } from '../models/provider.ts';
import { SkillRpcClient, serveSkills, skillQueueName } from './rpc.ts';
import { SkillRunner } from './run-skill.ts';
import type { Skill } from './types.ts';

const log = createLogger('skill-rpc-test', 'error');

const caller: ToolCaller = {
  platform: 'api',
  botId: 'scheduler',
  conversationId: 'workflow:t',
  userId: 'workflow:t',
  route: 'workflow:t',
  messageId: 'run-1',
  traceId: 'trace-1',
};

function skill(over: Partial<Skill>): Skill {
  return {
    name: 'x',
    description: 'x',
    file: 'x.mjs',
    format: 'module',
    triggers: [/x/],
    priority: 0,
    tools: [],
    localTools: [],
    knowledge: false,
    ...over,
  };
}

describe('skill runs over RabbitMQ (real broker)', () => {
  const prefix = uniqueName('skrpc');
  const topo: BrokerOptions = {
    url: AMQP_URL,
    prefix,
    queueType: 'classic',
    partitions: 1,
    prefetch: 8,
    retryDelaysMs: [100],
    maxAttempts: 2,
  };
  let broker: Broker;
  let client: SkillRpcClient;
  const servers: ToolServer[] = [];
  const seen: Array<{ server: number; messages: ChatMessage[] }> = [];
  const served: number[] = [];

  const runner = (server: number) =>
    new SkillRunner({
      skills: {
        get: (name) =>
          ({
            echo: skill({ name: 'echo', handler: async (ctx) => `handled ${ctx.text}` }),
            pass: skill({
              name: 'pass',
              systemPrompt: 'PASS-PROMPT',
              tools: ['shell'],
              handler: async () => undefined,
            }),
            slow: skill({
              name: 'slow',
              handler: (ctx) =>
                new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('too late'))),
            }),
          })[name],
      },
      chains: {
        get: () =>
          ({
            complete: async (messages: ChatMessage[]) => {
              seen.push({ server, messages });
              return { content: 'model answer', model: 'fake/m' };
            },
          }) as never,
      },
      loop: {
        tools: { specs: () => [] } as never,
        settings: {
          maxRounds: 2,
          maxCallsPerRound: 2,
          defaultTimeoutMs: 1000,
          timeoutsMs: {},
          outputMaxChars: 1000,
        },
        log,
      },
      log,
      defaults: { systemPrompt: 'DEFAULT', modelChain: [], tools: [] },
      knowledge: { searchLimit: 2, contextMaxChars: 1000 },
    });

  beforeAll(async () => {
    broker = new Broker(topo, log);
    await broker.start();
    for (const n of [1, 2]) {
      const r = runner(n);
      servers.push(
        await serveSkills(
          broker,
          topo,
          (name, text, ctx) => {
            served.push(n);
            return r.run(name, text, ctx);
          },
          log,
          { concurrency: 4 },
        ),
      );
    }
    client = new SkillRpcClient(broker, topo, log, { replyGraceMs: 500 });
    await client.start();
  });

  afterAll(async () => {
    await client?.close();
    for (const s of servers) await s.stop();
    await broker?.close();
    await deleteBrokerPrefix(prefix, 1, 1, [skillQueueName(prefix)]).catch(() => {});
  });

  const run = (name: string, text = 'hi', timeoutMs = 5_000) =>
    client.run({ id: uniqueName('run-'), skill: name, text, caller, timeoutMs });

  it('answers with the handler, once per request whatever the number of workers', async () => {
    const before = served.length;
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => run('echo', `t${i}`)));
    expect(replies.map((r) => [r.ok, r.output, r.skill])).toEqual(
      Array.from({ length: 6 }, (_, i) => [true, `handled t${i}`, 'echo']),
    );
    expect(served.length - before).toBe(6);
  });

  it('hands a handler that declines to the model, with the skill prompt and no history', async () => {
    const r = await run('pass', 'summarise this');
    expect(r).toMatchObject({ ok: true, output: 'model answer', skill: 'pass' });
    const last = seen.at(-1)!;
    expect(last.messages).toEqual([
      { role: 'system', content: 'PASS-PROMPT' },
      { role: 'user', content: 'summarise this' },
    ]);
  });

  it('answers unknown skills TOOL_UNKNOWN and a run past its deadline TOOL_TIMEOUT', async () => {
    const unknown = await run('nope');
    expect(unknown).toMatchObject({ ok: false, skill: 'nope', error: { code: 'TOOL_UNKNOWN' } });
    expect(unknown.output).toMatch(/no skill "nope"/);
    const started = Date.now();
    const slow = await run('slow', 'x', 300);
    expect(slow).toMatchObject({ ok: false, error: { code: 'TOOL_TIMEOUT' } });
    expect(slow.output).toMatch(/skill slow did not finish within 300 ms/);
    // The worker answers at the deadline, before the client's own grace runs out.
    expect(Date.now() - started).toBeLessThan(300 + 500);
  });
});
