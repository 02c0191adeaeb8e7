import type { ServiceProcess } from '../support/stack.ts';

/**
 * What the shared connector behaviour suite (contract.ts) needs from one platform: a fake of the
 * platform's API that the connector's real client library talks to, and ways to act as the platform
 * and as a user on it. One harness per platform; the suite runs the same checks against each.
 */
export interface ConnectorHarness {
  /** e.g. `telegram`; the service started is `ingress-<platform>`. */
  readonly platform: string;
  /** The connector's message limit, to check that long replies were split within it. */
  readonly textLimit: number;
  /** How the platform's dialect shows the Markdown `**word**` (e.g. `<b>word</b>`, `*word*`). */
  bold(word: string): string;
  /** Starts the fake platform. */
  startFake(): Promise<FakePlatform>;
}

export interface SentMessage {
  /** Chat / channel the bot posted to. */
  conversation: string;
  /** The text exactly as the platform received it (in the platform's dialect). */
  text: string;
  /** Thread / reply target, where the platform has one. */
  thread?: string;
  /** Names of files uploaded with or as this message. */
  files: string[];
}

export interface UserMessage {
  chat: 'direct' | 'group';
  /** Chat / channel id; the harness picks a default per chat type when absent. */
  chatId?: string;
  userId: string;
  text: string;
  /** In groups: whether the bot is @-mentioned. */
  mention?: boolean;
}

export interface Delivered {
  /** The platform's id of this delivery, to redeliver it. */
  id: string;
  /** HTTP status our webhook answered; undefined for gateway/polling platforms. */
  status?: number;
}

export interface FakePlatform {
  /** Environment that points the connector at this fake (API base URL, tokens, secrets). */
  serviceEnv(): Record<string, string>;
  /** Anything to do once the service runs (e.g. register its webhook URL with the fake). */
  attach?(svc: ServiceProcess): Promise<void>;
  /** Delivers a user's message the way the platform would (webhook POST, polling update, gateway event). */
  sendUserMessage(m: UserMessage): Promise<Delivered>;
  /** Delivers the very same update/event again, as the platform does when it retries. */
  redeliver(id: string): Promise<Delivered>;
  /**
   * Delivers a message with a wrong signature/secret (webhook platforms) and returns the HTTP status;
   * gateway-only platforms return undefined and the suite checks their bad-token start instead.
   */
  sendWithBadSignature(m: UserMessage): Promise<number | undefined>;
  /** Messages the bot posted through the platform API, in order. */
  sent(): SentMessage[];
  /** The next n send calls of the platform API fail: 429 with retry-after, or 5xx. */
  failNextSends(n: number, kind: 'rate_limit' | 'server_error'): void;
  /** Number of send calls the API has received (failed ones included). */
  sendCalls(): number;
  /** Typing/"working" indicators received, by conversation. */
  typing(): string[];
  close(): Promise<void>;
}
