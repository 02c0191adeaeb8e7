import type { InboundEnvelope } from '@switchboard/core';
import type { RuleMatch, RuleTarget } from '@switchboard/routing';
import { channelMatches, parseQualifiedId, type QualifiedId, userMatches } from '@switchboard/routing';

/** A validated, enabled rule ready to be tried, its pattern compiled. */
export interface CompiledRule {
  id: string;
  position: number;
  name: string;
  match: RuleMatch;
  target: RuleTarget;
  regex: RegExp | undefined;
}

const anyOf = <T>(want: T | T[] | undefined, ...have: Array<T | undefined>): boolean => {
  if (want === undefined) return true;
  const list = Array.isArray(want) ? want : [want];
  return have.some((h) => h !== undefined && list.includes(h));
};

/**
 * Whether any of the rule's platform-qualified ids holds for the message. An id that does not parse
 * (a rule that skipped validation) matches nothing, so a broken rule can only narrow, never widen.
 */
function anyQualified(
  want: string | string[] | undefined,
  what: 'user' | 'channel',
  holds: (q: QualifiedId, env: InboundEnvelope) => boolean,
  env: InboundEnvelope,
): boolean {
  if (want === undefined) return true;
  return [want].flat().some((v) => {
    const q = parseQualifiedId(v, what);
    return typeof q !== 'string' && holds(q, env);
  });
}

/**
 * The conditions that cost nothing to check: everything but the text pattern and the intent,
 * which the router checks afterwards (under a time budget, and through the classifier).
 */
export function matchesCheaply(m: RuleMatch, env: InboundEnvelope): boolean {
  if (!anyOf(m.platform, env.platform)) return false;
  if (!anyOf(m.botId, env.botId)) return false;
  if (!anyQualified(m.channel, 'channel', channelMatches, env)) return false;
  if (!anyQualified(m.user, 'user', userMatches, env)) return false;
  if (m.group !== undefined && (env.chat?.type ?? 'direct') !== m.group) return false;
  if (m.minChars !== undefined && env.text.length < m.minChars) return false;
  if (m.maxChars !== undefined && env.text.length > m.maxChars) return false;
  if (m.claims) {
    for (const [claim, want] of Object.entries(m.claims)) {
      const have = env.claims?.[claim];
      if (have === undefined) return false;
      // JSON numbers and booleans compare by their text, so `"level": "3"` matches a numeric claim.
      const wanted = (Array.isArray(want) ? want : [want]).map(String);
      if (!wanted.includes(String(have))) return false;
    }
  }
  return true;
}
