/**
 * Item 10.5: JWTs at ingress-web, through the real process. The issuer and audience are pinned
 * (the service does not start without them), a token must say when it was issued and live at most
 * API_JWT_MAX_LIFETIME_S, and a WebSocket opened with a JWT is closed when the token expires. Every
 * refused token gets 401 with its reason and publishes nothing.
 */
import { type InboundEnvelope, inboundEnvelopeSchema } from '@switchboard/core';
import amqplib from 'amqplib';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { spawnService } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

const SECRET = 'hostile-jwt-secret-0123456789abcdefghijkl';
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'switchboard-web';

interface Claims {
  iss?: string | null;
  aud?: string | null;
  /** Seconds from now; null: no such claim. */
  iat?: number | null;
  exp?: number | null;
}

async function token(c: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('mallory');
  if (c.iss !== null) jwt.setIssuer(c.iss ?? ISSUER);
  if (c.aud !== null) jwt.setAudience(c.aud ?? AUDIENCE);
  if (c.iat !== null) jwt.setIssuedAt(now + (c.iat ?? 0));
  if (c.exp !== null) jwt.setExpirationTime(now + (c.exp ?? 300));
  return jwt.sign(new TextEncoder().encode(SECRET));
}

describe('hostile JWTs at ingress-web', () => {
  let stack: TestStack;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  const published = new Map<string, InboundEnvelope>();

  beforeAll(async () => {
    stack = await new TestStack({
      workers: 0,
      webEnv: {
        API_JWT_SECRET: SECRET,
        API_JWT_ISSUER: ISSUER,
        API_JWT_AUDIENCE: AUDIENCE,
        API_JWT_MAX_LIFETIME_S: '600',
        // No leeway: the socket closes at the token's own exp, which the test waits for.
        API_JWT_CLOCK_TOLERANCE_S: '0',
      },
    }).start();
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    for (let p = 0; p < 4; p++) {
      await ch.consume(
        `${stack.prefix}.agent.in.${p}`,
        (m) => {
          if (!m) return;
          const env = inboundEnvelopeSchema.parse(JSON.parse(m.content.toString()));
          published.set(env.id, env);
        },
        { noAck: true },
      );
    }
  });
  afterAll(async () => {
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await stack?.stop();
  });

  it('refuses tokens without aud or iss, with a wrong iss, without exp or iat, or living too long', async () => {
    const cases: Array<[string, Claims, RegExp]> = [
      ['no aud', { aud: null }, /JWT lacks the required "aud" claim/],
      ['no iss', { iss: null }, /JWT lacks the required "iss" claim/],
      ['wrong iss', { iss: 'https://idp.evil.test' }, /JWT "iss" claim check failed/],
      ['wrong aud', { aud: 'another-service' }, /JWT "aud" claim check failed/],
      ['no exp', { exp: null }, /JWT lacks the required "exp" claim/],
      ['no iat', { iat: null }, /JWT lacks the required "iat" claim/],
      [
        'a year long',
        { exp: 365 * 86_400 },
        /lifetime \(exp - iat\) is 31536000 s; at most 600 s is accepted/,
      ],
      ['issued in the future', { iat: 3_600, exp: 3_700 }, /JWT issued in the future \(iat\)/],
      ['issued long ago', { iat: -3_600, exp: 60 }, /JWT issued more than 600 s ago/],
    ];
    for (const [what, claims, reason] of cases) {
      const res = await postMessage(stack.web.url, await token(claims), {
        conversationId: 'hostile-jwt',
        text: `should not pass: ${what}`,
      });
      expect(res.status, what).toBe(401);
      expect(res.body.error?.code, what).toBe('SB_ERR_UNAUTHORIZED');
      expect(res.body.error?.message, what).toMatch(reason);
    }
    // A valid token afterwards is the only message that reached the broker.
    const ok = await postMessage(stack.web.url, await token(), {
      conversationId: 'hostile-jwt',
      text: 'valid',
    });
    expect(ok.status).toBe(202);
    await waitFor('the valid message on the broker', () => published.get(String(ok.body.id)));
    expect(
      [...published.values()].filter((e) => e.conversationId === 'hostile-jwt').map((e) => e.text),
    ).toEqual(['valid']);
  });

  it('closes a WebSocket, with code 4401 and the reason, when the JWT that opened it expires', async () => {
    const jwt = await token({ exp: 3 });
    const ws = new WebSocket(`${stack.web.url.replace(/^http/, 'ws')}/v1/ws`);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'auth', token: jwt, conversationId: 'hostile-ws' }));
    await waitFor('ready frame', () => frames.some((f) => f.type === 'ready'));
    ws.send(JSON.stringify({ type: 'message', text: 'while valid', id: 'c1' }));
    await waitFor('accepted frame', () => frames.find((f) => f.type === 'accepted' && f.clientId === 'c1'));

    const { code, reason, at } = await closed;
    expect(code).toBe(4401);
    expect(reason).toBe('token expired');
    const exp = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).exp as number;
    expect(at).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(frames).toContainEqual({
      type: 'error',
      code: 'SB_ERR_UNAUTHORIZED',
      message: 'JWT expired; reconnect with a fresh token',
    });
    expect(
      [...published.values()].filter((e) => e.conversationId === 'hostile-ws').map((e) => e.text),
    ).toEqual(['while valid']);
  });

  it('does not start when JWTs are on but the issuer or audience is not pinned, naming the key', async () => {
    const base = { ...stack.baseEnv, API_TOKENS: stack.token, API_JWT_SECRET: SECRET };
    await expect(
      spawnService('ingress-web', { ...base, API_JWT_ISSUER: ISSUER }, { readyTimeoutMs: 45_000 }),
    ).rejects.toThrow(/API_JWT_AUDIENCE: is required when JWTs are accepted/);
    await expect(
      spawnService('ingress-web', { ...base, API_JWT_AUDIENCE: AUDIENCE }, { readyTimeoutMs: 45_000 }),
    ).rejects.toThrow(/API_JWT_ISSUER: is required when JWTs are accepted/);
  });
});
