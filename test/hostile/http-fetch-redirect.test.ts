/**
 * Item 10.2: http_fetch and cross-origin redirects. A model may set any header on a request (an
 * API key the user gave it, a session token); a server it calls can redirect elsewhere. Only an
 * allowlist of harmless headers crosses to another origin — not just Authorization and Cookie.
 * The tool runs here in the test process (the grant and RPC layers around it have their own
 * suites) with the tool-runner's real guarded agent and egress policy, between two local servers
 * on different ports (two origins).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createLogger } from '@switchboard/core';
import { createGuardedAgent, EgressPolicy } from '@switchboard/egress';
import { httpFetchArgs } from '@switchboard/tools';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolRunContext } from '../../services/tool-runner/src/tool.ts';
import { HttpFetchTool } from '../../services/tool-runner/src/tools/http-fetch.ts';
import { startSite } from '../tools/harness.ts';

const SECRETS = {
  authorization: 'Bearer sekrit-bearer',
  cookie: 'session=sekrit-cookie',
  'x-api-key': 'sekrit-api-key',
  'private-token': 'sekrit-private-token',
  'x-auth-token': 'sekrit-auth-token',
  'x-custom-thing': 'sekrit-custom',
};

describe('http_fetch: a cross-origin redirect carries only the allowlisted headers', () => {
  let agent: Agent;
  let tool: HttpFetchTool;
  const log = createLogger('http-fetch-test', 'error');
  /** One http_fetch call as the dispatcher makes it: arguments parsed by the tool's own schema. */
  const call = async (raw: Record<string, unknown>) => {
    const ctx = {
      signal: new AbortController().signal,
      deadline: Date.now() + 10_000,
      log,
    } as unknown as ToolRunContext;
    return tool.run(httpFetchArgs.parse(raw), ctx);
  };
  let origin: Awaited<ReturnType<typeof startSite>>;
  let other: Awaited<ReturnType<typeof startSite>>;
  const seenByOrigin: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const seenByOther: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    other = await startSite({
      '/landing': (req, res, body) => {
        seenByOther.push({ path: '/landing', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('landed');
      },
      '/back': (req, res, body) => {
        seenByOther.push({ path: '/back', headers: req.headers, body });
        res.writeHead(302, { location: `${origin.url}/final` }).end();
      },
    });
    origin = await startSite({
      '/away': (_req, res) => res.writeHead(302, { location: `${other.url}/landing` }).end(),
      '/away-307': (_req, res) => res.writeHead(307, { location: `${other.url}/landing` }).end(),
      '/round-trip': (_req, res) => res.writeHead(302, { location: `${other.url}/back` }).end(),
      '/same-origin': (_req, res) => res.writeHead(302, { location: '/final' }).end(),
      '/final': (req, res) => {
        seenByOrigin.push({ path: '/final', headers: req.headers });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('final');
      },
    });
    // As an operator lets two internal sites through; everything else on loopback stays refused.
    const policy = new EgressPolicy(`127.0.0.1:${origin.port},127.0.0.1:${other.port}`);
    agent = createGuardedAgent(policy, { connectTimeoutMs: 5_000 });
    tool = new HttpFetchTool(agent, { timeoutMs: 10_000, maxBytes: 65_536, maxRedirects: 5 });
  });
  afterAll(async () => {
    await agent?.close();
    for (const s of [origin, other]) {
      s?.server.closeAllConnections();
      await new Promise((r) => s?.server.close(r));
    }
  });

  const leaked = (headers: IncomingHttpHeaders) =>
    Object.entries(headers).filter(([, v]) => String(v).includes('sekrit'));

  it('drops every credential-like header on a GET redirected to another origin', async () => {
    const r = await call({
      url: `${origin.url}/away`,
      headers: { ...SECRETS, 'accept-language': 'de', accept: 'text/plain', 'user-agent': 'probe/1' },
    });
    expect(r.output).toContain(`final url: ${other.url}/landing (after 1 redirect(s))`);
    const hit = seenByOther.at(-1)!;
    expect(leaked(hit.headers)).toEqual([]);
    // What describes the client survives; nothing else the model set does.
    expect(hit.headers).toMatchObject({
      'accept-language': 'de',
      accept: 'text/plain',
      'user-agent': 'probe/1',
    });
    for (const name of Object.keys(SECRETS)) expect(hit.headers[name], name).toBeUndefined();
  });

  it('keeps the body and its content-type on a 307, but not the credentials', async () => {
    const r = await call({
      url: `${origin.url}/away-307`,
      method: 'POST',
      body: '{"q":1}',
      headers: { ...SECRETS, 'content-type': 'application/json' },
    });
    expect(r.output).toContain('landed');
    const hit = seenByOther.at(-1)!;
    expect(hit.body).toBe('{"q":1}');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(leaked(hit.headers)).toEqual([]);
  });

  it('drops content-type with the body when a 302 turns the POST into a GET', async () => {
    await call({
      url: `${origin.url}/away`,
      method: 'POST',
      body: 'x',
      headers: { ...SECRETS, 'content-type': 'application/json' },
    });
    const hit = seenByOther.at(-1)!;
    expect(hit.body).toBe('');
    expect(hit.headers['content-type']).toBeUndefined();
    expect(leaked(hit.headers)).toEqual([]);
  });

  it('keeps the headers within one origin, and does not restore them when a chain comes back', async () => {
    await call({ url: `${origin.url}/same-origin`, headers: { 'x-api-key': 'own-key' } });
    expect(seenByOrigin.at(-1)!.headers['x-api-key']).toBe('own-key');

    const r = await call({ url: `${origin.url}/round-trip`, headers: SECRETS });
    expect(r.output).toContain(`final url: ${origin.url}/final (after 2 redirect(s))`);
    expect(leaked(seenByOther.at(-1)!.headers)).toEqual([]);
    expect(leaked(seenByOrigin.at(-1)!.headers)).toEqual([]);
  });
});
