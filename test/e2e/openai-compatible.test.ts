import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';

describe('OpenAI-compatible API, driven by the official openai SDK', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let client: OpenAI;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: llm.url } }).start();
    client = new OpenAI({ baseURL: `${stack.web.url}/v1`, apiKey: stack.token, maxRetries: 0 });
  });
  afterAll(async () => {
    await stack?.stop();
    await llm?.close();
  });

  it('lists the assistant as a model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['switchboard']);
  });

  it('answers a non-streaming completion through the broker path, with the client history as context', async () => {
    const res = await client.chat.completions.create({
      model: 'switchboard',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'what is the disk usage?' },
      ],
    });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]?.message).toMatchObject({
      role: 'assistant',
      content: 'echo: what is the disk usage?',
    });
    expect(res.choices[0]?.finish_reason).toBe('stop');
    const call = llm.calls.find((c) => c.messages.at(-1)?.content === 'what is the disk usage?');
    expect(call?.messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'earlier question' },
      { role: 'assistant', content: 'earlier answer' },
      { role: 'user', content: 'what is the disk usage?' },
    ]);
  });

  it('streams a completion as server-sent events', async () => {
    const stream = await client.chat.completions.create({
      model: 'switchboard',
      messages: [{ role: 'user', content: `stream me ${'long text '.repeat(50)}` }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(`echo: stream me ${'long text '.repeat(50)}`);
    expect(chunks).toBeGreaterThan(2);
    expect(finish).toBe('stop');
  });

  it('refuses a wrong key, an unknown model and a conversation not ending with the user', async () => {
    const bad = new OpenAI({ baseURL: `${stack.web.url}/v1`, apiKey: 'wrong-key-wrong-key', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toMatchObject({ status: 401 });
    await expect(
      client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({ status: 404, message: expect.stringContaining('use "switchboard"') });
    await expect(
      client.chat.completions.create({
        model: 'switchboard',
        messages: [{ role: 'assistant', content: 'hi' }],
      }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('last message') });
    await expect(
      client.chat.completions.create({ model: 'switchboard', messages: [] }),
    ).rejects.toMatchObject({
      status: 400,
    });
  });

  // Last: it stops the ingress.
  it('on SIGTERM, ends a waiting completion at once with the id to fetch its answer later, and exits cleanly', async () => {
    llm.setLatency(20_000);
    const pending = client.chat.completions
      .create({ model: 'switchboard', messages: [{ role: 'user', content: 'slow question' }] })
      .then(
        () => undefined,
        (err: { status?: number; message?: string }) => err,
      );
    await waitFor('the model call to start', () =>
      llm.calls.some((c) => c.messages.at(-1)?.content === 'slow question'),
    );
    const started = Date.now();
    expect(await stack.web.kill('SIGTERM')).toBe(0);
    const err = await pending;
    expect(err?.status).toBe(504);
    expect(err?.message).toMatch(/still queued.*\/v1\/messages\/openai:/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
