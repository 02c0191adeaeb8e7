import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureError } from '@switchboard/connector';

/** DingTalk refuses callbacks whose timestamp is more than an hour off; so do we. */
export const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

/** base64(HMAC-SHA256(key = AppSecret, data = timestamp + "\n" + AppSecret)), as DingTalk signs callbacks. */
export function signCallback(timestamp: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(`${timestamp}\n${appSecret}`, 'utf8').digest('base64');
}

/**
 * Checks a callback's `timestamp` and `sign` headers. Throws {@link SignatureError} (answered 401)
 * when either is missing, the timestamp is stale or the signature does not match.
 */
export function verifyCallback(
  headers: Record<string, string | string[] | undefined>,
  appSecret: string,
  now = Date.now(),
): void {
  const timestamp = single(headers.timestamp);
  const sign = single(headers.sign);
  if (!timestamp || !sign) throw new SignatureError('missing timestamp or sign header');
  if (!/^\d{10,16}$/.test(timestamp)) throw new SignatureError('timestamp header is not a millisecond epoch');
  if (Math.abs(now - Number(timestamp)) > MAX_CLOCK_SKEW_MS) {
    throw new SignatureError('timestamp is more than one hour off');
  }
  const expected = Buffer.from(signCallback(timestamp, appSecret), 'utf8');
  const given = Buffer.from(sign, 'utf8');
  // NOTE: the lengths are compared first because timingSafeEqual throws on unequal lengths; the
  // length of a base64 HMAC-SHA256 is public anyway.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SignatureError('sign does not match');
  }
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
