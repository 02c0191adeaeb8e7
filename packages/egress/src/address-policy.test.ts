import { describe, expect, it } from 'vitest';
import { classifyAddress, EgressPolicy, parseEgressAllowlist } from './address-policy.ts';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.10.10', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['fc00::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['224.0.0.251', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['64:ff9b::7f00:1', 'IPv4-embedding'],
    ['2002:7f00:1::', 'IPv4-embedding'],
    ['192.0.2.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::7f00:1', 'reserved'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });
});

describe('the egress allowlist', () => {
  it('parses ranges, addresses and host names, each optionally limited to a port', () => {
    const p = new EgressPolicy('10.20.0.0/16, wiki.corp.lan, *.svc.lan:8443, [fd00::/8]:443, 127.0.0.1:9200');
    expect(p.refusal('10.20.3.4', '10.20.3.4', 80)).toBeUndefined();
    expect(p.refusal('10.21.0.1', '10.21.0.1', 80)).toMatch(/private address/);
    expect(p.refusal('wiki.corp.lan', '10.9.9.9', 443)).toBeUndefined();
    expect(p.refusal('WIKI.corp.lan.', '10.9.9.9', 443)).toBeUndefined();
    expect(p.refusal('api.svc.lan', '10.1.1.1', 8443)).toBeUndefined();
    expect(p.refusal('api.svc.lan', '10.1.1.1', 80)).toMatch(
      /api\.svc\.lan \(10\.1\.1\.1\) is a private address/,
    );
    expect(p.refusal('svc.lan', '10.1.1.1', 8443)).toMatch(/private/);
    expect(p.refusal('fd00::5', 'fd00::5', 443)).toBeUndefined();
    expect(p.refusal('fd00::5', 'fd00::5', 80)).toMatch(/unique-local/);
    expect(p.refusal('127.0.0.1', '127.0.0.1', 9200)).toBeUndefined();
    expect(p.refusal('127.0.0.1', '127.0.0.1', 9201)).toMatch(/loopback/);
    expect(p.refusal('::ffff:127.0.0.1', '::ffff:127.0.0.1', 9200)).toBeUndefined();
    expect(p.refusal('example.com', '93.184.216.34', 443)).toBeUndefined();
  });

  it('never allows a metadata address, whatever the list says', () => {
    const p = new EgressPolicy('169.254.0.0/16,0.0.0.0/0,metadata.google.internal');
    expect(p.refusal('169.254.169.254', '169.254.169.254', 80)).toBe(
      '169.254.169.254 is a cloud metadata address, which tools may never reach',
    );
    expect(p.refusal('metadata.google.internal', '169.254.169.254', 80)).toMatch(/cloud metadata/);
    expect(p.refusal('169.254.1.1', '169.254.1.1', 80)).toBeUndefined();
  });

  it.each(['10.0.0.0/33', 'not a host!', 'host:0', 'host:99999', '[fd00::1', '[fd00::1]x', 'a..b'])(
    'refuses the bad entry %s',
    (entry) => {
      expect(() => parseEgressAllowlist(entry)).toThrow(/^"/);
    },
  );

  it('resolves names and refuses a name that resolves to loopback, before any connection', async () => {
    const p = new EgressPolicy('');
    await expect(p.resolve('localhost', 80)).rejects.toMatchObject({
      name: 'AddressRefusedError',
      addressClass: 'loopback',
    });
    await expect(p.resolve('[::1]', 80)).rejects.toMatchObject({ addressClass: 'loopback' });
    await expect(p.resolve('8.8.8.8', 53)).resolves.toEqual(['8.8.8.8']);
    await expect(p.resolve('no-such-host.invalid', 80)).rejects.toMatchObject({
      addressClass: 'unresolvable',
    });
  });
});
