import { randomBytes } from 'node:crypto';
import type { ConnectorHarness, FakePlatform, UserMessage } from '../../connectors/harness.ts';
import { waitFor } from '../../support/infra.ts';
import type { ServiceProcess } from '../../support/stack.ts';
import { type FakeDingtalk, type RobotMessageInput, startFakeDingtalk, TEXT_LIMIT } from './server.ts';

const GROUP_ID = 'cidGroupOps0000000000000000==';

/** DingTalk conversation ids are opaque `cid…` strings; the suite's words become stable ones. */
export function conversationIdOf(m: UserMessage): string {
  if (m.chatId) return `cid${Buffer.from(m.chatId).toString('base64')}`;
  return m.chat === 'group' ? GROUP_ID : `cid${Buffer.from(`direct:${m.userId}`).toString('base64')}`;
}

export function robotInput(m: UserMessage, extra: Partial<RobotMessageInput> = {}): RobotMessageInput {
  return {
    chat: m.chat,
    conversationId: conversationIdOf(m),
    userId: m.userId,
    text: m.text,
    ...(m.mention !== undefined ? { mention: m.mention } : {}),
    ...extra,
  };
}

/** What both delivery modes share: the fake, its recorded sends and its fault injection. */
function common(dt: FakeDingtalk) {
  return {
    sent: () =>
      dt.sends.map((s) => ({
        conversation: s.conversationId,
        text: s.text,
        files: [],
      })),
    failNextSends: (n: number, kind: 'rate_limit' | 'server_error') => dt.failNextSends(n, kind),
    sendCalls: () => dt.sendCalls,
    // DingTalk robots have no typing indicator.
    typing: () => [],
    close: () => dt.close(),
  };
}

/** DingTalk in HTTP-callback mode: signed POSTs to /dingtalk/callback. */
export const dingtalkHarness: ConnectorHarness = {
  platform: 'dingtalk',
  textLimit: TEXT_LIMIT,
  bold: (w) => `**${w}**`,
  async startFake(): Promise<FakePlatform> {
    const dt = await startFakeDingtalk();
    const delivered = new Map<string, Record<string, unknown>>();
    let callbackUrl = '';
    return {
      ...common(dt),
      serviceEnv: () => ({
        DINGTALK_APP_KEY: dt.appKey,
        DINGTALK_APP_SECRET: dt.appSecret,
        DINGTALK_API_URL: dt.url,
        DINGTALK_MODE: 'http',
      }),
      attach: async (svc: ServiceProcess) => {
        callbackUrl = `${svc.url}/dingtalk/callback`;
      },
      async sendUserMessage(m) {
        const body = dt.robotMessage(robotInput(m));
        const id = String(body.msgId);
        delivered.set(id, body);
        return { id, status: await dt.postCallback(callbackUrl, body) };
      },
      async redeliver(id) {
        const body = delivered.get(id);
        if (!body) throw new Error(`no delivery ${id}`);
        // A retry is signed afresh: DingTalk's timestamp is the time of each POST.
        return { id, status: await dt.postCallback(callbackUrl, body) };
      },
      async sendWithBadSignature(m) {
        const body = dt.robotMessage(robotInput(m));
        const wrong = await dt.postCallback(callbackUrl, body, dt.signHeaders('not-the-app-secret'));
        const missing = await dt.postCallback(callbackUrl, body, {});
        return wrong === missing ? wrong : -1;
      },
    };
  },
};

/** DingTalk in Stream mode: the connector holds a WebSocket to the fake gateway. */
export const dingtalkStreamHarness: ConnectorHarness = {
  platform: 'dingtalk',
  textLimit: TEXT_LIMIT,
  bold: (w) => `**${w}**`,
  async startFake(): Promise<FakePlatform> {
    const dt = await startFakeDingtalk();
    const frames = new Map<string, { body: Record<string, unknown>; frameId: string }>();
    // DingTalk counts a pushed message as delivered once the client acknowledged its frame.
    const push = async (body: Record<string, unknown>, frameId: string) => {
      dt.streamAcks.delete(frameId);
      dt.pushStreamCallback(body, frameId);
      await waitFor(
        `the connector to acknowledge frame ${frameId}`,
        () => dt.streamAcks.has(frameId),
        15_000,
      );
    };
    return {
      ...common(dt),
      serviceEnv: () => ({
        DINGTALK_APP_KEY: dt.appKey,
        DINGTALK_APP_SECRET: dt.appSecret,
        DINGTALK_API_URL: dt.url,
        DINGTALK_MODE: 'stream',
      }),
      attach: async () => {
        await waitFor('the connector to open its stream connection', () => dt.streamConnections > 0, 15_000);
      },
      async sendUserMessage(m) {
        const body = dt.robotMessage(robotInput(m));
        const id = String(body.msgId);
        const frameId = randomBytes(12).toString('hex');
        frames.set(id, { body, frameId });
        await push(body, frameId);
        return { id };
      },
      async redeliver(id) {
        const f = frames.get(id);
        if (!f) throw new Error(`no delivery ${id}`);
        await push(f.body, f.frameId);
        return { id };
      },
      // Stream mode has no webhook to forge: the connection itself is authenticated by the ticket.
      sendWithBadSignature: async () => undefined,
    };
  },
};
