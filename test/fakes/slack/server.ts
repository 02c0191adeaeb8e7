import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { eventCallback, type PostEventOptions, postSignedEvent, randomId } from './events.ts';
import { SocketModeHub } from './socket-mode.ts';
import { type FailureKind, type Identity, SlackApiState } from './web-api.ts';

export * from './events.ts';
export type { ApiCall, FailureKind, PostedMessage } from './web-api.ts';

export interface FakeSlackOptions extends Partial<Identity> {
  signingSecret?: string;
}

/**
 * A protocol-faithful Slack for tests, on 127.0.0.1 and a free port: the Web API under `/api/`
 * (what `WebClient({ slackApiUrl })` calls), the file upload and private-file URLs it hands out,
 * Socket Mode's WebSocket, and signed Events API deliveries to the app's Request URL.
 */
export interface FakeSlack {
  url: string;
  /** What the app's `SLACK_API_URL` points at. */
  apiUrl: string;
  readonly id: Identity;
  readonly signingSecret: string;
  readonly api: SlackApiState;
  readonly socket: SocketModeHub;
  /** Wraps an event in Slack's `event_callback` envelope for this workspace and app. */
  envelope(event: Record<string, unknown>, eventId?: string): ReturnType<typeof eventCallback>;
  /** POSTs a signed payload to the app's Request URL; `signingSecret` overridable to forge one. */
  postEvent(
    url: string,
    payload: unknown,
    o?: Partial<PostEventOptions>,
  ): Promise<{ status: number; body: string }>;
  failNextSends(n: number, kind: FailureKind): void;
  close(): Promise<void>;
}

export async function startFakeSlack(o: FakeSlackOptions = {}): Promise<FakeSlack> {
  const id: Identity = {
    botToken: o.botToken ?? `xoxb-${randomId('', 12)}-${randomId('', 24)}`,
    appToken: o.appToken ?? `xapp-1-${randomId('A', 10)}-${randomId('', 24)}`,
    teamId: o.teamId ?? 'T0FAKE',
    appId: o.appId ?? 'A0FAKEAPP',
    botUserId: o.botUserId ?? 'U0FAKEBOT',
    botId: o.botId ?? 'B0FAKEBOT',
  };
  const signingSecret = o.signingSecret ?? randomId('', 32).toLowerCase();
  let baseUrl = '';
  const hub = new SocketModeHub(id.appId);
  const api = new SlackApiState(id, { base: () => baseUrl, socket: () => hub.issueUrl(baseUrl) });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const fail = (err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    };
    if (req.method === 'POST' && path.startsWith('/api/')) {
      api.handle(path.slice('/api/'.length), req, res).catch(fail);
      return;
    }
    if (req.method === 'POST' && path.startsWith('/upload/v1/')) {
      api.receiveUpload(path.slice('/upload/v1/'.length), req, res).catch(fail);
      return;
    }
    const file = /^\/files-pri(?:-download)?\/[^/]+-([A-Z0-9]+)\//.exec(path);
    if (req.method === 'GET' && file) {
      api.serveUserFile(file[1]!, req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    apiUrl: `${baseUrl}/api/`,
    id,
    signingSecret,
    api,
    socket: hub,
    envelope: (event, eventId) => eventCallback(event, { ...id, eventId }),
    postEvent: (url, payload, po = {}) => postSignedEvent(url, payload, { signingSecret, ...po }),
    failNextSends: (n, kind) => api.failNextSends(n, kind),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        hub.close();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
