import { SignatureError } from '@switchboard/connector';
import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS, signCallback, verifyCallback } from './signature.ts';

const SECRET = 'testSecret';
const TS = '1577262236757';
// Computed independently (Python hmac/hashlib/base64) from DingTalk's documented algorithm.
const SIGN = '0431bROcy3P4TvkuAWQd26NTs2mezxntsOPivdEPEaI=';
const NOW = Number(TS) + 1_000;

describe('DingTalk callback signature', () => {
  it('matches the documented algorithm', () => {
    expect(signCallback(TS, SECRET)).toBe(SIGN);
  });

  it('accepts a correctly signed, fresh callback', () => {
    expect(() => verifyCallback({ timestamp: TS, sign: SIGN }, SECRET, NOW)).not.toThrow();
    expect(() => verifyCallback({ timestamp: [TS], sign: [SIGN] }, SECRET, NOW)).not.toThrow();
  });

  it.each([
    ['a sign made with another secret', { timestamp: TS, sign: signCallback(TS, 'other') }],
    ['a sign for another timestamp', { timestamp: String(Number(TS) + 1), sign: SIGN }],
    ['a truncated sign', { timestamp: TS, sign: SIGN.slice(0, 20) }],
    ['no sign', { timestamp: TS }],
    ['no timestamp', { sign: SIGN }],
    ['a timestamp that is not a number', { timestamp: 'yesterday', sign: SIGN }],
  ])('refuses %s', (_what, headers) => {
    expect(() => verifyCallback(headers, SECRET, NOW)).toThrow(SignatureError);
  });

  it('refuses a timestamp more than an hour off, either way', () => {
    const headers = { timestamp: TS, sign: SIGN };
    expect(() => verifyCallback(headers, SECRET, Number(TS) + MAX_CLOCK_SKEW_MS - 1)).not.toThrow();
    expect(() => verifyCallback(headers, SECRET, Number(TS) + MAX_CLOCK_SKEW_MS + 1)).toThrow(/hour/);
    expect(() => verifyCallback(headers, SECRET, Number(TS) - MAX_CLOCK_SKEW_MS - 1)).toThrow(/hour/);
  });

  it('answers 401 through the error it throws', () => {
    try {
      verifyCallback({}, SECRET, NOW);
      expect.unreachable();
    } catch (err) {
      expect((err as SignatureError).statusCode).toBe(401);
      expect((err as SignatureError).code).toBe('SB_ERR_SIGNATURE_INVALID');
    }
  });
});
