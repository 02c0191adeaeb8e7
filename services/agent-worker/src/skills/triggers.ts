import { unsafeConstruct } from '@switchboard/routing';
import { SkillErrorCode, SkillLoadError, type TriggerInput } from './types.ts';

export const MAX_TRIGGER_CHARS = 256;
const ALLOWED_FLAGS = /^(?!.*(.).*\1)[imsu]*$/;
const ASCII_WORD = /[A-Za-z0-9_]/;

/**
 * Turns a skill's triggers into regular expressions. A plain string is a regex matched
 * case-insensitively; `{ keyword }` matches the words literally, on word boundaries where the
 * keyword starts or ends with a Latin letter or digit (CJK text has no spaces, so a CJK keyword
 * matches anywhere in the text).
 */
export function compileTriggers(triggers: readonly TriggerInput[]): RegExp[] {
  return triggers.map((t, i) => {
    const where = `triggers[${i}]`;
    if (t instanceof RegExp) return checked(t.source, t.flags.replace(/[gy]/g, ''), where);
    if (typeof t === 'string') return checked(t, 'iu', where);
    if ('keyword' in t) return keywordRegex(t.keyword, where);
    return checked(t.regex, t.flags ?? 'iu', where);
  });
}

function keywordRegex(keyword: string, where: string): RegExp {
  const k = keyword.trim();
  if (k === '' || k.length > MAX_TRIGGER_CHARS) {
    throw new SkillLoadError(
      SkillErrorCode.triggerInvalid,
      `${where}: keyword must be 1-${MAX_TRIGGER_CHARS} characters`,
    );
  }
  // Any run of spaces in the keyword matches any run of whitespace in the message.
  const body = k
    .split(/\s+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('\\s+');
  const before = ASCII_WORD.test(k[0]!) ? '(?<![A-Za-z0-9_])' : '';
  const after = ASCII_WORD.test(k.at(-1)!) ? '(?![A-Za-z0-9_])' : '';
  return new RegExp(`${before}${body}${after}`, 'iu');
}

function checked(source: string, flags: string, where: string): RegExp {
  if (source.length === 0 || source.length > MAX_TRIGGER_CHARS) {
    throw new SkillLoadError(
      SkillErrorCode.triggerInvalid,
      `${where}: pattern must be 1-${MAX_TRIGGER_CHARS} characters (got ${source.length})`,
    );
  }
  if (!ALLOWED_FLAGS.test(flags)) {
    throw new SkillLoadError(
      SkillErrorCode.triggerInvalid,
      `${where}: flags "${flags}": only i, m, s and u, each once`,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(source, flags);
  } catch (err) {
    throw new SkillLoadError(
      SkillErrorCode.triggerInvalid,
      `${where}: "${source}" does not compile: ${(err as Error).message}`,
    );
  }
  // Every message is tested against every trigger: one that backtracks without end would stall the worker.
  const unsafe = unsafeConstruct(source);
  if (unsafe) {
    throw new SkillLoadError(
      SkillErrorCode.triggerInvalid,
      `${where}: "${source}" refused: ${unsafe} can make matching take exponential time`,
    );
  }
  return re;
}
