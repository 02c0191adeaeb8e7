import type {
  ConnectorHarness,
  Delivered,
  FakePlatform,
  SentMessage,
  UserMessage,
} from '../../connectors/harness.ts';
import type { ServiceProcess } from '../../support/stack.ts';
import { type CallbackRequest, type FakeWecom, messageXml, startFakeWecom } from './server.ts';

/** The app's display name in group chats; a mention is "@Switchboard" in the message text. */
export const WECOM_BOT_NAME = 'Switchboard';
/** The app group chat (appchat) a group message comes from when the test names none. */
export const DEFAULT_WECOM_CHAT = 'wrSwitchboardTest';

/** The shared connector suite's view of WeCom: the fake API, and the fake acting as WeCom's callback. */
export class WecomFakePlatform implements FakePlatform {
  private callbackUrl = '';
  private readonly deliveries = new Map<string, CallbackRequest>();

  constructor(readonly fake: FakeWecom) {}

  serviceEnv(): Record<string, string> {
    return {
      WECOM_CORP_ID: this.fake.corpId,
      WECOM_AGENT_ID: String(this.fake.agentId),
      WECOM_SECRET: this.fake.secret,
      WECOM_TOKEN: this.fake.token,
      WECOM_ENCODING_AES_KEY: this.fake.encodingAesKey,
      WECOM_API_URL: this.fake.url,
      WECOM_BOT_NAME,
    };
  }

  async attach(svc: ServiceProcess): Promise<void> {
    this.callbackUrl = `${svc.url}/wecom/callback`;
  }

  private xmlFor(m: UserMessage, msgId: string): string {
    const group = m.chat === 'group';
    return messageXml({
      corpId: this.fake.corpId,
      agentId: this.fake.agentId,
      from: m.userId,
      msgId,
      content: group && m.mention ? `@${WECOM_BOT_NAME} ${m.text}` : m.text,
      chatId: group ? (m.chatId ?? DEFAULT_WECOM_CHAT) : undefined,
    });
  }

  private post(r: CallbackRequest): Promise<{ status: number }> {
    if (!this.callbackUrl) throw new Error('attach() the service before delivering messages');
    return this.fake.postCallback(this.callbackUrl, r);
  }

  async sendUserMessage(m: UserMessage): Promise<Delivered> {
    const id = this.fake.nextMsgId();
    const r = this.fake.callbackRequest(this.xmlFor(m, id));
    this.deliveries.set(id, r);
    const { status } = await this.post(r);
    return { id, status };
  }

  async redeliver(id: string): Promise<Delivered> {
    const r = this.deliveries.get(id);
    if (!r) throw new Error(`no delivery ${id} to repeat`);
    const { status } = await this.post(r);
    return { id, status };
  }

  async sendWithBadSignature(m: UserMessage): Promise<number> {
    const r = this.fake.callbackRequest(this.xmlFor(m, this.fake.nextMsgId()), { badSignature: true });
    return (await this.post(r)).status;
  }

  sent(): SentMessage[] {
    return this.fake.sent.map((s) => ({
      conversation: s.to,
      text: s.content ?? '',
      files: s.mediaId ? [this.fake.media.get(s.mediaId)?.filename ?? s.mediaId] : [],
    }));
  }

  failNextSends(n: number, kind: 'rate_limit' | 'server_error'): void {
    this.fake.failNextSends(n, kind);
  }

  sendCalls(): number {
    return this.fake.sendCalls;
  }

  typing(): string[] {
    // WeCom has no typing indicator.
    return [];
  }

  close(): Promise<void> {
    return this.fake.close();
  }
}

export const wecomHarness: ConnectorHarness = {
  platform: 'wecom',
  // The connector's own limit (WecomAdapter.textLimit): 2048 bytes of UTF-8 in characters.
  textLimit: 680,
  bold: (word) => `**${word}**`,
  async startFake() {
    return new WecomFakePlatform(await startFakeWecom());
  },
};
