import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSwitchboardError } from '@switchboard/core';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenAuth } from './auth.ts';
import { jwtAlgorithms, loadWebConfig } from './config.ts';
import { JwtVerifier } from './jwt.ts';

const BASE_ENV = {
  AMQP_URL: 'amqp://127.0.0.1',
  DATABASE_URL: 'postgres://127.0.0.1/x',
  API_TOKENS: 'opaque-token-0123456789',
};

const ISS = 'https://idp.example.test';
const AUD = 'switchboard';
/** What every verifier here pins: issuer, audience, a one-hour lifetime cap. */
const PINNED = { issuer: ISS, audience: AUD, maxLifetimeSeconds: 3_600 };
const JWT_ENV = { API_JWT_ISSUER: ISS, API_JWT_AUDIENCE: AUD };

async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  o: { kid?: string; expIn?: number; iatIn?: number | null; iss?: string | null; aud?: string | null } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ team: 'ops' })
    .setProtectedHeader({ alg, kid: o.kid })
    .setSubject('svc-1')
    .setExpirationTime(now + (o.expIn ?? 60));
  if (o.iatIn !== null) jwt.setIssuedAt(now + (o.iatIn ?? 0));
  if (o.iss !== null) jwt.setIssuer(o.iss ?? ISS);
  if (o.aud !== null) jwt.setAudience(o.aud ?? AUD);
  return jwt.sign(key);
}

async function reason(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (!isSwitchboardError(err)) throw err;
    return { status: err.statusCode, message: err.message };
  }
  throw new Error('accepted');
}

describe('JWT settings', () => {
  it('defaults the pinned algorithm to the kind of key configured', () => {
    const secret = loadWebConfig({ ...BASE_ENV, ...JWT_ENV, API_JWT_SECRET: 'x'.repeat(32) });
    expect(jwtAlgorithms(secret)).toEqual(['HS256']);
    expect(secret.API_JWT_CLAIMS).toEqual(['sub']);
    expect(secret.API_JWT_MAX_LIFETIME_S).toBe(3_600);
    const jwks = loadWebConfig({
      ...BASE_ENV,
      ...JWT_ENV,
      API_JWT_JWKS_URL: 'https://idp.example.test/jwks',
    });
    expect(jwtAlgorithms(jwks)).toEqual(['RS256']);
    expect(JwtVerifier.fromConfig(loadWebConfig(BASE_ENV))).toBeUndefined();
  });

  it('refuses weak or contradictory JWT settings, naming the key', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ API_JWT_SECRET: 'too-short' }, /API_JWT_SECRET: must be at least 32 characters/],
      [
        { API_JWT_JWKS_URL: 'https://idp/jwks', API_JWT_ALGORITHMS: 'HS256' },
        /API_JWT_ALGORITHMS: HS256 need API_JWT_SECRET/,
      ],
      [{ API_JWT_SECRET: 'x'.repeat(32), API_JWT_ALGORITHMS: 'RS256' }, /public-key algorithms need/],
      [{ API_JWT_SECRET: 'x'.repeat(32), API_JWT_ALGORITHMS: 'none' }, /unknown algorithms none/],
      [{ API_JWT_PUBLIC_KEY: 'not a pem' }, /API_JWT_PUBLIC_KEY: must be a PEM public key/],
      [{ API_JWT_SECRET: 'x'.repeat(32), API_JWT_CLAIMS: 'sub,bad claim' }, /API_JWT_CLAIMS/],
    ];
    for (const [env, message] of bad) {
      expect(() => loadWebConfig({ ...BASE_ENV, ...JWT_ENV, ...env }), JSON.stringify(env)).toThrow(message);
    }
  });

  it('refuses to accept JWTs without a pinned issuer and audience, naming each missing key', () => {
    for (const key of ['API_JWT_SECRET', 'API_JWT_PUBLIC_KEY', 'API_JWT_JWKS_URL'] as const) {
      const value =
        key === 'API_JWT_SECRET'
          ? 'x'.repeat(32)
          : key === 'API_JWT_PUBLIC_KEY'
            ? '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'
            : 'https://idp.example.test/jwks';
      expect(() => loadWebConfig({ ...BASE_ENV, [key]: value }), key).toThrow(
        /API_JWT_ISSUER: is required when JWTs are accepted[\s\S]*API_JWT_AUDIENCE: is required when JWTs are accepted/,
      );
      expect(() => loadWebConfig({ ...BASE_ENV, API_JWT_ISSUER: ISS, [key]: value }), key).toThrow(
        /API_JWT_AUDIENCE: is required/,
      );
    }
    expect(() =>
      loadWebConfig({
        ...BASE_ENV,
        ...JWT_ENV,
        API_JWT_SECRET: 'x'.repeat(32),
        API_JWT_MAX_LIFETIME_S: '999999',
      }),
    ).toThrow(/API_JWT_MAX_LIFETIME_S/);
  });
});

describe('JwtVerifier with public keys', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwksServer: Server;
  let jwksUrl: string;
  let jwksHits = 0;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwksServer = createServer((_req, res) => {
      jwksHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((r) => jwksServer?.close(() => r())));

  it('verifies RS256 with a PEM public key and refuses HS256 signed with that key (algorithm confusion)', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const v = new JwtVerifier({
      publicKeyPem: pem,
      algorithms: ['RS256'],
      claims: ['sub', 'team'],
      clockToleranceSeconds: 0,
      ...PINNED,
    });
    expect(await v.verify(await sign(rsa.privateKey, 'RS256'))).toEqual({
      subject: 'svc-1',
      claims: { sub: 'svc-1', team: 'ops' },
      expiresAt: expect.any(Number),
    });
    // The public key used as an HMAC secret: the classic forgery, refused by the pinned algorithms.
    const forged = await sign(new TextEncoder().encode(pem), 'HS256');
    expect(await reason(v.verify(forged))).toEqual({
      status: 401,
      message: 'JWT algorithm not allowed (allowed: RS256)',
    });
    expect((await reason(v.verify(await sign(ec.privateKey, 'ES256')))).message).toMatch(/not allowed/);
  });

  it('verifies tokens against keys fetched from a JWKS URL', async () => {
    const v = new JwtVerifier({
      jwksUrl,
      algorithms: ['RS256', 'ES256'],
      claims: ['team'],
      clockToleranceSeconds: 0,
      ...PINNED,
    });
    expect((await v.verify(await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1' }))).claims).toEqual({
      team: 'ops',
    });
    expect((await v.verify(await sign(ec.privateKey, 'ES256', { kid: 'ec-1' }))).subject).toBe('svc-1');
    expect(jwksHits).toBe(1);
    const stranger = await generateKeyPair('RS256');
    expect(
      (await reason(v.verify(await sign(stranger.privateKey, 'RS256', { kid: 'other' })))).message,
    ).toMatch(/key the JWKS does not hold/);
    expect(
      (await reason(v.verify(await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1', expIn: -60 })))).message,
    ).toBe('JWT expired');
  });

  it('answers 503 when the JWKS cannot be fetched', async () => {
    const v = new JwtVerifier({
      jwksUrl: 'http://127.0.0.1:1/jwks',
      algorithms: ['RS256'],
      claims: [],
      clockToleranceSeconds: 0,
      ...PINNED,
    });
    expect(await reason(v.verify(await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1' })))).toEqual({
      status: 503,
      message: 'JWT keys unavailable; try again',
    });
  });

  it('lets TokenAuth accept opaque tokens and JWTs side by side', async () => {
    const auth = new TokenAuth(
      ['opaque-token-0123456789'],
      new JwtVerifier({
        jwksUrl,
        algorithms: ['RS256'],
        claims: ['team'],
        clockToleranceSeconds: 0,
        ...PINNED,
      }),
    );
    expect(await auth.requireBearer('Bearer opaque-token-0123456789')).toMatchObject({ kind: 'token' });
    const jwt = await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1' });
    expect(await auth.requireBearer(`Bearer ${jwt}`)).toEqual({
      kind: 'jwt',
      subject: 'svc-1',
      claims: { team: 'ops' },
      expiresAt: expect.any(Number),
    });
    expect((await reason(auth.requireBearer('Bearer not-a-known-token'))).message).toBe('invalid API token');
    expect((await reason(auth.requireBearer(undefined))).message).toMatch(/missing bearer token/);
    // Without a JWT key configured, a JWT is just an unknown token.
    expect(
      (await reason(new TokenAuth(['opaque-token-0123456789']).requireBearer(`Bearer ${jwt}`))).message,
    ).toBe('invalid API token');
  });
});

describe('JwtVerifier: pinned issuer and audience, bounded lifetime', () => {
  const secret = new TextEncoder().encode('y'.repeat(32));
  const v = new JwtVerifier({
    secret: 'y'.repeat(32),
    algorithms: ['HS256'],
    claims: [],
    clockToleranceSeconds: 0,
    ...PINNED,
  });

  it('refuses tokens without aud or iss, with the wrong ones, without iat, or living too long', async () => {
    const cases: Array<[string, Promise<string>, RegExp]> = [
      ['no aud', sign(secret, 'HS256', { aud: null }), /lacks the required "aud" claim/],
      ['no iss', sign(secret, 'HS256', { iss: null }), /lacks the required "iss" claim/],
      ['wrong aud', sign(secret, 'HS256', { aud: 'another-service' }), /"aud" claim check failed/],
      ['wrong iss', sign(secret, 'HS256', { iss: 'https://evil.test' }), /"iss" claim check failed/],
      ['no iat', sign(secret, 'HS256', { iatIn: null }), /lacks the required "iat" claim/],
      [
        'a day long',
        sign(secret, 'HS256', { expIn: 86_400 }),
        /lifetime \(exp - iat\) is 86400 s; at most 3600 s/,
      ],
      ['issued in the future', sign(secret, 'HS256', { iatIn: 600, expIn: 900 }), /issued in the future/],
      ['issued long ago', sign(secret, 'HS256', { iatIn: -7_200, expIn: 60 }), /issued more than 3600 s ago/],
    ];
    for (const [what, token, message] of cases) {
      const r = await reason(v.verify(await token));
      expect(r.status, what).toBe(401);
      expect(r.message, what).toMatch(message);
    }
    const ok = await v.verify(await sign(secret, 'HS256', { expIn: 3_600 }));
    expect(ok.expiresAt).toBeGreaterThan(Date.now());
  });
});
