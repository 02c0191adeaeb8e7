import { SignatureError } from '@switchboard/connector';
import { describe, expect, it } from 'vitest';
import { signSlackRequest } from '../../../test/fakes/slack/events.ts';
import { verifySignature } from './signature.ts';

const secret = '8f742231b10e8888abcd99yyyzzz85a5';
const body = '{"type":"event_callback","event_id":"Ev1"}';
const now = 1_700_000_000_000;
const ts = now / 1000;

function headers(o: { secret?: string; ts?: number; body?: string } = {}) {
  return {
    'x-slack-request-timestamp': String(o.ts ?? ts),
    'x-slack-signature': signSlackRequest(o.secret ?? secret, o.ts ?? ts, o.body ?? body),
  };
}

describe('verifySignature', () => {
  it('accepts what Slack signed', () => {
    expect(() => verifySignature(secret, body, headers(), now)).not.toThrow();
    // Slack's clock may be a little off either way.
    expect(() => verifySignature(secret, body, headers({ ts: ts + 120 }), now)).not.toThrow();
  });

  it('refuses another secret, a changed body, and missing headers', () => {
    expect(() => verifySignature(secret, body, headers({ secret: 'not-the-secret-at-all' }), now)).toThrow(
      /signature mismatch/,
    );
    expect(() => verifySignature(secret, `${body} `, headers(), now)).toThrow(SignatureError);
    expect(() => verifySignature(secret, body, { 'x-slack-request-timestamp': String(ts) }, now)).toThrow(
      /missing/,
    );
    expect(() => verifySignature(secret, body, { ...headers(), 'x-slack-signature': 'v1=abc' }, now)).toThrow(
      /unknown signature version/,
    );
  });

  it('refuses requests signed outside the 5-minute window, in either direction', () => {
    expect(() => verifySignature(secret, body, headers({ ts: ts - 301 }), now)).toThrow(/5 minutes/);
    expect(() => verifySignature(secret, body, headers({ ts: ts + 301 }), now)).toThrow(/5 minutes/);
    expect(() =>
      verifySignature(secret, body, { ...headers(), 'x-slack-request-timestamp': '17e8' }, now),
    ).toThrow(/5 minutes/);
  });

  it('is a 401', () => {
    try {
      verifySignature(secret, body, {}, now);
      expect.unreachable();
    } catch (err) {
      expect((err as SignatureError).statusCode).toBe(401);
    }
  });
});
