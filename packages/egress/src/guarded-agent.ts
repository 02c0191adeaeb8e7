import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { EgressPolicy } from './address-policy.ts';

/**
 * An undici Agent whose every new connection is resolved and judged by the policy first, then made
 * to the checked IP itself — so there is no second DNS lookup between the check and the connect
 * (no TOCTOU, no DNS rebinding). TLS still verifies the certificate for the original host name.
 */
export function createGuardedAgent(policy: EgressPolicy, o: { connectTimeoutMs: number }): Agent {
  const base = buildConnector({ timeout: o.connectTimeoutMs });
  const connect: buildConnector.connector = (opts, callback) => {
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    policy.resolve(opts.hostname, port).then(
      ([address]) =>
        base(
          {
            ...opts,
            hostname: address!,
            servername: opts.servername ?? (isIP(opts.hostname) ? undefined : opts.hostname),
          },
          callback,
        ),
      (err: Error) => callback(err, null),
    );
  };
  return new Agent({ connect, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 30_000 });
}
