import type { ConnectorHarness, FakePlatform, UserMessage } from '../../connectors/harness.ts';
import type { ServiceProcess } from '../../support/stack.ts';
import { type FakeSlack, messageEvent, startFakeSlack } from './server.ts';

export const DEFAULT_GROUP = 'C0OPSROOM';

/**
 * Builds the events Slack sends for what a user does. A mention in a channel arrives twice, as
 * `message` and as `app_mention` with different event ids, when the app subscribes to both (which
 * GROUP_POLICY=always needs) — the harness sends both, so every suite checks that it is one answer.
 */
export class SlackEvents {
  readonly byId = new Map<string, Record<string, unknown>>();

  constructor(private readonly fake: FakeSlack) {}

  forUser(m: UserMessage): Array<Record<string, unknown>> {
    if (m.chat === 'direct') {
      const channel = m.chatId ?? `D${m.userId.replace(/\W/g, '').toUpperCase()}`;
      return [this.wrap(messageEvent({ channel, channelType: 'im', user: m.userId, text: m.text }))];
    }
    const channel = m.chatId ?? DEFAULT_GROUP;
    if (!m.mention) {
      return [this.wrap(messageEvent({ channel, channelType: 'channel', user: m.userId, text: m.text }))];
    }
    const text = `<@${this.fake.id.botUserId}> ${m.text}`;
    const asMessage = messageEvent({ channel, channelType: 'channel', user: m.userId, text });
    const asMention = messageEvent({ channel, user: m.userId, text, ts: asMessage.ts }, 'app_mention');
    return [this.wrap(asMessage), this.wrap(asMention)];
  }

  private wrap(event: Record<string, unknown>) {
    const payload = this.fake.envelope(event);
    this.byId.set(payload.event_id, payload);
    return payload;
  }
}

/**
 * The Slack harness. `http` delivers signed Events API requests to the service's Request URL;
 * `socket` runs the service in Socket Mode and delivers envelopes over the fake's WebSocket.
 */
export function slackHarness(mode: 'http' | 'socket' = 'http'): ConnectorHarness {
  return {
    platform: 'slack',
    textLimit: 4000,
    bold: (w) => `*${w}*`,
    async startFake(): Promise<FakePlatform> {
      const fake = await startFakeSlack();
      const events = new SlackEvents(fake);
      let url = '';

      const deliver = async (payload: Record<string, unknown>, retryNum?: number) => {
        if (mode === 'http') return (await fake.postEvent(url, payload, { retryNum })).status;
        const envelopeId = fake.socket.sendEvent(payload, retryNum);
        await fake.socket.waitFor(
          () => fake.socket.acks.some((a) => a.envelopeId === envelopeId),
          10_000,
          `the ack of envelope ${envelopeId}`,
        );
        return undefined;
      };

      return {
        serviceEnv: () => ({
          SLACK_BOT_TOKEN: fake.id.botToken,
          SLACK_API_URL: fake.apiUrl,
          ...(mode === 'http'
            ? { SLACK_SIGNING_SECRET: fake.signingSecret }
            : { SLACK_APP_TOKEN: fake.id.appToken }),
        }),
        async attach(svc: ServiceProcess) {
          url = `${svc.url}/slack/events`;
          if (mode === 'socket')
            await fake.socket.waitFor(() => fake.socket.connections() > 0, 10_000, 'a connection');
        },
        async sendUserMessage(m) {
          let last = { id: '', status: undefined as number | undefined };
          for (const payload of events.forUser(m)) {
            last = { id: String(payload.event_id), status: await deliver(payload) };
            if (last.status !== undefined && last.status !== 200) break;
          }
          return last;
        },
        async redeliver(id) {
          const payload = events.byId.get(id);
          if (!payload) throw new Error(`no event ${id}`);
          return { id, status: await deliver(payload, 1) };
        },
        async sendWithBadSignature(m) {
          if (mode === 'socket') return undefined;
          const [payload] = events.forUser(m);
          const forged = await fake.postEvent(url, payload, { signingSecret: 'not-the-signing-secret' });
          const unsigned = await fake.postEvent(url, payload, { signature: null });
          return forged.status === unsigned.status ? forged.status : -1;
        },
        sent: () =>
          fake.api.posted.map((p) => ({
            conversation: p.channel,
            text: p.text,
            thread: p.threadTs,
            files: p.files,
          })),
        failNextSends: (n, kind) => fake.failNextSends(n, kind),
        sendCalls: () => fake.api.sendCalls(),
        // Slack has no typing indicator for bots.
        typing: () => [],
        close: () => fake.close(),
      };
    },
  };
}
