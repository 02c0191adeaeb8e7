import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';

/** Pairing codes are six digits: short enough to read out over the phone, and only 3 tries each. */
export const PAIRING_CODE_DIGITS = 6;

// NOTE: a six-digit code hashed with a fast hash is reversed in milliseconds by anyone who reads the
// table (a leaked backup); scrypt with a per-request salt makes each guess cost ~tens of ms of CPU
// and 16 MB of memory, which a ten-minute code outlives.
const N = 16_384;
const R = 8;
const P = 1;
const KEY_LEN = 32;

function derive(code: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(code, salt, KEY_LEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A fresh one-time code, uniformly random. */
export function generatePairingCode(): string {
  return String(randomInt(0, 10 ** PAIRING_CODE_DIGITS)).padStart(PAIRING_CODE_DIGITS, '0');
}

/**
 * The code as the user typed it, or undefined when the message is not a code at all. Spaces and
 * dashes are dropped because people copy "482 913" or "482-913" from what they were told.
 */
export function asPairingCode(text: string): string | undefined {
  const compact = text.replace(/[\s-]/g, '');
  return new RegExp(`^\\d{${PAIRING_CODE_DIGITS}}$`).test(compact) ? compact : undefined;
}

/** `scrypt$N$r$p$salt$hash`, parameters kept with the hash so they can be raised later. */
export async function hashPairingCode(code: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(code, salt, N, R, P);
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Compares in constant time; a malformed stored hash never matches. */
export async function verifyPairingCode(code: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(code, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
