import { ErrorCodes } from '@switchboard/core';
import { type RateLimitData, RateLimitError } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { Answered429s, apiError } from './api-errors.ts';

const data = (url: string, method = 'POST'): RateLimitData => ({
  global: false,
  method,
  url,
  route: '/channels/:id/messages',
  majorParameter: '1574322786665627652',
  hash: 'h',
  limit: 5,
  timeToReset: 300,
  retryAfter: 250,
  sublimitTimeout: 0,
  scope: 'user',
});

describe('Answered429s', () => {
  const url = 'https://discord.com/api/v10/channels/1574322786665627652/messages';

  it('lets discord.js wait out its own pre-emptive bucket waits (no 429 was answered)', () => {
    expect(new Answered429s().take(data(url))).toBe(false);
  });

  it('rejects exactly once for each 429 Discord answered', () => {
    const t = new Answered429s();
    t.record('POST', '/channels/1574322786665627652/messages', 429);
    t.record('POST', '/channels/1574322786665627652/messages', 200);
    expect(t.take(data(url, 'GET'))).toBe(false);
    expect(t.take(data(url))).toBe(true);
    expect(t.take(data(url))).toBe(false);
  });
});

describe('apiError', () => {
  it("turns discord.js' RateLimitError into a retryable 429 with Discord's wait", () => {
    const err = apiError(new RateLimitError(data('https://x/api/v10/channels/1/messages')), 'send');
    expect(err).toMatchObject({
      status: 429,
      retryAfterMs: 250,
      retryable: true,
      code: ErrorCodes.PLATFORM_RATE_LIMITED,
    });
  });

  it('treats a network failure as retryable without a status', () => {
    const err = apiError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'send');
    expect(err).toMatchObject({ status: undefined, retryable: true, code: ErrorCodes.PLATFORM_API_FAILED });
    expect(err.message).toBe('discord: send: connect ECONNREFUSED');
  });
});
