import { createLogger, ErrorCodes, SwitchboardError } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../../../../test/fakes/llm/server.ts';
import { loadWorkerConfig } from '../config.ts';
import { buildModels, ModelChain } from './chain.ts';
import type { ChatMessage } from './provider.ts';

const log = createLogger('chain-test', 'error');
const question: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'what is the status of prod?' },
];

describe('ModelChain against the fake LLM', () => {
  let fake: FakeLlm;
  /** Each model call as the metrics hook saw it: [label, outcome]. */
  let calls: Array<[string, string]>;

  beforeAll(async () => {
    fake = await startFakeLlm();
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    fake.reset();
    calls = [];
  });

  /** A chain as main.ts builds it, from a MODEL_CHAIN spec, pointed at the fake for both providers. */
  function chain(spec: string, retries: number, defaultTimeoutMs = 10_000): ModelChain {
    const models = buildModels(parseModelChain(spec), {
      ollamaUrl: fake.url,
      openaiBaseUrl: `${fake.url}/v1`,
      openaiApiKey: 'test-key',
      defaultTimeoutMs,
    });
    return new ModelChain(models, {
      retries,
      minBackoffMs: 1,
      log,
      hooks: { onCall: (label, outcome) => calls.push([label, outcome]) },
    });
  }

  /** How many requests the fake received per `api/model`. */
  function requestsPerModel(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of fake.calls) {
      const key = `${c.api}/${c.model.replace(/:latest$/, '')}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  it('answers from the first model when it works', async () => {
    const r = await chain('ollama/fake-small,openai/fake-large', 2).complete(question, 'trace-1');
    expect(r).toMatchObject({ model: 'ollama/fake-small', content: 'echo: what is the status of prod?' });
    expect(r.promptTokens).toBeGreaterThan(0);
    expect(requestsPerModel()).toEqual({ 'ollama/fake-small': 1 });
  });

  it('retries a model that keeps failing with 500 `retries` times, then the fallback answers', async () => {
    fake.setRules([{ match: { model: 'fake-small' }, fault: '500' }]);
    const r = await chain('ollama/fake-small,openai/fake-large', 2).complete(question, 'trace-2');
    expect(r).toMatchObject({ model: 'openai/fake-large', content: 'echo: what is the status of prod?' });
    expect(requestsPerModel()).toEqual({ 'ollama/fake-small': 3, 'openai/fake-large': 1 });
    expect(calls).toEqual([
      ['ollama/fake-small', 'server_error'],
      ['ollama/fake-small', 'server_error'],
      ['ollama/fake-small', 'server_error'],
      ['openai/fake-large', 'ok'],
    ]);
  });

  it('retries the same model after one 429 and does not fall back', async () => {
    fake.setRules([{ match: { model: 'fake-small' }, fault: '429', retryAfterSeconds: 0, times: 1 }]);
    const r = await chain('openai/fake-small,ollama/fake-large', 2).complete(question, 'trace-3');
    expect(r.model).toBe('openai/fake-small');
    expect(requestsPerModel()).toEqual({ 'openai/fake-small': 2 });
    expect(calls.map(([, o]) => o)).toEqual(['rate_limited', 'ok']);
  });

  it('does not retry a model the server does not know; it goes straight to the fallback', async () => {
    const r = await chain('ollama/no-such-model,ollama/fake-large', 3).complete(question, 'trace-4');
    expect(r.model).toBe('ollama/fake-large');
    expect(requestsPerModel()).toEqual({ 'ollama/no-such-model': 1, 'ollama/fake-large': 1 });
    expect(calls).toEqual([
      ['ollama/no-such-model', 'client_error'],
      ['ollama/fake-large', 'ok'],
    ]);
  });

  it('fails with SB_ERR_ALL_MODELS_FAILED naming every model and its error when none answers', async () => {
    fake.setRules([{ fault: '500' }]);
    const err = await chain('ollama/fake-small,openai/fake-large,openai/no-such-model', 1)
      .complete(question, 'trace-5')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.ALL_MODELS_FAILED);
    const msg = (err as SwitchboardError).message;
    expect(msg).toMatch(/ollama\/fake-small: .*unexpected EOF/);
    expect(msg).toMatch(/openai\/fake-large: .*500/);
    expect(msg).toMatch(/openai\/no-such-model: .*does not exist/);
    // 2 tries each for the retryable failures, 1 for the unknown model.
    expect(requestsPerModel()).toEqual({
      'ollama/fake-small': 2,
      'openai/fake-large': 2,
      'openai/no-such-model': 1,
    });
  });

  it('honours the per-model timeout of the spec for a hanging model, then falls back', async () => {
    fake.setRules([{ match: { model: 'fake-small' }, fault: 'hang' }]);
    // The default timeout is long: only the spec's @300 can end the hanging calls this quickly.
    const c = chain('ollama/fake-small@300,openai/fake-large', 1, 60_000);
    expect(c.models.map((m) => m.timeoutMs)).toEqual([300, 60_000]);
    const started = performance.now();
    const r = await c.complete(question, 'trace-6');
    const elapsed = performance.now() - started;
    expect(r.model).toBe('openai/fake-large');
    expect(calls).toEqual([
      ['ollama/fake-small', 'timeout'],
      ['ollama/fake-small', 'timeout'],
      ['openai/fake-large', 'ok'],
    ]);
    expect(elapsed).toBeGreaterThanOrEqual(2 * 300 - 20);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('offers the tools to every model it tries, and returns the tool calls of the one that answered', async () => {
    fake.setRules([
      { match: { model: 'fake-small' }, fault: '500' },
      { toolCalls: [{ name: 'get_uptime', arguments: { host: 'db1' } }] },
    ]);
    const tools = [{ name: 'get_uptime', description: 'Uptime of a host', parameters: { type: 'object' } }];
    const r = await chain('ollama/fake-small,openai/fake-large', 0).complete(question, 'trace-7', { tools });
    expect(r.model).toBe('openai/fake-large');
    expect(r.toolCalls).toEqual([{ id: expect.any(String), name: 'get_uptime', arguments: { host: 'db1' } }]);
    expect(fake.calls.map((c) => c.tools)).toEqual([
      [{ type: 'function', function: tools[0] }],
      [{ type: 'function', function: tools[0] }],
    ]);
  });
});

describe('MODEL_CHAIN parsing', () => {
  it('reads provider, model and optional timeout; model names may hold slashes, colons and dots', () => {
    expect(parseModelChain('ollama/qwen2.5:0.5b,openai/meta-llama/Llama-3@60000')).toEqual([
      { provider: 'ollama', model: 'qwen2.5:0.5b' },
      { provider: 'openai', model: 'meta-llama/Llama-3', timeoutMs: 60000 },
    ]);
  });

  it('ignores blanks around entries and empty entries', () => {
    expect(parseModelChain(' ollama/a , ,openai/b@5 ')).toEqual([
      { provider: 'ollama', model: 'a' },
      { provider: 'openai', model: 'b', timeoutMs: 5 },
    ]);
  });

  it('keeps an @ that is not followed by a number as part of the model name', () => {
    expect(parseModelChain('openai/org@team/model')).toEqual([
      { provider: 'openai', model: 'org@team/model' },
    ]);
  });

  it('refuses an empty chain, with an example', () => {
    expect(() => parseModelChain(' , ')).toThrow(/at least one model, e\.g\. ollama\//);
  });

  it('refuses an entry without a provider, quoting it', () => {
    expect(() => parseModelChain('ollama/a,qwen2.5')).toThrow(/"qwen2\.5": expected provider\/model/);
    expect(() => parseModelChain('/qwen2.5')).toThrow(/"\/qwen2\.5": expected provider\/model/);
  });

  it('refuses an unknown provider, quoting the entry', () => {
    expect(() => parseModelChain('anthropic/claude')).toThrow(
      /"anthropic\/claude": provider must be ollama or openai/,
    );
  });

  it('blames the model name, not the provider, when the model is missing', () => {
    let msg = '';
    try {
      parseModelChain('ollama/');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('"ollama/"');
    expect(msg).not.toMatch(/provider must be/);
    expect(msg).toMatch(/model/i);
  });

  it('blames the timeout, not the provider, when the timeout is zero', () => {
    let msg = '';
    try {
      parseModelChain('ollama/fake-small@0');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain('"ollama/fake-small@0"');
    expect(msg).not.toMatch(/provider must be/);
    expect(msg).toMatch(/timeout/i);
  });

  it('stops the worker with a config error naming MODEL_CHAIN and the bad entry', () => {
    const env = {
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      DATABASE_URL: 'postgres://sb:sb@127.0.0.1/sb',
      MODEL_CHAIN: 'ollama/fake-small,gpt4',
    };
    expect(() => loadWorkerConfig(env)).toThrow(/MODEL_CHAIN: "gpt4": expected provider\/model/);
    const cfg = loadWorkerConfig({ ...env, MODEL_CHAIN: 'ollama/fake-small@300,openai/gpt-4o-mini' });
    expect(cfg.MODEL_CHAIN).toEqual([
      { provider: 'ollama', model: 'fake-small', timeoutMs: 300 },
      { provider: 'openai', model: 'gpt-4o-mini' },
    ]);
    // An OpenAI-compatible local server needs no key, but the SDK wants one.
    expect(cfg.OPENAI_API_KEY).toBe('unused');
  });
});
