/**
 * API clients with JWTs, through the real ingress-web process: a valid token's whitelisted claims
 * arrive in the envelope on the broker (read here from the inbound queues, with no worker running);
 * a bad, expired or mis-addressed token is refused with its reason and publishes nothing; the
 * opaque API tokens keep working beside JWTs.
 */
import { type InboundEnvelope, inboundEnvelopeSchema } from '@switchboard/core';
import amqplib from 'amqplib';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient, postMessage } from '../support/web-client.ts';

const SECRET = 'jwt-test-secret-0123456789abcdefghijklmnop';
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'switchboard';

interface TokenOptions {
  claims?: Record<string, unknown>;
  secret?: string;
  alg?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; null: no exp claim. */
  expiresIn?: number | null;
  notBeforeIn?: number;
  /** false: no iat claim. */
  issuedAt?: false;
}

async function token(o: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ team: 'ops', role: 'admin', level: 3, admin: true, ...o.claims })
    .setProtectedHeader({ alg: o.alg ?? 'HS256', typ: 'JWT' })
    .setSubject('user-7')
    .setIssuer(o.issuer ?? ISSUER)
    .setAudience(o.audience ?? AUDIENCE);
  if (o.issuedAt !== false) jwt.setIssuedAt(now);
  if (o.expiresIn !== null) jwt.setExpirationTime(now + (o.expiresIn ?? 300));
  if (o.notBeforeIn !== undefined) jwt.setNotBefore(now + o.notBeforeIn);
  return jwt.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

describe('API clients authenticated by JWT', () => {
  let stack: TestStack;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  const published = new Map<string, InboundEnvelope>();

  async function envelope(id: string): Promise<InboundEnvelope> {
    return waitFor(`envelope ${id} on the inbound queues`, () => published.get(id));
  }

  beforeAll(async () => {
    stack = await new TestStack({
      workers: 0,
      webEnv: {
        API_JWT_SECRET: SECRET,
        API_JWT_ISSUER: ISSUER,
        API_JWT_AUDIENCE: AUDIENCE,
        API_JWT_CLAIMS: 'sub,team,role,level,admin,groups',
        CHAT_COMPLETIONS_TIMEOUT_MS: '1000',
      },
    }).start();
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    // This suite stands in for the agent-worker: it consumes every inbound partition.
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

  it('carries the whitelisted claims of a valid JWT into the envelope', async () => {
    const jwt = await token({ claims: { email: 'not-whitelisted@example.test', groups: ['a', 'b'] } });
    const res = await postMessage(stack.web.url, jwt, { conversationId: 'jwt-1', text: 'hello with claims' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const env = await envelope(String(res.body.id));
    // Arrays (groups) and claims off the list (email) are left out.
    expect(env.claims).toEqual({ sub: 'user-7', team: 'ops', role: 'admin', level: 3, admin: true });
    // Without a user in the body, the token's subject is the user.
    expect(env.user.id).toBe('user-7');

    const named = await postMessage(stack.web.url, jwt, {
      conversationId: 'jwt-1',
      text: 'for an end user',
      user: { id: 'end-user-1' },
    });
    const env2 = await envelope(String(named.body.id));
    expect(env2.user.id).toBe('end-user-1');
    expect(env2.claims?.team).toBe('ops');
  });

  it('keeps the opaque API tokens working, with no claims', async () => {
    const res = await postMessage(stack.web.url, stack.token, { conversationId: 'jwt-2', text: 'opaque' });
    expect(res.status).toBe(202);
    const env = await envelope(String(res.body.id));
    expect(env.claims).toBeUndefined();
    expect(env.user.id).toBe('api');
  });

  it('refuses bad, expired and mis-addressed JWTs with a reason, publishing nothing', async () => {
    const before = published.size;
    const cases: Array<[string, string, RegExp]> = [
      ['expired', await token({ expiresIn: -120 }), /JWT expired/],
      ['not yet valid', await token({ notBeforeIn: 600 }), /not valid yet/],
      ['wrong audience', await token({ audience: 'someone-else' }), /"aud" claim check failed/],
      ['wrong issuer', await token({ issuer: 'https://evil.test' }), /"iss" claim check failed/],
      ['wrong secret', await token({ secret: 'another-secret-another-secret-another' }), /signature invalid/],
      ['algorithm not pinned', await token({ alg: 'HS512' }), /algorithm not allowed/],
      ['no expiry', await token({ expiresIn: null }), /"exp"/],
      ['no issued-at', await token({ issuedAt: false }), /lacks the required "iat" claim/],
      [
        'lives too long',
        await token({ expiresIn: 2 * 86_400 }),
        /lifetime \(exp - iat\) is 172800 s; at most 3600 s/,
      ],
      ['malformed', 'bm90IGpzb24.bm90IGpzb24.c2ln', /malformed JWT/],
      ['garbage signature', 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln', /signature invalid/],
      ['unsigned (alg none)', `${b64({ alg: 'none' })}.${b64({ sub: 'x', exp: 9e9 })}.`, /invalid API token/],
    ];
    for (const [what, jwt, reason] of cases) {
      const res = await postMessage(stack.web.url, jwt, {
        conversationId: 'jwt-bad',
        text: 'should not pass',
      });
      expect(res.status, what).toBe(401);
      expect(res.body.error?.code, what).toBe('SB_ERR_UNAUTHORIZED');
      expect(res.body.error?.message, what).toMatch(reason);
    }
    // The reply lookup is guarded the same way.
    const r = await fetch(`${stack.web.url}/v1/messages/x`, {
      headers: { authorization: `Bearer ${await token({ expiresIn: -120 })}` },
    });
    expect(r.status).toBe(401);

    // A good message afterwards is the only one that reached the broker.
    const ok = await postMessage(stack.web.url, await token(), { conversationId: 'jwt-bad', text: 'valid' });
    await envelope(String(ok.body.id));
    expect(published.size).toBe(before + 1);
    expect([...published.values()].filter((e) => e.conversationId === 'jwt-bad').map((e) => e.text)).toEqual([
      'valid',
    ]);
  });

  it('carries claims on the OpenAI-compatible API and the WebSocket too', async () => {
    const jwt = await token({ claims: { team: 'support' } });
    const res = await fetch(`${stack.web.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'switchboard', messages: [{ role: 'user', content: 'via openai api' }] }),
    });
    // No worker runs in this suite, so the answer times out; the message was accepted all the same.
    expect(res.status).toBe(504);
    const id = res.headers.get('x-switchboard-message-id');
    expect(id).toMatch(/^openai:/);
    expect((await envelope(id!)).claims).toMatchObject({ sub: 'user-7', team: 'support' });

    const chat = await new ChatClient(stack.web.url, jwt, 'jwt-ws').connect();
    chat.send('over the socket', 'ws-jwt-1');
    const accepted = await waitFor('accepted frame', () =>
      chat.frames.find((f) => f.type === 'accepted' && f.clientId === 'ws-jwt-1'),
    );
    const env = await envelope(String(accepted.id));
    expect(env.claims).toMatchObject({ sub: 'user-7', team: 'support' });
    expect(env.user.id).toBe('user-7');
    chat.close();

    const expired = new ChatClient(stack.web.url, await token({ expiresIn: -120 }), 'jwt-ws-bad');
    await expect(expired.connect()).rejects.toThrow(/socket closed with 4401/);
    expect(expired.frames).toContainEqual({
      type: 'error',
      code: 'SB_ERR_UNAUTHORIZED',
      message: 'JWT expired',
    });
  });
});

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
