import { describe, expect, it } from 'vitest';
import { partitionOf } from './broker/partition.ts';
import { ENVELOPE_VERSION, newTraceId, parseInbound, parseOutbound } from './envelope.ts';
import { ErrorCodes, SwitchboardError } from './errors.ts';

function inbound(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: ENVELOPE_VERSION,
    kind: 'inbound',
    id: 'tg:bot1:1001',
    platform: 'telegram',
    botId: 'bot1',
    conversationId: 'chat-42',
    user: { id: 'u-7', name: 'Ada' },
    text: 'hello',
    receivedAt: '2025-01-02T03:04:05.000Z',
    traceId: 'a1b2c3',
    ...over,
  };
}

function outbound(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: ENVELOPE_VERSION,
    kind: 'outbound',
    id: 'reply:tg:bot1:1001',
    platform: 'telegram',
    botId: 'bot1',
    conversationId: 'chat-42',
    inReplyTo: 'tg:bot1:1001',
    text: 'hi there',
    status: 'ok',
    model: 'ollama/fake-small',
    createdAt: '2025-01-02T03:04:06.000Z',
    traceId: 'a1b2c3',
    ...over,
  };
}

/** The envelope error `fn` throws; fails the test when it throws nothing or something else. */
function envelopeError(fn: () => unknown): SwitchboardError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.ENVELOPE_INVALID);
    return err as SwitchboardError;
  }
  throw new Error('the envelope was accepted');
}

describe('inbound envelope', () => {
  it('parses a valid envelope and fills in defaults', () => {
    const env = parseInbound(inbound());
    expect(env).toMatchObject({
      id: 'tg:bot1:1001',
      platform: 'telegram',
      user: { id: 'u-7' },
      text: 'hello',
    });
    expect(env.attachments).toEqual([]);
  });

  it('survives a JSON round trip, as it does on the broker', () => {
    const env = parseInbound(
      inbound({
        attachments: [{ kind: 'image', url: 'https://files.example/1.png', size: 12 }],
        replyTo: 'tg:bot1:1000',
        context: [{ role: 'user', content: 'earlier' }],
      }),
    );
    expect(parseInbound(JSON.parse(JSON.stringify(env)))).toEqual(env);
  });

  it('refuses another version, naming the field', () => {
    const err = envelopeError(() => parseInbound(inbound({ v: 2 })));
    expect(err.message).toMatch(/invalid inbound envelope/);
    expect(err.message).toMatch(/expected 1\s+→ at v\b/);
  });

  it('refuses an envelope without a traceId, naming it', () => {
    const { traceId: _, ...env } = inbound();
    const err = envelopeError(() => parseInbound(env));
    expect(err.message).toMatch(/→ at traceId/);
  });

  it('refuses oversized text, naming the field and the limit', () => {
    const err = envelopeError(() => parseInbound(inbound({ text: 'x'.repeat(200_001) })));
    expect(err.message).toContain('text');
    expect(err.message).toContain('200000');
  });

  it('refuses an unknown platform, listing the known ones', () => {
    const err = envelopeError(() => parseInbound(inbound({ platform: 'myspace' })));
    expect(err.message).toContain('platform');
    expect(err.message).toContain('telegram');
  });

  it('refuses a receivedAt that is not an ISO timestamp', () => {
    const err = envelopeError(() => parseInbound(inbound({ receivedAt: 'yesterday' })));
    expect(err.message).toContain('receivedAt');
  });

  it('refuses an outbound envelope fed to the inbound parser', () => {
    const err = envelopeError(() => parseInbound(outbound()));
    expect(err.message).toContain('kind');
  });

  it('refuses something that is not an object at all', () => {
    envelopeError(() => parseInbound('hello'));
    envelopeError(() => parseInbound(null));
  });
});

describe('outbound envelope', () => {
  it('parses a valid reply', () => {
    const env = parseOutbound(outbound());
    expect(env).toMatchObject({ inReplyTo: 'tg:bot1:1001', status: 'ok', text: 'hi there' });
    expect(env.attachments).toEqual([]);
  });

  it('accepts an error reply without a model', () => {
    const { model: _, ...env } = outbound({ status: 'error' });
    expect(parseOutbound(env).status).toBe('error');
  });

  it('refuses an unknown status and a missing inReplyTo, naming both', () => {
    const { inReplyTo: _, ...env } = outbound({ status: 'maybe' });
    const err = envelopeError(() => parseOutbound(env));
    expect(err.message).toMatch(/invalid outbound envelope/);
    expect(err.message).toContain('status');
    expect(err.message).toContain('inReplyTo');
  });

  it('refuses a bad platform', () => {
    const err = envelopeError(() => parseOutbound(outbound({ platform: 'fax' })));
    expect(err.message).toContain('platform');
  });
});

describe('newTraceId', () => {
  it('gives distinct 32-hex-digit ids', () => {
    const ids = new Set(Array.from({ length: 100 }, newTraceId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('partitionOf', () => {
  it('is stable: the same key always maps to the same partition', () => {
    for (const key of ['telegram:bot1:chat-42', 'web:web:abc', 'slack:T1:C9']) {
      const p = partitionOf(key, 8);
      for (let i = 0; i < 5; i++) expect(partitionOf(key, 8)).toBe(p);
    }
    // Pinned values: every publisher in every process (and every release, during a rolling
    // upgrade) must agree, or one conversation's turns would be split across partitions.
    expect(['telegram:bot1:chat-42', 'web:web:abc', 'slack:T1:C9'].map((k) => partitionOf(k, 8))).toEqual([
      0, 2, 0,
    ]);
  });

  it('spreads 1000 conversations over 8 partitions, using every one, none badly overloaded', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf(`web:web:conversation-${i}`, 8);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(8);
      expect(Number.isInteger(p)).toBe(true);
      counts[p]!++;
    }
    expect(counts.every((c) => c > 0)).toBe(true);
    // 125 each on average; a reasonable hash stays well within a factor of two.
    expect(Math.max(...counts)).toBeLessThan(250);
    expect(Math.min(...counts)).toBeGreaterThan(60);
  });

  it('maps everything to partition 0 when there is one partition', () => {
    expect(partitionOf('anything', 1)).toBe(0);
  });
});
