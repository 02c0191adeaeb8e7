import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { z } from 'zod';
import { commonConfigSchema, loadConfig } from './config.ts';
import { ErrorCodes, SwitchboardError } from './errors.ts';
import { createLogger } from './logger.ts';

const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** A service's schema: the common keys plus one required key of its own. */
const schema = commonConfigSchema.extend({ WIDGET_TOKEN: z.string().min(1) });

const base = {
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  DATABASE_URL: 'postgres://sb:sb@127.0.0.1:5432/sb',
  WIDGET_TOKEN: 'w-123',
};

/** The config error loadConfig throws for `env`; fails the test when it does not throw one. */
function configError(env: NodeJS.ProcessEnv): SwitchboardError {
  try {
    loadConfig(schema, env);
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.CONFIG_INVALID);
    return err as SwitchboardError;
  }
  throw new Error('loadConfig accepted an invalid environment');
}

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds a typed config with defaults for everything optional', () => {
    const cfg = loadConfig(schema, base);
    expect(cfg.WIDGET_TOKEN).toBe('w-123');
    expect(cfg.BROKER_QUEUE_TYPE).toBe('quorum');
    expect(cfg.BROKER_PARTITIONS).toBe(8);
    expect(cfg.RETRY_DELAYS_MS).toEqual([1000, 5000, 30000]);
  });

  it('parses numbers and lists from their string form', () => {
    const cfg = loadConfig(schema, { ...base, BROKER_PARTITIONS: '4', RETRY_DELAYS_MS: '10, 20,30' });
    expect(cfg.BROKER_PARTITIONS).toBe(4);
    expect(cfg.RETRY_DELAYS_MS).toEqual([10, 20, 30]);
  });

  it('names a missing required key and says it can come from a _FILE', () => {
    const { WIDGET_TOKEN: _, ...env } = base;
    const err = configError(env);
    expect(err.message).toMatch(/WIDGET_TOKEN: is required/);
    expect(err.message).toContain('WIDGET_TOKEN_FILE');
    // Only the key at fault is reported.
    expect(err.message).not.toContain('AMQP_URL');
  });

  it('reports every missing key at once', () => {
    const err = configError({});
    for (const key of ['AMQP_URL', 'DATABASE_URL', 'WIDGET_TOKEN'])
      expect(err.message).toContain(`${key}: is required`);
  });

  it('names the key of a bad enum value', () => {
    const err = configError({ ...base, BROKER_QUEUE_TYPE: 'foo' });
    expect(err.message).toMatch(/BROKER_QUEUE_TYPE: /);
    expect(err.message).not.toContain('is required');
  });

  it('names the key of a bad list value', () => {
    const err = configError({ ...base, RETRY_DELAYS_MS: '1,x' });
    expect(err.message).toMatch(/RETRY_DELAYS_MS: comma-separated positive integers/);
  });

  it('names the key of a malformed URL', () => {
    const err = configError({ ...base, AMQP_URL: 'http://rabbit' });
    expect(err.message).toMatch(/AMQP_URL: must be an amqp/);
  });

  it('reads NAME from the file NAME_FILE points at, trimmed', () => {
    const file = join(dir, 'widget-token');
    writeFileSync(file, '  from-a-secret-file\n');
    const { WIDGET_TOKEN: _, ...env } = base;
    const cfg = loadConfig(schema, { ...env, WIDGET_TOKEN_FILE: file });
    expect(cfg.WIDGET_TOKEN).toBe('from-a-secret-file');
  });

  it('keeps an explicit NAME over NAME_FILE', () => {
    const file = join(dir, 'widget-token-2');
    writeFileSync(file, 'from-file');
    const cfg = loadConfig(schema, { ...base, WIDGET_TOKEN: 'explicit', WIDGET_TOKEN_FILE: file });
    expect(cfg.WIDGET_TOKEN).toBe('explicit');
  });

  it('names the key when its _FILE cannot be read', () => {
    const { WIDGET_TOKEN: _, ...env } = base;
    const missing = join(dir, 'no-such-file');
    const err = configError({ ...env, WIDGET_TOKEN_FILE: missing });
    expect(err.message).toContain('WIDGET_TOKEN_FILE');
    expect(err.message).toContain(missing);
    expect(err.message).toContain('ENOENT');
  });

  it('treats an empty string as unset: defaults apply and required keys are reported missing', () => {
    const cfg = loadConfig(schema, { ...base, BROKER_QUEUE_TYPE: '', LOG_LEVEL: '' });
    expect(cfg.BROKER_QUEUE_TYPE).toBe('quorum');
    expect(cfg.LOG_LEVEL).toBe('info');
    const err = configError({ ...base, WIDGET_TOKEN: '' });
    expect(err.message).toMatch(/WIDGET_TOKEN: is required/);
  });

  it('masks secret-named values and URL passwords read from a _FILE in every later log line', () => {
    // The logger exists before the files are read, as in a service (runMain's logger, a library's).
    const log = createLogger('config-test', 'info');
    let out = '';
    log.clear();
    log.add(
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk, _enc, cb) {
            out += String(chunk);
            cb();
          },
        }),
      }),
    );
    const files = {
      WIDGET_TOKEN: ['widget-token-4', 'tok-from-file-7f3a91c2'],
      DATABASE_URL: ['database-url', 'postgres://sb:pw-from-file-5d21@db:5432/sb'],
      AMQP_URL: ['amqp-url', 'amqp://guest:guest@127.0.0.1:5672'],
    } as const;
    const env: NodeJS.ProcessEnv = {};
    for (const [key, [name, value]] of Object.entries(files)) {
      writeFileSync(join(dir, name), `${value}\n`);
      env[`${key}_FILE`] = join(dir, name);
    }
    const cfg = loadConfig(schema, env);
    expect(cfg.WIDGET_TOKEN).toBe('tok-from-file-7f3a91c2');
    // Free text, where no field name or URL pattern would give the secret away.
    log.warn('platform said: tok-from-file-7f3a91c2 is not valid; password was pw-from-file-5d21');
    expect(out).toContain('platform said: *** is not valid; password was ***');
    expect(out).not.toContain('tok-from-file-7f3a91c2');
    expect(out).not.toContain('pw-from-file-5d21');
  });

  it('lets an empty NAME fall back to NAME_FILE', () => {
    const file = join(dir, 'widget-token-3');
    writeFileSync(file, 'from-file');
    const cfg = loadConfig(schema, { ...base, WIDGET_TOKEN: '', WIDGET_TOKEN_FILE: file });
    expect(cfg.WIDGET_TOKEN).toBe('from-file');
  });
});

describe('a service started with a bad configuration', () => {
  it('exits with 78 (EX_CONFIG) and names every missing key on stderr', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/agent-worker/src/main.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr += d;
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((res, rej) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        rej(new Error(`agent-worker did not exit within 30 s; stderr so far: ${stderr}`));
      }, 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        res(c);
      });
    });
    expect(code).toBe(78);
    expect(stderr).toMatch(/AMQP_URL: is required/);
    expect(stderr).toMatch(/MODEL_CHAIN: is required/);
    expect(stderr).toContain('AMQP_URL_FILE');
  });
});
