import { createHash, timingSafeEqual } from 'node:crypto';
import { type Authenticator, bearerToken, ErrorCodes, SwitchboardError } from '@switchboard/core';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * ALERT_RELAY_TOKEN as Alertmanager's service credential. Digests are compared in constant time,
 * so a wrong guess learns neither the token's length nor how much of its start was right.
 */
export function relayTokenAuthenticator(token: string): Authenticator {
  const want = digest(token);
  return async (req) => {
    const given = bearerToken(req);
    if (given === undefined) return null;
    if (!timingSafeEqual(digest(given), want))
      throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'invalid alert-relay token', { statusCode: 401 });
    return { kind: 'service', id: 'alert-relay-token', name: 'ALERT_RELAY_TOKEN', via: 'bearer' };
  };
}
