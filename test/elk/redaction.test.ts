import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSecret } from '../../packages/core/src/logger.ts';
import { capturedLogger } from '../support/captured-logger.ts';
import { expectEcsLines, expectNoSecrets } from './ecs-lines.ts';

/**
 * Every way a secret can reach the logger: as text, as a field, nested, in an array, inside an
 * Error's message, stack or cause, or as the Error itself. The secrets are configured the way a
 * deployment configures them, in the environment, so the logger learns them at creation.
 */
const SECRETS = {
  API_TOKENS: 'apitok-5b1e9c0d7a2f4e8b',
  DB_PASSWORD: 'dbpass-0c9d8e7f6a5b4c3d',
  TELEGRAM_BOT_TOKEN: '7000002:AAHsecretBotToken_1234567890abc',
  OPENAI_API_KEY: 'sk-proj-6c2f0a9e8d7b1c4f5e3a',
  SLACK_SIGNING_SECRET: 'whsec-8f7e6d5c4b3a2918',
};
const ENV = {
  API_TOKENS: `${SECRETS.API_TOKENS},second-token-abcdef12`,
  DATABASE_URL: `postgres://switchboard:${SECRETS.DB_PASSWORD}@postgres:5432/switchboard`,
  TELEGRAM_BOT_TOKEN: SECRETS.TELEGRAM_BOT_TOKEN,
  OPENAI_API_KEY: SECRETS.OPENAI_API_KEY,
  SLACK_SIGNING_SECRET: SECRETS.SLACK_SIGNING_SECRET,
};

function captured() {
  const { log, raw } = capturedLogger('redaction-test');
  return { log, lines: raw };
}

describe('redaction on every logger path', () => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries(ENV)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const check = (lines: string[], count: number) => {
    expect(lines).toHaveLength(count);
    expectEcsLines('redaction-test', lines);
    expectNoSecrets('logger', lines, { ...SECRETS, SECOND_API_TOKEN: 'second-token-abcdef12' });
  };

  it('masks configured secrets quoted in the message text, at every level', () => {
    const { log, lines } = captured();
    for (const level of ['error', 'warn', 'info', 'debug'] as const) {
      for (const s of Object.values(SECRETS)) log[level](`the value is ${s}, really`);
    }
    check(lines(), 4 * Object.keys(SECRETS).length);
    expect(lines().every((l) => l.includes('the value is ***, really'))).toBe(true);
  });

  it('masks them in meta fields, nested objects and arrays, whatever the field is called', () => {
    const { log, lines } = captured();
    log.info('request', {
      note: SECRETS.OPENAI_API_KEY,
      http: {
        request: {
          headers: { 'x-api-key': SECRETS.OPENAI_API_KEY, 'x-custom': SECRETS.SLACK_SIGNING_SECRET },
        },
      },
      url: { full: `https://api.telegram.org/bot${SECRETS.TELEGRAM_BOT_TOKEN}/sendMessage` },
      list: [SECRETS.API_TOKENS, { deep: [{ deeper: ENV.DATABASE_URL }] }],
      labels: { platform: 'telegram' },
    });
    check(lines(), 1);
    const line = JSON.parse(lines()[0]!) as Record<string, unknown>;
    // Ordinary fields survive, and enough of a URL stays to diagnose it.
    expect(line.labels).toEqual({ platform: 'telegram' });
    expect(lines()[0]).toContain('https://api.telegram.org/bot***/sendMessage');
    expect(lines()[0]).toContain('postgres://switchboard:***@postgres:5432/switchboard');
  });

  it('masks them in an Error: its message, stack and cause, given as a field or as the entry itself', () => {
    const { log, lines } = captured();
    const cause = new Error(`upstream said Bearer ${SECRETS.OPENAI_API_KEY} is invalid`);
    const err = new Error(`cannot reach ${ENV.DATABASE_URL} with token ${SECRETS.API_TOKENS}`, { cause });
    log.error('start failed', { err });
    log.error(err);
    log.warn('wrapped', { error: { message: `secret ${SECRETS.SLACK_SIGNING_SECRET}`, cause: { cause } } });
    check(lines(), 3);
    expect(lines()[0]).toContain('postgres:5432');
  });

  it('masks a secret registered after start, e.g. one read from a file or Vault', () => {
    const { log, lines } = captured();
    const rotated = 'rotated-secret-value-42';
    registerSecret(rotated);
    log.info(`new token ${rotated}`, { token: rotated, other: [rotated] });
    check(lines(), 1);
    expect(lines()[0]).not.toContain(rotated);
  });

  it('does not treat numbers and switches named like secrets as secrets', () => {
    process.env.MAX_TOKENS_PER_MINUTE = '40000';
    process.env.TOKEN_CACHE_ENABLED = 'true';
    try {
      const { log, lines } = captured();
      log.info('limit 40000 reached; cache true');
      check(lines(), 1);
      expect(lines()[0]).toContain('limit 40000 reached; cache true');
    } finally {
      delete process.env.MAX_TOKENS_PER_MINUTE;
      delete process.env.TOKEN_CACHE_ENABLED;
    }
  });
});
