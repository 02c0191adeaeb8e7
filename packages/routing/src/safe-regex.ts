import vm from 'node:vm';
import { RoutingError, RoutingErrorCode } from './errors.ts';

/** Longer patterns are refused: routing rules are short prefixes and keywords, not parsers. */
export const MAX_PATTERN_CHARS = 256;
const ALLOWED_FLAGS = /^(?!.*(.).*\1)[imsu]*$/;

/**
 * Checks a rule's text pattern and compiles it. Two guards against catastrophic backtracking (a
 * message that pins a worker's CPU for minutes): patterns with nested quantifiers (`(a+)+`,
 * `(\w*\s?)*`) or backreferences are refused here, at save and at load; and every match runs under
 * a time budget ({@link RegexRunner}), which catches what a static check cannot (`(a|a)*$`).
 */
export function compileRulePattern(pattern: string, flags = ''): RegExp {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_CHARS) {
    throw new RoutingError(
      RoutingErrorCode.invalid,
      `text pattern must be 1-${MAX_PATTERN_CHARS} characters (got ${pattern.length})`,
    );
  }
  if (!ALLOWED_FLAGS.test(flags)) {
    throw new RoutingError(RoutingErrorCode.invalid, `text flags "${flags}": only i, m, s and u, each once`);
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern, flags);
  } catch (err) {
    throw new RoutingError(
      RoutingErrorCode.invalid,
      `text pattern does not compile: ${(err as Error).message}`,
    );
  }
  const unsafe = unsafeConstruct(pattern);
  if (unsafe) {
    throw new RoutingError(
      RoutingErrorCode.unsafeRegex,
      `text pattern refused: ${unsafe} can make matching take exponential time`,
    );
  }
  return re;
}

interface Group {
  repeats: boolean;
}

/**
 * Scans the pattern's structure (escapes, classes, groups, quantifiers) and names the first
 * dangerous construct, or returns undefined. Only called on patterns that compiled.
 */
export function unsafeConstruct(src: string): string | undefined {
  const stack: Group[] = [{ repeats: false }];
  // What a following quantifier applies to: a closed group (with what it held) or a single atom.
  let last: Group | 'atom' | undefined;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      if (/[1-9]/.test(n) || (n === 'k' && src[i + 2] === '<')) return `the backreference "\\${n}"`;
      // \u{…} and \p{…} carry braces that are not a quantifier.
      if ((n === 'u' || n === 'p' || n === 'P') && src[i + 2] === '{') {
        i = src.indexOf('}', i) + 1 || src.length;
      } else {
        i += 2;
      }
      last = 'atom';
      continue;
    }
    if (c === '[') {
      i = classEnd(src, i);
      last = 'atom';
      continue;
    }
    if (c === '(') {
      stack.push({ repeats: false });
      i += groupPrefixLength(src, i);
      last = undefined;
      continue;
    }
    if (c === ')') {
      const g = stack.length > 1 ? stack.pop()! : { repeats: false };
      // What repeats inside a group repeats inside everything that encloses it.
      if (g.repeats) stack.at(-1)!.repeats = true;
      last = g;
      i++;
      continue;
    }
    const q = quantifierAt(src, i);
    if (q) {
      if (q.repeats) {
        if (last && last !== 'atom' && last.repeats) return `the nested quantifier at "${excerpt(src, i)}"`;
        stack.at(-1)!.repeats = true;
      }
      i += q.length;
      last = undefined;
      continue;
    }
    last = c === '|' ? undefined : 'atom';
    i++;
  }
  return undefined;
}

function classEnd(src: string, start: number): number {
  let i = start + 1;
  if (src[i] === '^') i++;
  while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
  return i + 1;
}

function groupPrefixLength(src: string, i: number): number {
  if (src[i + 1] !== '?') return 1;
  const m = /^\(\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(src.slice(i, i + 40));
  return m ? m[0].length : 2;
}

/** A quantifier and whether it can repeat its atom more than once (`?` and `{0,1}` cannot). */
function quantifierAt(src: string, i: number): { length: number; repeats: boolean } | undefined {
  const c = src[i];
  let length: number;
  let repeats: boolean;
  if (c === '*' || c === '+') {
    length = 1;
    repeats = true;
  } else if (c === '?') {
    length = 1;
    repeats = false;
  } else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
    if (!m) return undefined;
    length = m[0].length;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    repeats = max > 1;
  } else {
    return undefined;
  }
  // A lazy quantifier backtracks just as much.
  if (src[i + length] === '?') length++;
  return { length, repeats };
}

function excerpt(src: string, i: number): string {
  return src.slice(Math.max(0, i - 12), i + 1);
}

/**
 * Runs pattern tests with a time budget. V8 interrupts a regular expression stuck in backtracking
 * when a `vm` timeout fires, so one bad pattern costs at most the budget, never the worker.
 * Each call costs tens of microseconds (the watchdog), acceptable once per rule per message.
 */
export class RegexRunner {
  private readonly context = vm.createContext(Object.create(null));
  private readonly script = new vm.Script('re.lastIndex = 0; re.test(text)');

  constructor(private readonly budgetMs: number) {}

  /** true / false, or 'timeout' when the budget ran out. */
  test(re: RegExp, text: string): boolean | 'timeout' {
    this.context.re = re;
    this.context.text = text;
    try {
      return this.script.runInContext(this.context, { timeout: this.budgetMs }) === true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'timeout';
      throw err;
    } finally {
      this.context.re = undefined;
      this.context.text = undefined;
    }
  }
}
