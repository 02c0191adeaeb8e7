import type { InboundSink } from '@switchboard/connector';
import type { Logger } from '@switchboard/core';
import { WebSocket } from 'undici';
import { z } from 'zod';
import type { DingtalkApi } from './api-client.ts';
import { handleRobotMessage } from './inbound.ts';
import type { NormalizeOptions } from './normalize.ts';

/** The topic robot messages arrive on. */
export const TOPIC_ROBOT = '/v1.0/im/bot/messages/get';
const UA = 'switchboard-ingress-dingtalk/0.1';
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 60_000;

const frameSchema = z.object({
  specVersion: z.string().optional(),
  type: z.enum(['SYSTEM', 'EVENT', 'CALLBACK']),
  headers: z.object({ topic: z.string(), messageId: z.string().optional() }).loose(),
  data: z.string().default(''),
});
type Frame = z.infer<typeof frameSchema>;

export interface StreamClientOptions {
  api: DingtalkApi;
  normalize: NormalizeOptions;
  sink: InboundSink;
  log: Logger;
}

/**
 * DingTalk Stream mode, spoken directly over undici's WebSocket (the official dingtalk-stream
 * package only wraps this protocol). The connection is opened with a ticket from
 * /v1.0/gateway/connections/open; robot messages come as CALLBACK frames and are acknowledged only
 * once published — an unacknowledged one is pushed again by DingTalk within a minute.
 */
export class StreamClient {
  private ws: WebSocket | undefined;
  private stopping = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private isConnected = false;
  /** Set when the gateway itself asked us to go: reconnecting at once loses nothing. */
  private reconnectNow = false;

  constructor(private readonly o: StreamClientOptions) {}

  get connected(): boolean {
    return this.isConnected;
  }

  /** Connects once; a failure other than refused credentials is retried in the background. */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      this.o.log.warn('dingtalk stream connection failed, retrying', {
        labels: { platform: 'dingtalk' },
        error: err instanceof Error ? err.message : String(err),
      });
      this.scheduleReconnect();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      ws.addEventListener('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000, 'shutting down');
    });
  }

  private async connect(): Promise<void> {
    const { endpoint, ticket } = await this.o.api.openStreamConnection(
      [{ type: 'CALLBACK', topic: TOPIC_ROBOT }],
      UA,
    );
    const url = new URL(endpoint);
    url.searchParams.set('ticket', ticket);
    const ws = new WebSocket(url);
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      const onOpen = () => {
        ws.removeEventListener('error', onError);
        resolve();
      };
      const onError = () => {
        ws.removeEventListener('open', onOpen);
        reject(new Error('dingtalk stream websocket did not open'));
      };
      ws.addEventListener('open', onOpen, { once: true });
      ws.addEventListener('error', onError, { once: true });
    });
    this.isConnected = true;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.o.log.info('dingtalk stream connected', { labels: { platform: 'dingtalk' } });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') void this.onFrame(ws, ev.data);
    });
    ws.addEventListener('close', (ev) => {
      this.isConnected = false;
      if (this.ws === ws) this.ws = undefined;
      if (this.stopping) return;
      this.o.log.warn('dingtalk stream closed, reconnecting', {
        labels: { platform: 'dingtalk' },
        code: ev.code,
      });
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopping) return;
    const delay = this.reconnectNow ? 0 : this.reconnectDelay;
    this.reconnectNow = false;
    if (delay > 0) this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err) => {
        this.o.log.warn('dingtalk stream reconnect failed', {
          labels: { platform: 'dingtalk' },
          error: err instanceof Error ? err.message : String(err),
        });
        this.scheduleReconnect();
      });
    }, delay);
  }

  private async onFrame(ws: WebSocket, raw: string): Promise<void> {
    let frame: Frame;
    try {
      frame = frameSchema.parse(JSON.parse(raw));
    } catch {
      this.o.log.warn('dingtalk stream frame not understood', { labels: { platform: 'dingtalk' } });
      return;
    }
    if (frame.type === 'SYSTEM') {
      if (frame.headers.topic === 'ping') {
        send(ws, { code: 200, headers: frame.headers, message: 'OK', data: frame.data });
      } else if (frame.headers.topic === 'disconnect') {
        // The gateway is about to drop us (rebalancing): go now and reconnect with a fresh ticket.
        this.reconnectNow = true;
        ws.close(1000, 'disconnect requested');
      }
      return;
    }
    const messageId = frame.headers.messageId;
    if (!messageId) return;
    if (frame.type === 'EVENT' || frame.headers.topic !== TOPIC_ROBOT) {
      ack(ws, messageId, { status: 'SUCCESS' });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(frame.data);
    } catch {
      body = undefined;
    }
    const result = await handleRobotMessage(body, this.o);
    if (result.kind === 'invalid') {
      this.o.log.warn('dingtalk stream message refused', {
        labels: { platform: 'dingtalk' },
        reason: result.reason,
      });
    }
    if (result.kind !== 'failed') ack(ws, messageId, { response: null });
  }
}

function ack(ws: WebSocket, messageId: string, data: unknown): void {
  send(ws, {
    code: 200,
    headers: { contentType: 'application/json', messageId },
    message: 'OK',
    data: JSON.stringify(data),
  });
}

function send(ws: WebSocket, frame: unknown): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}
