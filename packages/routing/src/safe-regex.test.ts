import { describe, expect, it } from 'vitest';
import { RoutingError, RoutingErrorCode } from './errors.ts';
import { compileRulePattern, MAX_PATTERN_CHARS, RegexRunner, unsafeConstruct } from './safe-regex.ts';

function refusal(pattern: string, flags?: string): RoutingError {
  try {
    compileRulePattern(pattern, flags);
  } catch (err) {
    expect(err).toBeInstanceOf(RoutingError);
    return err as RoutingError;
  }
  throw new Error(`pattern ${pattern} was accepted`);
}

describe('rule text patterns', () => {
  it('accepts the patterns routing rules are made of', () => {
    for (const p of [
      '^#(urgent|important)',
      'deploy\\s+(to\\s+)?prod',
      '(foo|bar)+',
      '[a-z]+@[a-z]+\\.com',
      '\\u{1F600}{2,3}',
      '\\p{Script=Han}+',
      '(?<tag>#\\w+)',
      '(?:ab){2}c',
      '(a+)?b',
      '(?=x)(\\d+)',
      '[(+*]+',
      'a{1,}',
    ]) {
      expect(() => compileRulePattern(p, 'iu'), p).not.toThrow();
    }
    expect(compileRulePattern('^#(urgent|important)', 'i').test('#URGENT disk full')).toBe(true);
  });

  it('refuses nested quantifiers and backreferences with a stable code', () => {
    for (const p of [
      '(a+)+',
      '(a*)*$',
      '(\\w*\\s?)*',
      '((ab)*c)+',
      '(a{2,})*',
      '(?:[a-z]+\\d)+x',
      '(x+x+)+y',
      '(a+?)+',
      '(.*)\\1',
      '(?<x>a)\\k<x>',
    ]) {
      const err = refusal(p);
      expect(err.code, p).toBe(RoutingErrorCode.unsafeRegex);
      expect(err.statusCode).toBe(400);
      expect(err.message).toMatch(/nested quantifier|backreference/);
    }
  });

  it('refuses patterns that do not compile, bad flags and oversized patterns', () => {
    expect(refusal('(unclosed').message).toMatch(/does not compile/);
    expect(refusal('a', 'g').message).toMatch(/flags/);
    expect(refusal('a', 'ii').message).toMatch(/flags/);
    expect(refusal('a'.repeat(MAX_PATTERN_CHARS + 1)).message).toMatch(/1-256 characters/);
    expect(refusal('').code).toBe(RoutingErrorCode.invalid);
  });

  it('finds quantifiers hidden behind escapes and classes correctly', () => {
    // Braces of \u{…} and the + inside a class are not quantifiers.
    expect(unsafeConstruct('(\\u{61}+)')).toBeUndefined();
    expect(unsafeConstruct('([+*])+')).toBeUndefined();
    expect(unsafeConstruct('(\\(+)+')).toMatch(/nested/);
  });
});

describe('RegexRunner', () => {
  it('stops a pattern that backtracks exponentially at its budget', () => {
    // Passes the static check (no nested quantifier), yet takes exponential time without a match.
    const evil = compileRulePattern('^(a|a)*$');
    const runner = new RegexRunner(25);
    const started = performance.now();
    expect(runner.test(evil, `${'a'.repeat(40)}!`)).toBe('timeout');
    expect(performance.now() - started).toBeLessThan(2_000);
    // The runner keeps working afterwards.
    expect(runner.test(compileRulePattern('^#urgent'), '#urgent now')).toBe(true);
    expect(runner.test(compileRulePattern('^#urgent'), 'not urgent')).toBe(false);
  });

  it('matches the same way a second time (no lastIndex state)', () => {
    const runner = new RegexRunner(25);
    const re = compileRulePattern('disk', 'i');
    expect(runner.test(re, 'Disk full')).toBe(true);
    expect(runner.test(re, 'Disk full')).toBe(true);
  });
});
