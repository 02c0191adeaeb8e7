import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_EMBEDDING_DIMENSIONS, type FakeLlm, fakeEmbedding, startFakeLlm } from './server.ts';

let fake: FakeLlm;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  fake = await startFakeLlm({ models: ['fake-small', 'fake-embed'] });
  ollama = new Ollama({ host: fake.url });
  openai = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'unused', maxRetries: 0, logLevel: 'off' });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('fakeEmbedding', () => {
  it('is deterministic, unit length, and closer for texts sharing words', () => {
    const a = fakeEmbedding('restart the PostgreSQL database');
    expect(a).toHaveLength(FAKE_EMBEDDING_DIMENSIONS);
    expect(fakeEmbedding('restart the PostgreSQL database')).toEqual(a);
    expect(Math.hypot(...a)).toBeCloseTo(1, 10);
    const near = dot(a, fakeEmbedding('how to restart postgresql'));
    const far = dot(a, fakeEmbedding('renew the TLS certificate'));
    expect(near).toBeGreaterThan(far);
    // Han text is compared by character pairs, so rephrased Chinese still lands close.
    expect(dot(fakeEmbedding('如何重置VPN密码'), fakeEmbedding('VPN密码怎么重置'))).toBeGreaterThan(
      dot(fakeEmbedding('如何重置VPN密码'), fakeEmbedding('服务器权限申请')),
    );
  });
});

describe('embedding endpoints', () => {
  it('serves Ollama /api/embed and /api/embeddings through the ollama client', async () => {
    const res = await ollama.embed({ model: 'fake-embed', input: ['alpha beta', 'gamma'] });
    expect(res.embeddings).toEqual([fakeEmbedding('alpha beta'), fakeEmbedding('gamma')]);
    expect(res.model).toBe('fake-embed');
    const one = await ollama.embed({ model: 'fake-embed:latest', input: 'solo' });
    expect(one.embeddings).toEqual([fakeEmbedding('solo')]);
    const legacy = await ollama.embeddings({ model: 'fake-embed', prompt: 'old api' });
    expect(legacy.embedding).toEqual(fakeEmbedding('old api'));
    expect(fake.embeddingCalls.map((c) => [c.api, c.model, c.input])).toEqual([
      ['ollama', 'fake-embed', ['alpha beta', 'gamma']],
      ['ollama', 'fake-embed:latest', ['solo']],
      ['ollama', 'fake-embed', ['old api']],
    ]);
    // Chat calls are recorded apart.
    expect(fake.calls).toEqual([]);
  });

  it('serves OpenAI /v1/embeddings as floats and as the SDK default base64', async () => {
    const floats = await openai.embeddings.create({
      model: 'fake-embed',
      input: ['one', 'two'],
      encoding_format: 'float',
    });
    expect(floats.data.map((d) => d.embedding)).toEqual([fakeEmbedding('one'), fakeEmbedding('two')]);
    expect(floats.data.map((d) => d.index)).toEqual([0, 1]);
    expect(floats.usage.total_tokens).toBeGreaterThan(0);
    // Without encoding_format the SDK asks for base64 and decodes float32 itself.
    const decoded = await openai.embeddings.create({ model: 'fake-embed', input: 'three' });
    const want = fakeEmbedding('three');
    for (const [i, x] of decoded.data[0]!.embedding.entries()) expect(x).toBeCloseTo(want[i]!, 6);
  });

  it('answers unknown models and bad input like the real APIs', async () => {
    await expect(ollama.embed({ model: 'nope', input: 'x' })).rejects.toMatchObject({ status_code: 404 });
    await expect(openai.embeddings.create({ model: 'nope', input: 'x' })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    const bad = await fetch(`${fake.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-embed', input: [1, 2] }),
    });
    expect(bad.status).toBe(400);
    const badOllama = await fetch(`${fake.url}/api/embed`, {
      method: 'POST',
      body: JSON.stringify({ model: 'fake-embed', input: { not: 'text' } }),
    });
    expect(badOllama.status).toBe(400);
  });
});
