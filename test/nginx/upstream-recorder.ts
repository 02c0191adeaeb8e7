import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A stand-in upstream that keeps every request exactly as it arrived (raw body bytes included).
 * `/auth` plays the admin service's auth endpoint: 401 unless `x-test-admin: yes` is present.
 */
export class UpstreamRecorder {
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  port = 0;

  constructor(readonly name: string) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        this.requests.push(rec);
        if (rec.url === '/auth') {
          if (req.headers['x-test-admin'] !== 'yes') return void res.writeHead(401).end();
          return void res.writeHead(204, { 'x-admin-user': 'alice' }).end();
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ upstream: this.name, url: rec.url }));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
