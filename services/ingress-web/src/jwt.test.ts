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

async function sign(key: CryptoKey | Uint8Array, alg: string, o: { kid?: string; expIn?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ team: 'ops' })
    .setProtectedHeader({ alg, kid: o.kid })
    .setSubject('svc-1')
    .setExpirationTime(now + (o.expIn ?? 60))
    .sign(key);
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
    const secret = loadWebConfig({ ...BASE_ENV, API_JWT_SECRET: 'x'.repeat(32) });
    expect(jwtAlgorithms(secret)).toEqual(['HS256']);
    expect(secret.API_JWT_CLAIMS).toEqual(['sub']);
    const jwks = loadWebConfig({ ...BASE_ENV, API_JWT_JWKS_URL: 'https://idp.example.test/jwks' });
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
      expect(() => loadWebConfig({ ...BASE_ENV, ...env }), JSON.stringify(env)).toThrow(message);
    }
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
    });
    expect(await v.verify(await sign(rsa.privateKey, 'RS256'))).toEqual({
      subject: 'svc-1',
      claims: { sub: 'svc-1', team: 'ops' },
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
    });
    expect(await reason(v.verify(await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1' })))).toEqual({
      status: 503,
      message: 'JWT keys unavailable; try again',
    });
  });

  it('lets TokenAuth accept opaque tokens and JWTs side by side', async () => {
    const auth = new TokenAuth(
      ['opaque-token-0123456789'],
      new JwtVerifier({ jwksUrl, algorithms: ['RS256'], claims: ['team'], clockToleranceSeconds: 0 }),
    );
    expect(await auth.requireBearer('Bearer opaque-token-0123456789')).toMatchObject({ kind: 'token' });
    const jwt = await sign(rsa.privateKey, 'RS256', { kid: 'rsa-1' });
    expect(await auth.requireBearer(`Bearer ${jwt}`)).toEqual({
      kind: 'jwt',
      subject: 'svc-1',
      claims: { team: 'ops' },
    });
    expect((await reason(auth.requireBearer('Bearer not-a-known-token'))).message).toBe('invalid API token');
    expect((await reason(auth.requireBearer(undefined))).message).toMatch(/missing bearer token/);
    // Without a JWT key configured, a JWT is just an unknown token.
    expect(
      (await reason(new TokenAuth(['opaque-token-0123456789']).requireBearer(`Bearer ${jwt}`))).message,
    ).toBe('invalid API token');
  });
});
