import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import winston from 'winston';
import { createLogger, type Logger, registerEnvSecrets, registerSecret, traceFields } from './logger.ts';

/**
 * The service's logger with its Console transport swapped for a stream into memory. The format
 * (redaction + ECS) sits on the logger itself, so every transport gets the same line stdout would.
 */
function capturedLogger(level = 'info'): {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  raw: () => string;
} {
  const log = createLogger('test-service', level);
  let buf = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      buf += String(chunk);
      cb();
    },
  });
  log.clear();
  log.add(new winston.transports.Stream({ stream: sink }));
  return {
    log,
    raw: () => buf,
    lines: () =>
      buf
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * An ECS field as Elasticsearch reads it: ECS allows both `{"service.name": …}` and
 * `{"service": {"name": …}}`, so look up the dotted key first, then the nested path.
 */
function field(line: Record<string, unknown> | undefined, path: string): unknown {
  if (!line) return undefined;
  if (path in line) return line[path];
  const [head, ...rest] = path.split('.');
  const next = line[head!];
  if (rest.length === 0 || next === null || typeof next !== 'object')
    return rest.length === 0 ? next : undefined;
  return field(next as Record<string, unknown>, rest.join('.'));
}

describe('createLogger', () => {
  it('writes one ECS JSON object per line with service, level, time, trace id and labels', () => {
    const { log, lines } = capturedLogger();
    log.info('turn committed', traceFields('trace-abc123', { platform: 'telegram', conversation: 'c-42' }));
    const [line, ...rest] = lines();
    expect(rest).toHaveLength(0);
    expect(line?.message).toBe('turn committed');
    expect(field(line, 'log.level')).toBe('info');
    expect(field(line, 'service.name')).toBe('test-service');
    expect(field(line, 'trace.id')).toBe('trace-abc123');
    expect(field(line, 'labels.platform')).toBe('telegram');
    expect(field(line, 'labels.conversation')).toBe('c-42');
    expect(field(line, 'ecs.version')).toMatch(/^\d+\.\d+/);
    const ts = line?.['@timestamp'];
    expect(typeof ts).toBe('string');
    expect(Number.isNaN(Date.parse(String(ts)))).toBe(false);
    expect(Math.abs(Date.parse(String(ts)) - Date.now())).toBeLessThan(60_000);
  });

  it('honours the level: debug lines are dropped at info, kept at debug', () => {
    const info = capturedLogger('info');
    info.log.debug('noise');
    info.log.warn('kept');
    expect(info.lines().map((l) => l.message)).toEqual(['kept']);
    const debug = capturedLogger('debug');
    debug.log.debug('noise');
    const lines = debug.lines();
    expect(lines.map((l) => [l.message, field(l, 'log.level')])).toEqual([['noise', 'debug']]);
  });

  describe('never writes a secret', () => {
    const secrets = {
      token: 'tok-SECRET-1111',
      password: 'pw-SECRET-2222',
      bearer: 'eyJhbGciOiJIUzI1NiJ9.SECRET-3333',
      amqpPass: 'amqpSECRET4444',
      pgPass: 'pgSECRET5555',
      apiKey: 'sk-SECRET-6666',
      nested: 'nestedSECRET7777',
    };

    function expectNoSecret(raw: string): void {
      for (const s of Object.values(secrets)) expect(raw).not.toContain(s);
    }

    it('masks fields named like secrets, at any depth', () => {
      const { log, raw, lines } = capturedLogger();
      log.info('config loaded', {
        token: secrets.token,
        password: secrets.password,
        labels: { platform: 'slack' },
        client: { OPENAI_API_KEY: secrets.apiKey, deeper: { botToken: secrets.nested } },
      });
      expectNoSecret(raw());
      const [line] = lines();
      expect(line).toMatchObject({ token: '***', password: '***', client: { OPENAI_API_KEY: '***' } });
      expect(field(line, 'client.deeper.botToken')).toBe('***');
      // Ordinary fields next to them are untouched.
      expect(line?.labels).toEqual({ platform: 'slack' });
    });

    it('masks an Authorization header, both as a field and inside text', () => {
      const { log, raw } = capturedLogger();
      log.warn(`upstream refused request with Authorization: Bearer ${secrets.bearer}`, {
        http: { request: { headers: { authorization: `Bearer ${secrets.bearer}` } } },
      });
      expectNoSecret(raw());
      expect(raw()).toContain('Bearer ***');
    });

    it('masks the password of amqp and postgres URLs, keeping host and user for diagnosis', () => {
      const amqpUrl = `amqp://switchboard:${secrets.amqpPass}@rabbitmq:5672/vhost`;
      const pgUrl = `postgresql://sb:${secrets.pgPass}@postgres:5432/switchboard`;
      const { log, raw, lines } = capturedLogger();
      log.error(`cannot connect to ${amqpUrl}`, {
        error: { message: `connect ECONNREFUSED ${pgUrl}` },
        url: { full: pgUrl },
      });
      expectNoSecret(raw());
      const [line] = lines();
      expect(line?.message).toBe('cannot connect to amqp://switchboard:***@rabbitmq:5672/vhost');
      expect(field(line, 'url.full')).toBe('postgresql://sb:***@postgres:5432/switchboard');
    });

    it('masks the password of a redis URL with an empty user name (redis://:password@host)', () => {
      const { log, raw } = capturedLogger();
      log.warn(`rate-limit store unreachable at redis://:${secrets.nested}@redis:6379/0`);
      expectNoSecret(raw());
      expect(raw()).toContain('@redis:6379/0');
    });

    it('masks credentials in the message of an Error object passed as `err`', () => {
      const { log, raw, lines } = capturedLogger();
      log.error('broker connect failed', {
        err: new Error(`connect to amqp://switchboard:${secrets.amqpPass}@rabbitmq:5672 refused`),
      });
      expectNoSecret(raw());
      expect(field(lines()[0], 'error.message')).toContain('rabbitmq:5672');
    });
    it('masks a configured secret value wherever it appears, even in free text and arrays', () => {
      registerSecret('free-text-SECRET-8888');
      registerEnvSecrets({
        SLACK_BOT_TOKEN: 'xoxb-SECRET-9999',
        MAX_TOKENS: '4096',
        API_TOKENS: 'a-SECRET-1010,b-SECRET-1212',
      });
      const { log, raw } = capturedLogger();
      log.info('token free-text-SECRET-8888 and xoxb-SECRET-9999 seen; 4096 tokens', {
        list: ['a-SECRET-1010', { x: 'b-SECRET-1212' }],
      });
      for (const s of ['8888', '9999', '1010', '1212']) expect(raw()).not.toContain(`SECRET-${s}`);
      // A number that only has a secret-like name is left alone.
      expect(raw()).toContain('4096 tokens');
    });

    it('masks the bot token in a Telegram API URL and an Error logged as the entry itself', () => {
      const { log, raw, lines } = capturedLogger();
      log.error(new Error(`GET https://api.telegram.org/bot123:AAH-${secrets.token}/getMe failed`));
      expectNoSecret(raw());
      expect(lines()[0]?.message).toBe('GET https://api.telegram.org/bot***/getMe failed');
    });
  });
});
