/**
 * Item 10.1: the browser's egress proxy. A malformed request — a CONNECT to port 70000 once threw
 * inside an async handler and the unhandled rejection ended the tool-runner — gets a 400 with its
 * reason, contacts nothing, and the proxy goes on serving valid requests.
 */
import { connect } from 'node:net';
import { createLogger } from '@switchboard/core';
import { EgressPolicy } from '@switchboard/egress';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressProxy } from '../../services/tool-runner/src/net/egress-proxy.ts';
import { ConnectionRecorder, startSite } from '../tools/harness.ts';

/** Sends raw bytes to the proxy and returns everything it answers until it closes (or `until`). */
function raw(proxyUrl: string, request: string, until?: RegExp, then?: string): Promise<string> {
  const { port } = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: Number(port) });
    let got = '';
    let sentMore = false;
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (until && then !== undefined && !sentMore && until.test(got)) {
        sentMore = true;
        sock.write(then);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write(request);
  });
}

describe('egress proxy: malformed requests are refused, the proxy keeps serving', () => {
  const rejections: unknown[] = [];
  const onRejection = (err: unknown) => rejections.push(err);
  let recorder: ConnectionRecorder;
  let site: Awaited<ReturnType<typeof startSite>>;
  let proxy: EgressProxy;

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    recorder = await new ConnectionRecorder().start();
    site = await startSite({ '/page': (_req, res) => res.end('page body') });
    // Loopback allowlisted, as an operator would for an internal site: the policy itself says yes,
    // so only the proxy's own checks stand between a bad port and net.connect.
    proxy = new EgressProxy(new EgressPolicy('127.0.0.1'), createLogger('egress-proxy-test', 'error'));
    await proxy.start();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await proxy?.close();
    await recorder?.close();
    await new Promise((r) => site?.server.close(r));
  });

  it('answers 400 with a reason to every malformed CONNECT, contacting nothing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1:70000', /port must be a number from 1 to 65535, not "70000"/],
      ['127.0.0.1:0', /port must be a number from 1 to 65535, not "0"/],
      ['127.0.0.1:99999999999', /port must be a number from 1 to 65535/],
      ['127.0.0.1:+443', /port must be a number from 1 to 65535/],
      ['127.0.0.1', /must be host:port/],
      ['127.0.0.1:', /port must be a number/],
      [':443', /invalid host name/],
      ['[zz::1]:443', /invalid IPv6 address/],
      ['exa%6dple.com:443', /invalid host name/],
      ['user@127.0.0.1:443', /invalid host name/],
      ['-bad-.example:443', /invalid host name/],
      [`${'a'.repeat(64)}.example:443`, /invalid host name/],
      [`x:${recorder.port}:${recorder.port}`, /must be host:port/],
    ];
    for (const [target, reason] of cases) {
      const answer = await raw(proxy.url, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer, target).toMatch(reason);
    }
    expect(recorder.connections).toBe(0);
    expect(rejections).toEqual([]);
  });

  it('answers 400 with a reason to malformed plain-HTTP proxy requests', async () => {
    const cases: Array<[string, RegExp]> = [
      [`http://127.0.0.1:0/`, /port must be a number from 1 to 65535/],
      ['/relative/path', /needs an absolute http:\/\/ URL/],
      [`ftp://127.0.0.1:${recorder.port}/`, /only http:\/\/ is forwarded/],
    ];
    for (const [target, reason] of cases) {
      const answer = await raw(proxy.url, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(answer, target).toMatch(reason);
    }
    expect(recorder.connections).toBe(0);
    expect(rejections).toEqual([]);
  });

  it('still tunnels and forwards valid requests afterwards', async () => {
    // A tunnel to the allowlisted recorder: 200, then the bytes flow both ways.
    const tunneled = await raw(
      proxy.url,
      `CONNECT 127.0.0.1:${recorder.port} HTTP/1.1\r\nHost: 127.0.0.1:${recorder.port}\r\n\r\n`,
      /Connection Established\r\n\r\n/,
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(tunneled).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    expect(tunneled).toMatch(/\r\n\r\nsecret$/);
    expect(recorder.connections).toBe(1);

    const forwarded = await raw(
      proxy.url,
      `GET ${site.url}/page HTTP/1.1\r\nHost: 127.0.0.1:${site.port}\r\nConnection: close\r\n\r\n`,
    );
    expect(forwarded).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(forwarded).toMatch(/page body$/);
    expect(rejections).toEqual([]);
  });
});
