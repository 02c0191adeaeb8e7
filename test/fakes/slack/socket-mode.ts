import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * Socket Mode's WebSocket side (https://docs.slack.dev/apis/events-api/using-socket-mode): a one-time
 * ticket URL from `apps.connections.open`, a `hello` on connect, events as `events_api` envelopes that
 * the app acknowledges by echoing the `envelope_id`, and server pings.
 */

export interface SocketAck {
  envelopeId: string;
  payload: unknown;
}

export class SocketModeHub {
  readonly acks: SocketAck[] = [];
  private readonly tickets = new Set<string>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly clients = new Set<WebSocket>();
  private readonly waiters = new Set<() => void>();
  private readonly pinger: NodeJS.Timeout;

  constructor(private readonly appId: string) {
    // Slack pings every few seconds; the client reconnects when the pings stop.
    this.pinger = setInterval(() => {
      for (const ws of this.clients) ws.ping();
    }, 5_000);
    this.pinger.unref();
  }

  issueUrl(baseHttpUrl: string): string {
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return `${baseHttpUrl.replace(/^http/, 'ws')}/link/?ticket=${ticket}&app_id=${this.appId}`;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/link/' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.clients.add(ws);
      ws.on('close', () => this.clients.delete(ws));
      ws.on('message', (data) => {
        try {
          const msg = JSON.parse(data.toString()) as { envelope_id?: string; payload?: unknown };
          if (typeof msg.envelope_id === 'string') {
            this.acks.push({ envelopeId: msg.envelope_id, payload: msg.payload });
            this.notify();
          }
        } catch {
          // Slack drops frames it cannot read; so does the fake.
        }
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: this.clients.size,
          debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 18060 },
          connection_info: { app_id: this.appId },
        }),
      );
      this.notify();
    });
  }

  connections(): number {
    return this.clients.size;
  }

  /** Sends an Events API payload over one open connection; returns its envelope id. */
  sendEvent(payload: unknown, retryAttempt = 0): string {
    const ws = [...this.clients].find((c) => c.readyState === c.OPEN);
    if (!ws) throw new Error('no Socket Mode connection is open');
    const envelopeId = randomUUID();
    ws.send(
      JSON.stringify({
        envelope_id: envelopeId,
        payload,
        type: 'events_api',
        accepts_response_payload: false,
        retry_attempt: retryAttempt,
        retry_reason: retryAttempt > 0 ? 'timeout' : '',
      }),
    );
    return envelopeId;
  }

  /** Asks every client to reconnect, as Slack does before recycling a server. */
  sendDisconnect(reason = 'refresh_requested'): void {
    for (const ws of this.clients) ws.send(JSON.stringify({ type: 'disconnect', reason }));
  }

  /** Resolves once `check` holds, re-checked on every connection and ack; rejects at the deadline. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`fake Slack: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }

  close(): void {
    clearInterval(this.pinger);
    for (const ws of this.clients) ws.terminate();
    this.wss.close();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
