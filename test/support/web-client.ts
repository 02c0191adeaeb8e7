import WebSocket from 'ws';
import { waitFor } from './infra.ts';

export interface ReplyFrame {
  type: 'reply';
  id: string;
  inReplyTo: string;
  text: string;
  status: 'ok' | 'error';
  createdAt: string;
}

/** A web-chat client over the real WebSocket protocol, collecting every frame it receives. */
export class ChatClient {
  readonly frames: Array<Record<string, unknown>> = [];
  private ws!: WebSocket;
  closeCode: number | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    readonly conversationId: string,
  ) {}

  async connect(since?: string): Promise<this> {
    this.ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/v1/ws`);
    this.ws.on('message', (data) => this.frames.push(JSON.parse(data.toString())));
    this.ws.on('close', (code) => {
      this.closeCode = code;
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.send(
      JSON.stringify({ type: 'auth', token: this.token, conversationId: this.conversationId, since }),
    );
    await waitFor(
      'ready frame',
      () => {
        if (this.closeCode !== undefined) throw new Error(`socket closed with ${this.closeCode}`);
        return this.frames.some((f) => f.type === 'ready');
      },
      10_000,
    );
    return this;
  }

  send(text: string, id?: string): void {
    this.ws.send(JSON.stringify({ type: 'message', text, id }));
  }

  get replies(): ReplyFrame[] {
    return this.frames.filter(
      (f): f is ReplyFrame & Record<string, unknown> => f.type === 'reply',
    ) as ReplyFrame[];
  }

  async waitForReplies(n: number, timeoutMs = 20_000): Promise<ReplyFrame[]> {
    await waitFor(
      `${n} replies on ${this.conversationId} (have ${this.replies.length})`,
      () => this.replies.length >= n,
      timeoutMs,
    );
    return this.replies;
  }

  close(): void {
    this.ws.close();
  }
}

export async function postMessage(
  baseUrl: string,
  token: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${baseUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}
