import { type InboundEnvelope, type Platform, platformSchema } from '@switchboard/core';
import { z } from 'zod';

/**
 * Platforms whose user ids the platform itself vouches for: the connector verified the request
 * (signature, secret token, bot gateway) and the id comes from the platform, not from the sender.
 * Web, API and OpenAI-compatible clients hold an API credential but name their user themselves, so
 * their user and conversation ids are claims. An allowlist: a platform added later is a claim until
 * it is listed here.
 */
export const VERIFIED_IDENTITY_PLATFORMS: ReadonlySet<Platform> = new Set<Platform>([
  'telegram',
  'slack',
  'discord',
  'wecom',
  'dingtalk',
]);

export function hasVerifiedIdentity(platform: Platform): boolean {
  return VERIFIED_IDENTITY_PLATFORMS.has(platform);
}

/** Prefix of our own user ids (user_identities) in a rule's `user` condition. */
export const INTERNAL = 'internal';

export type QualifiedId =
  | { kind: 'platform'; platform: Platform; id: string }
  | { kind: 'internal'; id: string };

const PLATFORMS = platformSchema.options.join(', ');
const uuid = z.uuid();

function example(bare: string): string {
  return `"slack:${bare}" (verified by Slack), "web:${bare}" (a claim any web client can make)`;
}

/**
 * Reads `slack:U123`, `web:alice` or, for users only, `internal:<uuid>`. Everything after the first
 * colon is the id, so a platform id may itself contain colons. Returns the reason it cannot.
 */
export function parseQualifiedId(value: string, what: 'user' | 'channel'): QualifiedId | string {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) {
    return (
      `${what} "${value}" names no platform: write it as "<platform>:<id>", e.g. ${example(value)}` +
      `${what === 'user' ? `, or "${INTERNAL}:<uuid>" for a Switchboard user id` : ''}; a bare id would match the same id on every platform, web and API clients included`
    );
  }
  const prefix = value.slice(0, colon);
  const id = value.slice(colon + 1);
  if (prefix === INTERNAL) {
    if (what !== 'user') return `${what} "${value}": only users have Switchboard ids`;
    if (!uuid.safeParse(id).success) return `${what} "${value}": a Switchboard user id is a UUID`;
    return { kind: 'internal', id };
  }
  const platform = platformSchema.safeParse(prefix);
  if (!platform.success) {
    return `${what} "${value}": "${prefix}" is not a platform (one of ${PLATFORMS}${what === 'user' ? `, or ${INTERNAL}` : ''})`;
  }
  return { kind: 'platform', platform: platform.data, id };
}

/** Whether the message's sender is this user. A Switchboard id counts only on a verified platform. */
export function userMatches(q: QualifiedId, env: InboundEnvelope): boolean {
  if (q.kind === 'internal') return hasVerifiedIdentity(env.platform) && env.user.internalId === q.id;
  return env.platform === q.platform && env.user.id === q.id;
}

/** Whether the message was said in this group / channel, or in this conversation. */
export function channelMatches(q: QualifiedId, env: InboundEnvelope): boolean {
  if (q.kind !== 'platform' || env.platform !== q.platform) return false;
  return env.chat?.channelId === q.id || env.conversationId === q.id;
}

/** Whether a condition can hold on any of the given platforms (all of them when unset). */
export function canMatchOn(q: QualifiedId, platforms: readonly Platform[] | undefined): boolean {
  if (!platforms) return true;
  if (q.kind === 'internal') return platforms.some(hasVerifiedIdentity);
  return platforms.includes(q.platform);
}

/**
 * A sender no one vouched for: on a chat platform, someone the connector let in only because
 * STRANGER_MODE=open admits everyone (or a connector too old to say). Web and API clients hold an
 * API credential the operator issued, so they count as known.
 */
export function isStranger(env: InboundEnvelope): boolean {
  if (!hasVerifiedIdentity(env.platform)) return false;
  return env.user.admitted !== 'allowlisted' && env.user.admitted !== 'paired';
}
