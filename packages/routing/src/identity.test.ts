import type { InboundEnvelope } from '@switchboard/core';
import { describe, expect, it } from 'vitest';
import { canMatchOn, isStranger, parseQualifiedId, userMatches } from './identity.ts';

const env = (over: Partial<InboundEnvelope>): InboundEnvelope => ({
  v: 1,
  kind: 'inbound',
  id: 'm',
  platform: 'web',
  botId: 'b',
  conversationId: 'c',
  user: { id: 'u' },
  text: 't',
  attachments: [],
  receivedAt: new Date().toISOString(),
  traceId: 't',
  ...over,
});

describe('platform-qualified ids', () => {
  it('splits at the first colon only, so platform ids may contain colons', () => {
    expect(parseQualifiedId('slack:T1:U2', 'user')).toEqual({
      kind: 'platform',
      platform: 'slack',
      id: 'T1:U2',
    });
    expect(parseQualifiedId(':U1', 'user')).toMatch(/names no platform/);
    expect(parseQualifiedId('slack:', 'user')).toMatch(/names no platform/);
  });

  it('an internal id needs a verified platform to match, and a rule limited to claim platforms cannot hold one', () => {
    const q = parseQualifiedId('internal:7b7e0f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'user');
    if (typeof q === 'string') throw new Error(q);
    const internalId = '7b7e0f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    expect(userMatches(q, env({ platform: 'discord', user: { id: 'x', internalId } }))).toBe(true);
    for (const platform of ['web', 'api', 'openai'] as const) {
      expect(userMatches(q, env({ platform, user: { id: 'x', internalId } })), platform).toBe(false);
    }
    expect(canMatchOn(q, ['web', 'openai'])).toBe(false);
    expect(canMatchOn(q, ['web', 'slack'])).toBe(true);
  });
});

describe('isStranger', () => {
  it('on a chat platform only allowlisted or paired users are known; an unsaid standing is a stranger', () => {
    expect(isStranger(env({ platform: 'telegram', user: { id: '1', admitted: 'open' } }))).toBe(true);
    expect(isStranger(env({ platform: 'telegram', user: { id: '1' } }))).toBe(true);
    expect(isStranger(env({ platform: 'slack', user: { id: '1', admitted: 'paired' } }))).toBe(false);
    expect(isStranger(env({ platform: 'wecom', user: { id: '1', admitted: 'allowlisted' } }))).toBe(false);
  });

  it('web and API clients hold an API credential: never strangers', () => {
    for (const platform of ['web', 'api', 'openai'] as const) {
      expect(isStranger(env({ platform, user: { id: 'anyone' } })), platform).toBe(false);
    }
  });
});
