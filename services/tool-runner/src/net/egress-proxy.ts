import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage, type Logger } from '@switchboard/core';
import type { EgressPolicy } from '@switchboard/egress';

/** `host:port` of a CONNECT request, IPv6 in brackets. */
function splitAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * The only way out for the browser: Chromium is started with this as its proxy (loopback
 * included), so every connection a page makes — documents, subresources, fetch, WebSockets,
 * service workers — arrives here, is judged by the egress policy after DNS resolution, and is
 * connected to the checked IP itself. Page-level route checks give the model clear refusals; this
 * is what holds even where they do not reach. Listens on 127.0.0.1 only.
 */
export class EgressProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket | Duplex>();
  url = '';

  constructor(
    private readonly policy: EgressPolicy,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.forward(req, res));
    server.on(
      'connect',
      (req: IncomingMessage, client: Duplex, head: Buffer) => void this.tunnel(req, client, head),
    );
    // Plain-HTTP upgrades through a proxy are not something Chromium sends; refuse rather than guess.
    server.on('upgrade', (_req, socket: Duplex) => socket.destroy());
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    this.server = server;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private refuse(target: string, err: unknown): string {
    const reason = errorMessage(err);
    this.log.warn('browser connection refused by the egress policy', {
      url: { full: target.slice(0, 300) },
      error: { code: 'TOOL_REFUSED', message: reason },
    });
    return reason;
  }

  private async tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => {});
    const target = splitAuthority(req.url ?? '');
    if (!target) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    let address: string;
    try {
      [address = ''] = await this.policy.resolve(target.host, target.port);
    } catch (err) {
      this.refuse(req.url ?? '', err);
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = connect({ host: address, port: target.port });
    this.sockets.add(upstream);
    let open = false;
    upstream.once('connect', () => {
      open = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => {
      if (open) client.destroy();
      else client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const port = Number(url.port) || 80;
    let address: string;
    try {
      [address = ''] = await this.policy.resolve(url.hostname, port);
    } catch (err) {
      const reason = this.refuse(url.href, err);
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`refused: ${reason}\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = httpRequest({
      host: address,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      agent: false,
    });
    upstream.on('response', (r) => {
      res.writeHead(r.statusCode ?? 502, r.rawHeaders);
      r.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
