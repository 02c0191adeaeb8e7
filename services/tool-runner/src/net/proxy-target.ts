import { isIPv4, isIPv6 } from 'node:net';

/** Where a proxy request wants to go, or why it cannot be judged at all. */
export type ProxyTarget = { host: string; port: number } | { refused: string };

// A DNS name as browsers send it: LDH labels (underscores occur in real host names), at most 253
// characters. Anything else — spaces, slashes, percent signs, userinfo — is not a host.
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/i;

function validHostName(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/**
 * A port as an integer of 1..65535 written in at most five digits. Which ports a destination may be
 * reached on is the address policy's business (its allowlist entries can pin ports); Chromium
 * already refuses its own list of unsafe ports (25, 110, …) before asking the proxy.
 */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * The authority of a CONNECT request: `host:port`, the host a DNS name, an IPv4 address or an IPv6
 * address in brackets; the port always given. Only what passes here reaches the address policy
 * and `net.connect`, which throws on an out-of-range port (that throw once ended the process).
 */
export function parseConnectTarget(authority: string): ProxyTarget {
  if (authority.length > 300) return { refused: 'CONNECT target is too long' };
  const m = /^(\[[^\]]*\]|[^:[\]]*):([^:]*)$/.exec(authority);
  if (!m) return { refused: 'CONNECT target must be host:port' };
  const rawHost = m[1]!;
  const port = parsePort(m[2]!);
  if (port === undefined)
    return { refused: `CONNECT port must be a number from 1 to 65535, not "${m[2]!.slice(0, 20)}"` };
  if (rawHost.startsWith('[')) {
    const v6 = rawHost.slice(1, -1);
    if (!isIPv6(v6)) return { refused: 'CONNECT target has an invalid IPv6 address' };
    return { host: v6, port };
  }
  if (isIPv4(rawHost) || validHostName(rawHost)) return { host: rawHost.toLowerCase(), port };
  return { refused: 'CONNECT target has an invalid host name' };
}
