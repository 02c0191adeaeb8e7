import { createLogger } from '@switchboard/core';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../../../../test/support/infra.ts';
import type { ChatMessage } from '../models/provider.ts';
import { createRedis } from './redis.ts';
import { ResponseCache } from './response-cache.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = createLogger('cache-test', 'error');

const messages = (question: string, system = 'You are helpful.'): ChatMessage[] => [
  { role: 'system', content: system },
  { role: 'user', content: question },
];

describe('ResponseCache on Redis', () => {
  let redis: Redis;
  let cache: ResponseCache;
  const prefix = uniqueName('sbtc');

  beforeAll(async () => {
    redis = createRedis(REDIS_URL, log, 'cache-test');
    await redis.connect();
    cache = new ResponseCache(redis, { prefix, log });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('misses, then serves the stored answer for the same prompt', async () => {
    const key = ResponseCache.key({ modelChain: 'ollama/fake-small', messages: messages('What is 2+2?') })!;
    expect(await cache.get(key)).toBeUndefined();
    expect(
      await cache.set(
        key,
        { content: '4', model: 'ollama/fake-small', promptTokens: 12, completionTokens: 1 },
        60,
      ),
    ).toBe(true);
    const hit = await cache.get(key);
    expect(hit).toMatchObject({
      content: '4',
      model: 'ollama/fake-small',
      promptTokens: 12,
      completionTokens: 1,
    });
    // The same prompt built again (another worker, another turn) finds it.
    const again = ResponseCache.key({ modelChain: 'ollama/fake-small', messages: messages('What is 2+2?') });
    expect(again).toBe(key);
    expect((await cache.get(again!))?.content).toBe('4');
    const ttl = await redis.pttl(`${prefix}:respcache:${key}`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('keys on the chain, the system prompt, the whole history and the tools offered', () => {
    const base = { modelChain: 'ollama/fake-small', messages: messages('hi') };
    const k = ResponseCache.key(base);
    const variants = [
      { ...base, modelChain: 'openai/gpt-4o-mini' },
      { ...base, messages: messages('hi', 'You are terse.') },
      { ...base, messages: messages('hi ') },
      {
        ...base,
        messages: [
          ...messages('earlier'),
          { role: 'assistant' as const, content: 'x' },
          ...messages('hi').slice(1),
        ],
      },
      { ...base, tools: ['http_fetch'] },
    ];
    const keys = variants.map((v) => ResponseCache.key(v));
    expect(new Set([k, ...keys]).size).toBe(variants.length + 1);
    // Tool order does not matter.
    expect(ResponseCache.key({ ...base, tools: ['files', 'shell'] })).toBe(
      ResponseCache.key({ ...base, tools: ['shell', 'files'] }),
    );
  });

  it('lets an entry expire after its TTL', async () => {
    const key = ResponseCache.key({ modelChain: 'ollama/fake-small', messages: messages('short-lived') })!;
    expect(await cache.set(key, { content: 'soon gone', model: 'ollama/fake-small' }, 0.3)).toBe(true);
    expect((await cache.get(key))?.content).toBe('soon gone');
    await waitFor('the entry to expire', async () => (await cache.get(key)) === undefined, 5_000);
  });

  it('never caches tool exchanges, tool-calling answers, a TTL of 0 or oversized answers', async () => {
    const withTools: ChatMessage[] = [
      ...messages('status?'),
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'c1', name: 'shell', arguments: { cmd: 'uptime' } }],
      },
      { role: 'tool', content: 'up 3 days', toolCallId: 'c1', name: 'shell' },
    ];
    expect(ResponseCache.key({ modelChain: 'ollama/fake-small', messages: withTools })).toBeUndefined();
    const key = ResponseCache.key({ modelChain: 'ollama/fake-small', messages: messages('status?') })!;
    const call = { id: 'c1', name: 'shell', arguments: {} };
    expect(await cache.set(key, { content: '', model: 'm', toolCalls: [call] }, 60)).toBe(false);
    expect(await cache.set(key, { content: 'fine', model: 'm' }, 0)).toBe(false);
    expect(await cache.set(key, { content: 'x'.repeat(300_000), model: 'm' }, 60)).toBe(false);
    expect(await cache.get(key)).toBeUndefined();
  });

  it('treats a damaged entry and an unreachable Redis as a miss', async () => {
    const key = ResponseCache.key({ modelChain: 'ollama/fake-small', messages: messages('damaged') })!;
    await redis.set(`${prefix}:respcache:${key}`, '{"content":', 'EX', 60);
    expect(await cache.get(key)).toBeUndefined();

    const down = createRedis('redis://127.0.0.1:1', log, 'cache-test-down');
    down.connect().catch(() => {});
    try {
      const offline = new ResponseCache(down, { prefix, log });
      expect(await offline.get(key)).toBeUndefined();
      expect(await offline.set(key, { content: 'x', model: 'm' }, 60)).toBe(false);
    } finally {
      down.disconnect();
    }
  });
});
