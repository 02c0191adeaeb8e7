import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeLlm } from './server.ts';
import { startFakeLlm } from './server.ts';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let fake: FakeLlm;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  fake = await startFakeLlm();
  ollama = new Ollama({ host: fake.url });
  // logLevel off: the SDK logs the raw chunk before rethrowing on malformed SSE.
  openai = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'unused', maxRetries: 0, logLevel: 'off' });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

describe('Ollama API', () => {
  it('echoes the last user message without streaming', async () => {
    const res = await ollama.chat({
      model: 'fake-small',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'echo: first' },
        { role: 'user', content: 'hello there' },
      ],
    });
    expect(res.message).toEqual({ role: 'assistant', content: 'echo: hello there' });
    expect(res.done).toBe(true);
    expect(res.done_reason).toBe('stop');
    expect(res.eval_count).toBeGreaterThan(0);
    expect(res.prompt_eval_count).toBeGreaterThan(0);
    expect(res.total_duration).toBeGreaterThan(0);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({
      api: 'ollama',
      model: 'fake-small',
      stream: false,
      tools: undefined,
    });
    expect(fake.calls[0]?.messages.at(-1)).toEqual({ role: 'user', content: 'hello there' });
  });

  it('streams NDJSON chunks ending with a done chunk', async () => {
    const stream = await ollama.chat({
      model: 'fake-large',
      messages: [{ role: 'user', content: 'one two three' }],
      stream: true,
    });
    const parts: string[] = [];
    let last: Awaited<ReturnType<typeof ollama.chat>> | undefined;
    for await (const part of stream) {
      if (!part.done) parts.push(part.message.content);
      last = part;
    }
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join('')).toBe('echo: one two three');
    expect(last).toMatchObject({ done: true, done_reason: 'stop', model: 'fake-large' });
    expect(last?.eval_count).toBe(parts.length);
    expect(fake.calls[0]?.stream).toBe(true);
  });

  it('streams when `stream` is omitted, as Ollama does', async () => {
    const res = await fetch(`${fake.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text()).trim().split('\n');
    const chunks = lines.map((l) => JSON.parse(l) as { done: boolean; message: { content: string } });
    expect(chunks.at(-1)?.done).toBe(true);
    expect(chunks.map((c) => c.message.content).join('')).toBe('echo: x');
    expect(fake.calls[0]?.stream).toBe(true);
  });

  it('returns scripted tool calls with object arguments', async () => {
    fake.setRules([
      { match: { contains: 'weather' }, toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
    ]);
    const res = await ollama.chat({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'what is the weather in Paris?' }],
      tools: [weatherTool],
    });
    expect(res.message.tool_calls).toEqual([
      { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
    ]);
    expect(res.message.content).toBe('');
    expect(fake.calls[0]?.tools).toEqual([weatherTool]);

    const stream = await ollama.chat({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather again' }],
      tools: [weatherTool],
      stream: true,
    });
    const calls = [];
    for await (const part of stream) calls.push(...(part.message.tool_calls ?? []));
    expect(calls).toEqual([{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }]);
  });

  it('sends rawArguments where the arguments object belongs, as a broken model would', async () => {
    fake.setRules([{ toolCalls: [{ name: 'get_weather', arguments: {}, rawArguments: '{"city": "Par' }] }]);
    const res = await ollama.chat({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather' }],
      tools: [weatherTool],
      stream: false,
    });
    expect(res.message.tool_calls).toEqual([
      { function: { name: 'get_weather', arguments: '{"city": "Par' } },
    ]);
  });

  it('lists models, reports a version and rejects unknown models like Ollama', async () => {
    const list = await ollama.list();
    expect(list.models.map((m) => m.name)).toEqual(['fake-small:latest', 'fake-large:latest']);
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+$/);
    // `name:latest` and `name` are the same model to Ollama.
    await expect(
      ollama.chat({ model: 'fake-small:latest', messages: [{ role: 'user', content: 'hi' }] }),
    ).resolves.toMatchObject({ model: 'fake-small:latest' });
    await expect(ollama.chat({ model: 'llama9', messages: [] })).rejects.toMatchObject({
      name: 'ResponseError',
      status_code: 404,
      error: 'model "llama9" not found, try pulling it first',
    });
  });
});

describe('OpenAI API', () => {
  it('answers a chat.completion with usage', async () => {
    const res = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
      temperature: 0.2,
    });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]?.message.content).toBe('echo: hello');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage?.total_tokens).toBe(
      (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0),
    );
    expect(res._request_id).toMatch(/^req_/);
    expect(fake.calls[0]).toMatchObject({ api: 'openai', model: 'fake-small', stream: false });
    expect(fake.calls[0]?.body.temperature).toBe(0.2);
  });

  it('streams SSE chunks with a usage chunk when asked', async () => {
    const stream = await openai.chat.completions.create({
      model: 'fake-large',
      messages: [{ role: 'user', content: 'stream me please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finishes.push(c.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('echo: stream me please');
    expect(chunks).toBeGreaterThan(3);
    expect(finishes.at(-1)).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('returns tool calls with JSON-string arguments, streamed as indexed deltas', async () => {
    fake.setRules([
      {
        match: { api: 'openai' },
        toolCalls: [
          { name: 'get_weather', arguments: { city: 'Paris' } },
          { name: 'get_time', arguments: { zone: 'Europe/Paris', verbose: true } },
        ],
      },
    ]);
    const res = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather and time' }],
      tools: [weatherTool],
    });
    const choice = res.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const calls = choice?.message.tool_calls ?? [];
    expect(
      calls.map((c) => c.type === 'function' && [c.function.name, JSON.parse(c.function.arguments)]),
    ).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_time', { zone: 'Europe/Paris', verbose: true }],
    ]);
    expect(calls[0]?.id).toMatch(/^call_/);

    // The SDK's stream helper reassembles deltas by index: a faithful stream survives it.
    const runner = openai.chat.completions.stream({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather and time' }],
      tools: [weatherTool],
    });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    const streamed = final.choices[0]?.message.tool_calls ?? [];
    expect(streamed.map((c) => c.type === 'function' && JSON.parse(c.function.arguments))).toEqual([
      { city: 'Paris' },
      { zone: 'Europe/Paris', verbose: true },
    ]);
  });

  it('sends rawArguments verbatim as the arguments string, whole and streamed', async () => {
    fake.setRules([{ toolCalls: [{ name: 'get_weather', arguments: {}, rawArguments: '{"city": "Par' }] }]);
    const res = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather' }],
      tools: [weatherTool],
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.arguments).toBe('{"city": "Par');

    const stream = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'weather' }],
      tools: [weatherTool],
      stream: true,
    });
    let args = '';
    for await (const chunk of stream) {
      for (const c of chunk.choices[0]?.delta.tool_calls ?? []) args += c.function?.arguments ?? '';
    }
    expect(args).toBe('{"city": "Par');
  });

  it('lists and retrieves models, and 404s an unknown one', async () => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toEqual(['fake-small', 'fake-large']);
    expect((await openai.models.retrieve('fake-large')).id).toBe('fake-large');
    await expect(
      openai.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    expect(fake.calls).toHaveLength(1);
  });

  it('rejects bad requests in the OpenAI error format', async () => {
    const res = await fetch(`${fake.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-small' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'missing_required_parameter',
      },
    });
  });
});

describe('bearer auth', () => {
  it('401s a missing or wrong key on /v1 only', async () => {
    const secured = await startFakeLlm({ apiKey: 'sk-test-123456789' });
    try {
      const wrong = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-wrong-000000', maxRetries: 0 });
      const err = await wrong.models.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });

      const missing = await fetch(`${secured.url}/v1/models`);
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');

      const right = new OpenAI({ baseURL: `${secured.url}/v1`, apiKey: 'sk-test-123456789', maxRetries: 0 });
      const res = await right.chat.completions.create({
        model: 'fake-small',
        messages: [{ role: 'user', content: 'authorised' }],
      });
      expect(res.choices[0]?.message.content).toBe('echo: authorised');

      // Ollama has no auth.
      const local = new Ollama({ host: secured.url });
      expect((await local.chat({ model: 'fake-small', messages: [] })).message.content).toBe('echo: ');
    } finally {
      await secured.close();
    }
  });
});

describe('rules', () => {
  it('picks the first matching rule by api, model and substring', async () => {
    fake.setRules([
      { match: { api: 'ollama', contains: 'ping' }, reply: 'ollama pong' },
      { match: { model: 'fake-large' }, reply: 'large says hi' },
      { match: { contains: 'ping' }, reply: 'pong' },
    ]);
    const o = await ollama.chat({ model: 'fake-large', messages: [{ role: 'user', content: 'ping?' }] });
    expect(o.message.content).toBe('ollama pong');
    const large = await openai.chat.completions.create({
      model: 'fake-large',
      messages: [{ role: 'user', content: 'ping?' }],
    });
    expect(large.choices[0]?.message.content).toBe('large says hi');
    const small = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'ping?' }],
    });
    expect(small.choices[0]?.message.content).toBe('pong');
    const other = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'nothing scripted' }],
    });
    expect(other.choices[0]?.message.content).toBe('echo: nothing scripted');
  });

  it('exhausts a rule after `times` and falls through', async () => {
    fake.setRules([{ reply: 'scripted', times: 2 }]);
    const ask = async () =>
      (await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'q' }] })).message
        .content;
    expect([await ask(), await ask(), await ask()]).toEqual(['scripted', 'scripted', 'echo: q']);
    fake.setRules([{ reply: 'scripted', times: 1 }]);
    expect(await ask()).toBe('scripted');
  });

  it('delays replies by the configured latency', async () => {
    fake.setLatency(60);
    const t0 = performance.now();
    await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'slow' }] });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    fake.setRules([{ latencyMs: 0 }]);
    const t1 = performance.now();
    await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'fast' }] });
    expect(performance.now() - t1).toBeLessThan(55);
  });

  it('spaces streamed chunks by chunkDelayMs', async () => {
    fake.setRules([{ reply: 'a b c', chunkDelayMs: 25 }]);
    const stream = await ollama.chat({ model: 'fake-small', messages: [], stream: true });
    const seen: number[] = [];
    for await (const _ of stream) seen.push(performance.now());
    expect(seen).toHaveLength(4);
    expect((seen.at(-1) ?? 0) - (seen[0] ?? 0)).toBeGreaterThanOrEqual(60);
  });

  it('throws on an invalid rule', () => {
    expect(() => fake.setRules([{ fault: 'teapot' } as never])).toThrow(/fault/);
  });
});

describe('faults', () => {
  it('429 is a RateLimitError with retry-after, and a ResponseError to ollama', async () => {
    fake.setRules([{ fault: '429', retryAfterSeconds: 7 }]);
    const err = await openai.chat.completions
      .create({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('7');
    await expect(ollama.chat({ model: 'fake-small', messages: [] })).rejects.toMatchObject({
      status_code: 429,
    });
  });

  it('429 with times lets the SDK retry its way to a reply', async () => {
    fake.setRules([{ fault: '429', retryAfterSeconds: 0, times: 1 }]);
    const retrying = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'unused', maxRetries: 1 });
    const res = await retrying.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'again' }],
    });
    expect(res.choices[0]?.message.content).toBe('echo: again');
    expect(fake.calls).toHaveLength(2);
  });

  it('500 is an InternalServerError / ResponseError', async () => {
    fake.setRules([{ fault: '500' }]);
    await expect(
      openai.chat.completions.create({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(ollama.chat({ model: 'fake-small', messages: [] })).rejects.toMatchObject({
      status_code: 500,
    });
  });

  it('malformed bodies and chunks break both clients', async () => {
    fake.setRules([{ fault: 'malformed' }]);
    await expect(
      openai.chat.completions.create({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toThrow(SyntaxError);
    await expect(ollama.chat({ model: 'fake-small', messages: [] })).rejects.toThrow(SyntaxError);

    const stream = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await expect(drain(stream)).rejects.toThrow(SyntaxError);

    // ollama-js skips unparsable lines with a warning, then notices the stream never finished.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const ostream = await ollama.chat({ model: 'fake-small', messages: [], stream: true });
      await expect(drain(ostream)).rejects.toThrow(/Did not receive done/);
      expect(warn).toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('disconnect cuts the response mid-way', async () => {
    fake.setRules([{ fault: 'disconnect' }]);
    // Both SDKs surface undici's own `TypeError: terminated`, not an error class of their own.
    await expect(
      openai.chat.completions.create({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toThrow(/terminated/);
    const stream = await openai.chat.completions.create({
      model: 'fake-small',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await expect(drain(stream)).rejects.toThrow(/terminated/);
    await expect(ollama.chat({ model: 'fake-small', messages: [] })).rejects.toThrow(/terminated/);
    const ostream = await ollama.chat({ model: 'fake-small', messages: [], stream: true });
    await expect(drain(ostream)).rejects.toThrow(/terminated/);
  });

  it('hang never answers: clients time out, and close() still returns', async () => {
    const hanging = await startFakeLlm({ rules: [{ fault: 'hang' }] });
    try {
      const client = new OpenAI({ baseURL: `${hanging.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 150 });
      await expect(
        client.chat.completions.create({ model: 'fake-small', messages: [{ role: 'user', content: 'x' }] }),
      ).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);

      // ollama-js takes no signal for a non-streamed chat; a fetch wrapper adds one.
      const timed = new Ollama({
        host: hanging.url,
        fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(150) }),
      });
      await expect(timed.chat({ model: 'fake-small', messages: [] })).rejects.toThrow(/abort|timeout/i);
      expect(hanging.calls).toHaveLength(2);

      const pending = fetch(`${hanging.url}/api/chat`, {
        method: 'POST',
        body: JSON.stringify({ model: 'fake-small', messages: [] }),
      });
      // The request is in flight once the fake has recorded it.
      await vi.waitFor(() => expect(hanging.calls).toHaveLength(3), { interval: 5 });
      await hanging.close();
      await expect(pending).rejects.toThrow();
    } finally {
      await hanging.close();
    }
  });
});

describe('control endpoints and options', () => {
  it('sets rules and latency, lists calls and resets over HTTP', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${fake.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

    const bad = await post('/_fake/rules', [{ match: { contans: 'typo' } }]);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/contans/);
    expect((await post('/_fake/rules', { not: 'an array' })).status).toBe(400);
    expect((await post('/_fake/latency', { ms: -1 })).status).toBe(400);

    expect((await post('/_fake/rules', [{ reply: 'over http' }])).status).toBe(200);
    expect((await post('/_fake/latency', { ms: 0 })).status).toBe(200);
    const res = await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.message.content).toBe('over http');

    const calls = (await (await fetch(`${fake.url}/_fake/calls`)).json()) as { model: string }[];
    expect(calls.map((c) => c.model)).toEqual(['fake-small']);

    expect((await post('/_fake/reset', {})).status).toBe(200);
    expect(fake.calls).toHaveLength(0);
    const after = await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'hi' }] });
    expect(after.message.content).toBe('echo: hi');
  });

  it('serves configured models, any model on request, and records nothing when told', async () => {
    const custom = await startFakeLlm({ models: ['m1'], acceptAnyModel: true, recordCalls: false });
    try {
      const client = new Ollama({ host: custom.url });
      expect((await client.list()).models.map((m) => m.name)).toEqual(['m1:latest']);
      const res = await client.chat({ model: 'whatever', messages: [{ role: 'user', content: 'any' }] });
      expect(res.message.content).toBe('echo: any');
      expect(custom.calls).toHaveLength(0);
    } finally {
      await custom.close();
    }
  });
});

describe('standalone entry', () => {
  it('prints its URL, serves, and exits cleanly on SIGTERM', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
    const child = spawn(tsx, [main, '--port', '0', '--no-record'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout });
      const [first] = (await once(lines, 'line')) as [string];
      const { url } = JSON.parse(first) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await new Ollama({ host: url }).chat({
        model: 'fake-small',
        messages: [{ role: 'user', content: 'up' }],
      });
      expect(res.message.content).toBe('echo: up');
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // consume
  }
}
