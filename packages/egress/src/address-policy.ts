import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** What kind of address a host turned out to be; anything but `public` is refused by default. */
export type AddressClass =
  | 'public'
  | 'metadata'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'carrier-grade NAT'
  | 'unique-local'
  | 'site-local'
  | 'multicast'
  | 'broadcast'
  | 'unspecified'
  | 'IPv4-embedding'
  | 'reserved';

/**
 * Cloud instance-metadata endpoints hand out credentials. They are refused even when an allowlist
 * range covers them. Most already fall in refused ranges; Azure's WireServer looks public.
 */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean…
  '169.254.170.2', // AWS ECS task metadata
  '169.254.169.253', // AWS DNS resolver
  '168.63.129.16', // Azure WireServer
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud
  'fd00:ec2::254', // AWS over IPv6
]);

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** Classifies one IP address (v4, v6, or v4-mapped v6 — judged as the v4 address it maps to). */
export function classifyAddress(ip: string): AddressClass {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(ip);
  } catch {
    return 'reserved';
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  if (METADATA_ADDRESSES.has(addr.toNormalizedString()) || METADATA_ADDRESSES.has(addr.toString())) {
    return 'metadata';
  }
  const range: string = addr.range();
  if (addr.kind() === 'ipv4') {
    switch (range) {
      case 'unicast':
        return 'public';
      case 'private':
        return 'private';
      case 'loopback':
        return 'loopback';
      case 'linkLocal':
        return 'link-local';
      case 'carrierGradeNat':
        return 'carrier-grade NAT';
      case 'multicast':
        return 'multicast';
      case 'broadcast':
        return 'broadcast';
      case 'unspecified':
        return 'unspecified';
      default:
        return 'reserved';
    }
  }
  switch (range) {
    // Only global unicast (2000::/3) is public; ipaddr calls other unassigned space unicast too.
    case 'unicast':
      return addr.match(GLOBAL_UNICAST_V6) ? 'public' : 'reserved';
    case 'loopback':
      return 'loopback';
    case 'linkLocal':
      return 'link-local';
    case 'uniqueLocal':
      return 'unique-local';
    case 'deprecatedSiteLocal':
      return 'site-local';
    case 'multicast':
      return 'multicast';
    case 'unspecified':
      return 'unspecified';
    // These carry an IPv4 address inside (NAT64, 6to4, Teredo) and could reach a private one.
    case 'rfc6145':
    case 'rfc6052':
    case '6to4':
    case 'teredo':
      return 'IPv4-embedding';
    default:
      return 'reserved';
  }
}

export type AllowEntry =
  | { kind: 'range'; text: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; port?: number }
  | { kind: 'host'; text: string; name: string; wildcard: boolean; port?: number };

const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parsePort(text: string, entry: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) throw new Error(`"${entry}": bad port "${text}"`);
  return port;
}

/**
 * Parses the egress allowlist: comma-separated CIDR ranges, addresses or host names (`*.corp.lan`
 * for every subdomain), each optionally limited to one port — `10.1.2.0/24,wiki.corp.lan:8443,
 * [fd00::/8]:443,127.0.0.1:9200`. Throws naming the entry at fault.
 */
export function parseEgressAllowlist(raw: string): AllowEntry[] {
  const out: AllowEntry[] = [];
  for (const entry of raw.split(',').map((e) => e.trim().toLowerCase())) {
    if (!entry) continue;
    let target = entry;
    let port: number | undefined;
    if (entry.startsWith('[')) {
      const end = entry.indexOf(']');
      if (end === -1) throw new Error(`"${entry}": missing "]"`);
      target = entry.slice(1, end);
      const rest = entry.slice(end + 1);
      if (rest) {
        if (!rest.startsWith(':')) throw new Error(`"${entry}": expected ":port" after "]"`);
        port = parsePort(rest.slice(1), entry);
      }
    } else if (entry.split(':').length === 2) {
      const i = entry.lastIndexOf(':');
      target = entry.slice(0, i);
      port = parsePort(entry.slice(i + 1), entry);
    }
    if (target.includes('/')) {
      try {
        out.push({ kind: 'range', text: entry, range: ipaddr.parseCIDR(target), port });
      } catch {
        throw new Error(`"${entry}": not a valid CIDR range`);
      }
    } else if (isIP(target)) {
      const addr = ipaddr.parse(target);
      out.push({ kind: 'range', text: entry, range: [addr, addr.kind() === 'ipv4' ? 32 : 128], port });
    } else if (HOST_NAME.test(target)) {
      const wildcard = target.startsWith('*.');
      out.push({ kind: 'host', text: entry, name: wildcard ? target.slice(2) : target, wildcard, port });
    } else {
      throw new Error(`"${entry}": not an address, CIDR range or host name`);
    }
  }
  return out;
}

/** A destination the policy refuses; carries the reason the model is shown. */
export class AddressRefusedError extends Error {
  constructor(
    readonly host: string,
    readonly address: string | undefined,
    readonly addressClass: AddressClass | 'unresolvable' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'AddressRefusedError';
  }
}

/** The refusal somewhere in an error's cause chain (undici and playwright wrap errors). */
export function findRefusal(err: unknown): AddressRefusedError | undefined {
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    if (e instanceof AddressRefusedError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * Where tools and workflow http steps may connect. Every destination is judged on the address actually connected to,
 * after DNS resolution: public addresses are allowed; loopback, private, link-local, CGNAT,
 * unique-local, multicast, unspecified and reserved ones only when the allowlist names them (by
 * range or by host name, optionally per port); cloud metadata addresses never.
 */
export class EgressPolicy {
  private readonly entries: AllowEntry[];

  constructor(
    allowlist: AllowEntry[] | string = [],
    private readonly resolveTimeoutMs = 5_000,
    /** Who is refused, in the reason: the model reads "tools", an operator "workflow http steps". */
    private readonly subject = 'tools',
  ) {
    this.entries = typeof allowlist === 'string' ? parseEgressAllowlist(allowlist) : allowlist;
  }

  /** Returns the refusal reason for connecting to `ip` (reached as `host`) on `port`, if any. */
  refusal(host: string, ip: string, port: number): string | undefined {
    const cls = classifyAddress(ip);
    const shown = host === ip ? ip : `${host} (${ip})`;
    if (cls === 'metadata')
      return `${shown} is a cloud metadata address, which ${this.subject} may never reach`;
    if (cls === 'public') return undefined;
    if (this.allowedByList(host, ip, port)) return undefined;
    return `${shown} is a ${cls} address; ${this.subject} may not reach loopback, private, link-local or other internal addresses unless an operator allowlists them`;
  }

  private allowedByList(host: string, ip: string, port: number): boolean {
    let addr = ipaddr.parse(ip);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
      addr = (addr as ipaddr.IPv6).toIPv4Address();
    }
    const name = normaliseHost(host);
    return this.entries.some((e) => {
      if (e.port !== undefined && e.port !== port) return false;
      if (e.kind === 'range') return addr.kind() === e.range[0].kind() && addr.match(e.range);
      return e.wildcard ? name.endsWith(`.${e.name}`) : name === e.name;
    });
  }

  /**
   * Resolves `host` and returns the addresses that may be connected to; throws AddressRefusedError
   * if any of them is refused (a name mixing public and internal answers is not trusted), so the
   * caller connects only to an address this check has seen.
   */
  async resolve(rawHost: string, port: number): Promise<string[]> {
    const host = normaliseHost(rawHost);
    if (!host) throw new AddressRefusedError(rawHost, undefined, 'invalid', 'the URL has no host');
    if (isIP(host)) {
      const why = this.refusal(host, host, port);
      if (why) throw new AddressRefusedError(host, host, classifyAddress(host), why);
      return [host];
    }
    let answers: Array<{ address: string }>;
    let timer: NodeJS.Timeout | undefined;
    try {
      answers = await Promise.race([
        lookup(host, { all: true, verbatim: true }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('DNS lookup timed out')), this.resolveTimeoutMs);
        }),
      ]);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new AddressRefusedError(
        host,
        undefined,
        'unresolvable',
        `${host} could not be resolved (${code ?? (err as Error).message})`,
      );
    } finally {
      clearTimeout(timer);
    }
    for (const { address } of answers) {
      const why = this.refusal(host, address, port);
      if (why) throw new AddressRefusedError(host, address, classifyAddress(address), why);
    }
    if (answers.length === 0) {
      throw new AddressRefusedError(host, undefined, 'unresolvable', `${host} has no address`);
    }
    return answers.map((a) => a.address);
  }
}
