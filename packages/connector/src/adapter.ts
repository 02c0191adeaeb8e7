import type { Platform, Pool } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';

/**
 * The contract between the shared connector runtime and one platform. An adapter only speaks its
 * platform's protocol: it verifies and normalises what arrives, and sends what it is given. Everything
 * else — publishing with confirms, de-duplication, identity, group policy, allowlists, attachments,
 * formatting limits, splitting, rate limits, retries and parking — is the runtime's, once for all.
 */

export type AttachmentKind = 'image' | 'file' | 'audio' | 'video';

/** A file the platform announced; the runtime decides whether (and how much of it) to download. */
export interface RemoteAttachment {
  kind: AttachmentKind;
  name?: string;
  mimeType?: string;
  /** Size the platform announced, when it does; files announced over the cap are not downloaded. */
  size?: number;
  /** Fetches the bytes with the platform's own credentials; must throw once more than maxBytes arrive. */
  download(maxBytes: number): Promise<Buffer>;
}

/** One platform message, normalised. The adapter fills it; the runtime turns it into the envelope. */
export interface NormalizedMessage {
  /**
   * The platform's own id of this delivery (Telegram update_id, Slack event_id, Discord message id,
   * WeCom MsgId, DingTalk msgId). The envelope id is derived from it, so a platform retry is one answer.
   */
  platformMessageId: string;
  /** The chat / channel (and thread, where replies belong to one) the answer goes to. */
  conversationId: string;
  chatType: 'direct' | 'group';
  /** Group / channel id used for the per-channel group policy; defaults to conversationId. */
  channelId?: string;
  threadId?: string;
  user: { id: string; name?: string };
  /** Text with the bot's own mention removed. */
  text: string;
  /** True when the message is addressed to the bot: @-mention, reply to the bot, or a command for it. */
  addressedToBot: boolean;
  /** Platform ids of other users mentioned. */
  mentions: string[];
  /** Platform id of the message this one replies to or quotes. */
  replyTo?: string;
  attachments: RemoteAttachment[];
  /**
   * What the adapter needs later to answer this message (chat id, thread ts, a session webhook…).
   * Stored by the runtime and handed back with the reply.
   */
  replyContext: Record<string, unknown>;
  /** When the context above stops being usable (e.g. a DingTalk session webhook's expiry). */
  replyContextExpiresAt?: Date;
}

/** What happened to an inbound message; adapters map it to their platform's acknowledgement. */
export type InboundOutcome =
  /** Published and confirmed by the broker: acknowledge the platform. */
  | 'published'
  /** Seen before (a platform retry): acknowledge, nothing published. */
  | 'duplicate'
  /** Not for the bot (group message without a mention, the bot's own message): acknowledge. */
  | 'ignored'
  /** Refused by policy (allowlist); the user was told politely. Acknowledge. */
  | 'refused';

/**
 * Hands a normalised message to the runtime. Resolves only once the outcome is settled (for
 * 'published': after the broker's confirm). Rejects when the message could not be taken — the adapter
 * must then NOT acknowledge the platform (HTTP 5xx, polling offset not advanced) so it is redelivered.
 */
export type InboundSink = (msg: NormalizedMessage) => Promise<InboundOutcome>;

/** Where a reply goes: the conversation, the inbound message it answers and the stored reply context. */
export interface ReplyTarget {
  conversationId: string;
  /** Envelope id of the inbound message answered. */
  inReplyTo: string;
  /** The adapter's replyContext for that message, or undefined when none was stored / it expired. */
  context: Record<string, unknown> | undefined;
}

export interface OutgoingFile {
  name: string;
  mimeType: string;
  data: Buffer;
}

/** Everything the runtime gives an adapter when it starts. */
export interface AdapterStartContext {
  sink: InboundSink;
  /** The service's HTTP server (health, metrics already on it): webhook routes go here. */
  http: FastifyInstance;
  /** The service's database, for adapters that keep state of their own (e.g. seen signatures). */
  pool?: Pool;
}

export interface PlatformAdapter {
  readonly platform: Platform;
  /** Stable id of this bot/app on the platform (bot username, Slack app id, corp+agent id…). */
  readonly botId: string;
  /** Longest message the platform accepts, in the unit it counts (characters after formatting). */
  readonly textLimit: number;
  /** Converts the model's Markdown to the platform's dialect, escaping what the platform would misread. */
  format(markdown: string): string;
  /** Registers webhook routes and/or starts polling or the gateway connection. */
  start(ctx: AdapterStartContext): Promise<void>;
  /** Stops taking new platform messages (polling, gateway); the HTTP server is closed by the runtime. */
  stop(): Promise<void>;
  /** Whether the platform side is usable (gateway connected, token valid); feeds /readyz. */
  isReady?(): boolean;
  /** Sends one already-formatted chunk; returns the platform's id of the message created. */
  sendText(target: ReplyTarget, text: string): Promise<string | undefined>;
  /** Sends a file; platforms without file replies leave this out and get a link in the text instead. */
  sendFile?(target: ReplyTarget, file: OutgoingFile): Promise<string | undefined>;
  /** Shows "typing…" / "working…" where the platform has such an indicator. */
  sendTyping?(target: ReplyTarget): Promise<void>;
  /**
   * Credentials (config keys) this adapter takes over while running, e.g. a bot token rotated in
   * Vault. Any other changed key is logged as needing a restart.
   */
  readonly liveSecrets?: readonly string[];
  /**
   * Called with the new values of the `liveSecrets` keys that changed. Later sends must use them;
   * an inbound connection (gateway, socket) may keep its session. A throw is logged, never fatal.
   */
  onSecretsChanged?(values: Record<string, string>): void | Promise<void>;
}
