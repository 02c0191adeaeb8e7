import type { Logger } from '@switchboard/core';
import type { NormalizedMessage } from './adapter.ts';
import { asPairingCode, generatePairingCode, verifyPairingCode } from './pairing-code.ts';
import type { PairingStore, Standing } from './pairing-store.ts';

/**
 * `open`: everyone (or, with ALLOWED_USERS set, only those users — the behaviour before pairing).
 * `verification_code`: strangers must be paired first, by a code an operator hands them or an
 * admin's approval. `direct_block`: strangers are refused; only allowlisted and paired users pass.
 */
export type StrangerMode = 'open' | 'verification_code' | 'direct_block';

export interface StrangerGateOptions {
  platform: string;
  mode: StrangerMode;
  /** Platform user ids that pass without pairing, in every mode. */
  allowedUsers: string[];
  codeTtlSeconds: number;
  maxAttempts: number;
  blockSeconds: number;
  /** Least time between two refusals to one blocked user, or two reminders to one pending user. */
  noticeIntervalSeconds?: number;
}

/** What happened at the gate, for the `connector_pairing_total{event}` metric. */
export type PairingEvent =
  | 'requested'
  | 'reminded'
  | 'paired'
  | 'wrong_code'
  | 'blocked'
  | 'expired'
  | 'refused';

export type GateDecision =
  /**
   * The message goes on to the agents, saying why: a known user (`allowlisted`, `paired`) or a
   * stranger let in by STRANGER_MODE=open, to whom the agents show nothing internal.
   */
  | { action: 'pass'; admitted: 'allowlisted' | 'paired' | 'open' }
  /** Not for the bot (a stranger's group chatter): dropped silently. */
  | { action: 'ignore' }
  /** Stopped here; the user is told `notice` when there is one (refusals are rate-limited). */
  | { action: 'refuse'; notice?: string };

export interface GateContext {
  /** Envelope id of the message, the key that makes a platform redelivery count once. */
  messageId: string;
  botId: string;
  /** Log fields of the message (trace id, labels). */
  fields: { labels: Record<string, string | undefined> } & Record<string, unknown>;
}

export const PairingNotices = {
  notAllowed: 'Sorry, this assistant only answers approved users. Ask your administrator to add you.',
  opened: (id: string, validFor: string) =>
    `You are not yet approved to use this assistant. Ask an administrator for your pairing code and send it here, or wait for an administrator to approve you. Your request number is ${id}; it stays open for ${validFor}. Until then your messages are not answered.`,
  reminder: (id: string) =>
    `You are not yet approved to use this assistant. Send the pairing code an administrator gave you, or wait for approval (request number ${id}). Your messages are not answered until then.`,
  paired: 'Thank you, you are approved. Send your question again and I will answer it.',
  wrongCode: (left: number) =>
    `That code is not right. You have ${left} ${left === 1 ? 'attempt' : 'attempts'} left.`,
  tooManyAttempts: (again: string) =>
    `That code is not right, and that was the last attempt. You can ask again in ${again}, or ask an administrator to approve you.`,
  expired: (again: string) =>
    `Your pairing request has expired. You can ask again in ${again}, or ask an administrator to approve you.`,
  blocked: (again: string) =>
    `Sorry, you cannot use this assistant right now. Please try again in ${again}, or ask an administrator.`,
};

/** "about 10 minutes", "about an hour": a stranger needs the order of magnitude, not a timestamp. */
function roughly(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return minutes === 1 ? 'about a minute' : `about ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? 'about an hour' : `about ${hours} hours`;
}

const pass = (admitted: 'allowlisted' | 'paired' | 'open'): GateDecision => ({ action: 'pass', admitted });

/**
 * Decides, before anything is published, whether a message's sender may reach the agents. Only
 * known users pass: allowlisted (no query) or paired (one query). Nothing a stranger sends reaches
 * the model, not even the code; their attachments are not downloaded.
 */
export class StrangerGate {
  private readonly allowed: Set<string>;
  private readonly noticeInterval: number;

  constructor(
    private readonly o: StrangerGateOptions,
    private readonly d: { store: PairingStore; log: Logger; onEvent?: (event: PairingEvent) => void },
  ) {
    this.allowed = new Set(o.allowedUsers);
    this.noticeInterval = o.noticeIntervalSeconds ?? 60;
  }

  /** Said once at start, so an operator sees which mode a connector runs in. */
  describe(): { message: string; level: 'info' | 'warn' } {
    if (this.o.mode === 'direct_block' && this.allowed.size === 0) {
      return {
        level: 'warn',
        message:
          'STRANGER_MODE=direct_block with an empty ALLOWED_USERS: only users an administrator paired can talk to the bot',
      };
    }
    return { level: 'info', message: `stranger mode: ${this.o.mode}` };
  }

  async admit(msg: NormalizedMessage, ctx: GateContext): Promise<GateDecision> {
    const user = msg.user.id;
    if (this.allowed.has(user)) return pass('allowlisted');
    if (this.o.mode === 'open') {
      if (this.allowed.size === 0) {
        // Everyone passes, but a paired user is still told apart from a stranger: the agents show
        // strangers nothing internal.
        const s = await this.d.store.standing(this.o.platform, user);
        return pass(s.paired ? 'paired' : 'open');
      }
      this.d.log.warn('message from a user not on the allowlist refused', this.fields(ctx, msg));
      return this.refuse('refused', PairingNotices.notAllowed);
    }
    return this.decide(msg, ctx, 0);
  }

  private async decide(msg: NormalizedMessage, ctx: GateContext, again: number): Promise<GateDecision> {
    const store = this.d.store;
    const code = this.o.mode === 'verification_code' ? asPairingCode(msg.text) : undefined;
    if (code) {
      const earlier = await store.attemptOf(ctx.messageId);
      if (earlier) return this.replayAttempt(earlier);
    }
    const s = await store.standing(this.o.platform, msg.user.id);
    if (s.paired) return pass('paired');
    // In a group that answers everything, a stranger's chatter is neither a request to be let in
    // nor worth a refusal in front of everyone.
    if (msg.chatType === 'group' && !msg.addressedToBot) return { action: 'ignore' };
    if (s.blockedUntil) return this.refuseBlocked(msg, ctx, s.blockedUntil);
    if (this.o.mode === 'direct_block') {
      this.d.log.warn('message from a stranger refused (direct_block)', this.fields(ctx, msg));
      return this.refuse('refused', PairingNotices.notAllowed);
    }
    const pending = s.pending;
    if (!pending) return this.open(msg, ctx, again);
    if (pending.messageId === ctx.messageId) {
      // The platform redelivered the message that opened the request: the same answer again.
      return {
        action: 'refuse',
        notice: PairingNotices.opened(pending.id, roughly(secondsUntil(pending.expiresAt))),
      };
    }
    if (pending.expired) {
      if (!(await store.expire(pending.id, this.o.blockSeconds))) return this.retry(msg, ctx, again);
      this.d.log.warn('pairing request expired; user blocked', this.fields(ctx, msg, pending.id));
      this.d.onEvent?.('expired');
      return this.refuse('blocked', PairingNotices.expired(roughly(this.o.blockSeconds)));
    }
    if (code) return this.tryCode(msg, ctx, pending, code, again);
    if (await store.noticeDue({ requestId: pending.id }, this.noticeInterval)) {
      return this.refuse('reminded', PairingNotices.reminder(pending.id));
    }
    this.d.log.info('message from a user awaiting pairing dropped', this.fields(ctx, msg, pending.id));
    return { action: 'refuse' };
  }

  private async open(msg: NormalizedMessage, ctx: GateContext, again: number): Promise<GateDecision> {
    const code = generatePairingCode();
    const opened = await this.d.store.open({
      platform: this.o.platform,
      botId: ctx.botId,
      externalId: msg.user.id,
      userName: msg.user.name,
      conversationId: msg.conversationId,
      messageId: ctx.messageId,
      code,
      ttlSeconds: this.o.codeTtlSeconds,
    });
    if (!opened) return this.retry(msg, ctx, again);
    // NOTE: logging the code is deliberate — it is how an operator without the console learns it,
    // to hand it over out of band. It works only for this user's account and only until expires_at.
    this.d.log.warn(
      `pairing requested: give the user code ${code} or approve request ${opened.id}`,
      this.fields(ctx, msg, opened.id, {
        user_name: msg.user.name,
        pairing_code: code,
        pairing_expires_at: opened.expiresAt.toISOString(),
      }),
    );
    return this.refuse('requested', PairingNotices.opened(opened.id, roughly(this.o.codeTtlSeconds)));
  }

  private async tryCode(
    msg: NormalizedMessage,
    ctx: GateContext,
    pending: NonNullable<Standing['pending']>,
    code: string,
    again: number,
  ): Promise<GateDecision> {
    const ok = await verifyPairingCode(code, pending.codeHash);
    const result = await this.d.store.recordAttempt({
      requestId: pending.id,
      messageId: ctx.messageId,
      ok,
      maxAttempts: this.o.maxAttempts,
      blockSeconds: this.o.blockSeconds,
    });
    const fields = this.fields(ctx, msg, pending.id);
    switch (result.kind) {
      case 'paired':
        this.d.log.info('user paired with a code', fields);
        return this.refuse('paired', PairingNotices.paired);
      case 'wrong':
        this.d.log.warn('wrong pairing code', fields);
        return this.refuse('wrong_code', PairingNotices.wrongCode(result.attemptsLeft));
      case 'blocked':
        this.d.log.warn('too many wrong pairing codes; user blocked', fields);
        this.d.onEvent?.('wrong_code');
        return this.refuse('blocked', PairingNotices.tooManyAttempts(roughly(this.o.blockSeconds)));
      case 'expired':
        this.d.log.warn('pairing request expired; user blocked', fields);
        this.d.onEvent?.('expired');
        return this.refuse('blocked', PairingNotices.expired(roughly(this.o.blockSeconds)));
      case 'stale':
        return this.retry(msg, ctx, again);
    }
  }

  /** A redelivered code message: answer as the first time, without counting it again. */
  private replayAttempt(a: { ok: boolean; status: string; attempts: number }): GateDecision {
    if (a.ok) return { action: 'refuse', notice: PairingNotices.paired };
    if (a.status === 'denied')
      return { action: 'refuse', notice: PairingNotices.tooManyAttempts(roughly(this.o.blockSeconds)) };
    return {
      action: 'refuse',
      notice: PairingNotices.wrongCode(Math.max(1, this.o.maxAttempts - a.attempts)),
    };
  }

  private async refuseBlocked(msg: NormalizedMessage, ctx: GateContext, until: Date): Promise<GateDecision> {
    const due = await this.d.store.noticeDue(
      { platform: this.o.platform, externalId: msg.user.id },
      this.noticeInterval,
    );
    this.d.log.info(
      due ? 'message from a blocked user refused' : 'message from a blocked user refused (notice throttled)',
      this.fields(ctx, msg),
    );
    return this.refuse('refused', due ? PairingNotices.blocked(roughly(secondsUntil(until))) : undefined);
  }

  /** Someone decided the request between our read and write (an admin, a concurrent message). */
  private retry(msg: NormalizedMessage, ctx: GateContext, again: number): Promise<GateDecision> {
    if (again >= 2) return Promise.resolve({ action: 'refuse', notice: PairingNotices.notAllowed });
    return this.decide(msg, ctx, again + 1);
  }

  private refuse(event: PairingEvent, notice?: string): GateDecision {
    this.d.onEvent?.(event);
    return { action: 'refuse', notice };
  }

  private fields(
    ctx: GateContext,
    msg: NormalizedMessage,
    requestId?: string,
    extra: Record<string, string | undefined> = {},
  ) {
    return {
      ...ctx.fields,
      labels: { ...ctx.fields.labels, user_id: msg.user.id, pairing_request: requestId, ...extra },
    };
  }
}

function secondsUntil(t: Date): number {
  return Math.max(0, (t.getTime() - Date.now()) / 1000);
}
