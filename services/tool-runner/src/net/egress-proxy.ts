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
import { parseConnectTarget, parsePort } from './proxy-target.ts';

/** A complete refusal for a tunnel client, which speaks raw HTTP/1.1 until the tunnel opens. */
function rawResponse(status: string, reason = ''): string {
  const body = reason ? `${reason}\n` : '';
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/**
 * The only way out for the browser: Chromium is started with this as its proxy (loopback
 * included), so every connection a page makes — documents, subresources, fetch, WebSockets,
 * service workers — arrives here, is judged by the egress policy after DNS resolution, and is
 * connected to the checked IP itself. Page-level route checks give the model clear refusals; this
 * is what holds even where they do not reach. Listens on 127.0.0.1 only.
 *
 * Whatever a client sends must cost at most its own connection: targets are parsed by an
 * allowlist of syntax before anything acts on them, and every handler's failure is caught and
 * ends only that connection (an unhandled rejection here used to end the tool-runner).
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
    const server = createServer((req, res) => {
      this.forward(req, res).catch((err) => {
        this.failed(req.url, err);
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
    });
    server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
      this.tunnel(req, client, head).catch((err) => {
        this.failed(req.url, err);
        client.destroy();
      });
    });
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

  /** A bug or an unexpected state, not a verdict: logged, and only this connection pays. */
  private failed(target: string | undefined, err: unknown): void {
    this.log.error('egress proxy request failed', {
      url: { full: (target ?? '').slice(0, 300) },
      error: { message: errorMessage(err) },
    });
  }

  private malformed(target: string | undefined, reason: string): void {
    this.log.warn('browser proxy request malformed', {
      url: { full: (target ?? '').slice(0, 300) },
      error: { code: 'TOOL_REFUSED', message: reason },
    });
  }

  private async tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => {});
    const target = parseConnectTarget(req.url ?? '');
    if ('refused' in target) {
      this.malformed(req.url, target.refused);
      client.end(rawResponse('400 Bad Request', target.refused));
      return;
    }
    let address: string;
    try {
      [address = ''] = await this.policy.resolve(target.host, target.port);
    } catch (err) {
      const reason = this.refuse(req.url ?? '', err);
      client.end(rawResponse('403 Forbidden', `refused: ${reason}`));
      return;
    }
    if (client.destroyed) return;
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
      else client.end(rawResponse('502 Bad Gateway'));
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }

  private badRequest(req: IncomingMessage, res: ServerResponse, reason: string): void {
    this.malformed(req.url, reason);
    res
      .writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
      .end(`${reason}\n`);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return this.badRequest(req, res, 'a proxy request needs an absolute http:// URL');
    }
    if (url.protocol !== 'http:') {
      return this.badRequest(
        req,
        res,
        `only http:// is forwarded (https goes through CONNECT), not ${url.protocol}`,
      );
    }
    // The URL parser accepts port 0; nothing listens there on purpose.
    const port = url.port === '' ? 80 : parsePort(url.port);
    if (port === undefined) return this.badRequest(req, res, 'port must be a number from 1 to 65535');
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
      try {
        res.writeHead(r.statusCode ?? 502, r.rawHeaders);
      } catch (err) {
        // An upstream header Node will not send on (the parser is lenient, the writer is not).
        this.failed(url.href, err);
        r.destroy();
        res.writeHead(502).end();
        return;
      }
      r.pipe(res);
    });
    req.on('error', () => upstream.destroy());
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
