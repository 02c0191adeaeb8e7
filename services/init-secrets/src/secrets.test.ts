import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BROKER_ROLES, rabbitPasswordHash } from './broker-users.ts';
import { ensureSecrets } from './secrets.ts';
import { SERVICE_SECRETS } from './services.ts';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PASSWORDS = [
  'postgres_password',
  'rabbitmq_password',
  'redis_password',
  'api_token',
  'backup_token',
  'workflow_token',
  'alert_relay_token',
  ...Object.keys(BROKER_ROLES)
    .sort()
    .map((s) => `broker_${s}_password`),
];
const CONF_FILES = ['rabbitmq.conf', 'definitions.conf', 'definitions.json'];
const SECRET_FILES = [...PASSWORDS, 'database_url', 'amqp_url', 'redis_url', 'redis_exporter_passwords.json'];
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

let root: string;
let dir: string;
let confDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sb-secrets-'));
  dir = join(root, 'secrets');
  confDir = join(root, 'rabbitmq-conf');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function read(name: string, inDir = dir): Promise<string> {
  return readFile(join(inDir, name), 'utf8');
}

interface FileState {
  content: string;
  mode: number;
  ino: number;
  mtimeMs: number;
}

async function snapshot(): Promise<Record<string, FileState>> {
  const files = [...SECRET_FILES.map((f) => join(dir, f)), ...CONF_FILES.map((f) => join(confDir, f))];
  const entries = await Promise.all(
    files.map(async (file) => {
      const info = await stat(file);
      const content = await readFile(file, 'utf8');
      return [file, { content, mode: info.mode & 0o7777, ino: info.ino, mtimeMs: info.mtimeMs }] as const;
    }),
  );
  return Object.fromEntries(entries);
}

async function runMain(): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, SECRETS_DIR: dir, RABBITMQ_CONF_DIR: confDir },
  });
  return stdout + stderr;
}

describe('ensureSecrets', () => {
  it('creates every secret with restrictive modes and the expected formats', async () => {
    const outcomes = await ensureSecrets(dir, confDir);

    expect(outcomes.map((o) => [o.name, o.action])).toEqual(
      [...SECRET_FILES, ...CONF_FILES].map((name) => [name, 'created']),
    );
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(confDir)).mode & 0o777).toBe(0o750);
    for (const name of SECRET_FILES) expect((await stat(join(dir, name))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(confDir, 'rabbitmq.conf'))).mode & 0o7777).toBe(0o640);
    expect((await readdir(dir)).sort()).toEqual([...SECRET_FILES].sort());
    expect((await readdir(confDir)).sort()).toEqual([...CONF_FILES].sort());

    const values = await Promise.all(PASSWORDS.map((name) => read(name)));
    for (const value of values) expect(value).toMatch(TOKEN);
    expect(new Set(values).size).toBe(values.length);
    expect(Buffer.from(await read('api_token'), 'base64url')).toHaveLength(32);

    const db = new URL(await read('database_url'));
    expect([db.protocol, db.username, db.hostname, db.port, db.pathname]).toEqual([
      'postgres:',
      'switchboard',
      'postgres',
      '5432',
      '/switchboard',
    ]);
    expect(decodeURIComponent(db.password)).toBe(await read('postgres_password'));

    const amqp = new URL(await read('amqp_url'));
    expect([amqp.protocol, amqp.username, amqp.hostname, amqp.port]).toEqual([
      'amqp:',
      'switchboard',
      'rabbitmq',
      '5672',
    ]);
    expect(decodeURIComponent(amqp.password)).toBe(await read('rabbitmq_password'));

    const redis = new URL(await read('redis_url'));
    expect([redis.protocol, redis.username, redis.hostname, redis.port, redis.pathname]).toEqual([
      'redis:',
      '',
      'redis',
      '6379',
      '',
    ]);
    expect(decodeURIComponent(redis.password)).toBe(await read('redis_password'));

    const conf = (await read('rabbitmq.conf', confDir)).split('\n');
    expect(conf).toContain('default_user = switchboard');
    expect(conf).toContain(`default_pass = ${await read('rabbitmq_password')}`);
    expect(conf).toContain('loopback_users = none');
    expect(conf).toContain('management.path_prefix = /rabbitmq');

    // What redis_exporter reads: the password keyed by the address it scrapes.
    expect(JSON.parse(await read('redis_exporter_passwords.json'))).toEqual({
      'redis://redis:6379': await read('redis_password'),
    });
  });

  it('keeps every file unchanged on a second run', async () => {
    await ensureSecrets(dir, confDir);
    const before = await snapshot();

    const outcomes = await ensureSecrets(dir, confDir);

    expect(outcomes.every((o) => o.action === 'kept' && !o.stale)).toBe(true);
    expect(await snapshot()).toEqual(before);
  });

  it('restores modes of kept files without touching their content', async () => {
    await ensureSecrets(dir, confDir);
    const before = await snapshot();
    await chmod(join(dir, 'api_token'), 0o644);

    await ensureSecrets(dir, confDir);

    expect(await snapshot()).toEqual(before);
  });

  it('derives missing files from the kept passwords and flags stale ones', async () => {
    await ensureSecrets(dir, confDir);
    const password = await read('postgres_password');
    await rm(join(dir, 'database_url'));
    await rm(join(dir, 'redis_url'));
    await rm(join(dir, 'rabbitmq_password'));

    const outcomes = await ensureSecrets(dir, confDir);
    const byName = Object.fromEntries(outcomes.map((o) => [o.name, o]));

    expect(byName.postgres_password).toEqual({ name: 'postgres_password', action: 'kept' });
    expect(byName.database_url?.action).toBe('created');
    expect(decodeURIComponent(new URL(await read('database_url')).password)).toBe(password);
    expect(byName.redis_url?.action).toBe('created');
    expect(decodeURIComponent(new URL(await read('redis_url')).password)).toBe(await read('redis_password'));
    expect(byName.rabbitmq_password?.action).toBe('created');
    expect(byName.amqp_url).toEqual({ name: 'amqp_url', action: 'kept', stale: true });
    expect(byName['rabbitmq.conf']).toEqual({ name: 'rabbitmq.conf', action: 'kept', stale: true });
  });

  it('uses a password an operator seeded before the first start', async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'postgres_password'), 'p@ss/word:1\n');
    await writeFile(join(dir, 'redis_password'), 'r3d#is?pw%\n');

    await ensureSecrets(dir, confDir);

    expect(await read('postgres_password')).toBe('p@ss/word:1\n');
    expect(decodeURIComponent(new URL(await read('database_url')).password)).toBe('p@ss/word:1');
    const redis = new URL(await read('redis_url'));
    expect([redis.hostname, decodeURIComponent(redis.password)]).toEqual(['redis', 'r3d#is?pw%']);
  });

  it('refuses an empty kept secret instead of deriving from it', async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'redis_password'), '\n');

    await expect(ensureSecrets(dir, confDir)).rejects.toMatchObject({ code: 'SB_ERR_SECRET_INVALID' });
  });

  it('never lets two concurrent runs overwrite each other', async () => {
    const [first, second] = await Promise.all([ensureSecrets(dir, confDir), ensureSecrets(dir, confDir)]);

    expect(first.length).toBe(second.length);
    const password = await read('postgres_password');
    expect(decodeURIComponent(new URL(await read('database_url')).password)).toBe(password);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('gives rabbitmq.conf and its directory the configured group', async () => {
    const gid = process.getgid?.() ?? 0;

    await ensureSecrets(dir, confDir, { confGid: gid });

    expect((await stat(confDir)).gid).toBe(gid);
    expect((await stat(join(confDir, 'rabbitmq.conf'))).gid).toBe(gid);
  });
});

describe('per-service secrets and broker users', () => {
  let services: string;
  beforeEach(() => {
    services = join(root, 'services');
  });

  it("gives each service exactly its own files, with its own broker user's URL", async () => {
    await ensureSecrets(dir, confDir, { servicesDir: services });

    expect((await readdir(services)).sort()).toEqual(Object.keys(SERVICE_SECRETS).sort());
    for (const [service, names] of Object.entries(SERVICE_SECRETS)) {
      const own = join(services, service);
      expect((await readdir(own)).sort(), service).toEqual([...names].sort());
      expect((await stat(own)).mode & 0o777, service).toBe(0o700);
      for (const name of names) expect((await stat(join(own, name))).mode & 0o7777).toBe(0o600);
      if (names.includes('amqp_url')) {
        const url = new URL(await read('amqp_url', own));
        expect(decodeURIComponent(url.username), service).toBe(service);
        expect(decodeURIComponent(url.password)).toBe(await read(`broker_${service}_password`));
      }
    }
    // Copies of the main files, not new values.
    expect(await read('api_token', join(services, 'ingress-web'))).toBe((await read('api_token')).trim());
    expect(await read('rabbitmq_password', join(services, 'backup'))).toBe(
      (await read('broker_backup_password')).trim(),
    );
  });

  it("gives Alertmanager's volume a group its own uid reads, and alert-relay the same token", async () => {
    const gid = 4242;
    await ensureSecrets(dir, confDir, { servicesDir: services, serviceGids: { alertmanager: gid } });

    const am = join(services, 'alertmanager');
    expect(await readdir(am)).toEqual(['alert_relay_token']);
    expect((await stat(am)).gid).toBe(gid);
    expect((await stat(am)).mode & 0o777).toBe(0o750);
    const file = await stat(join(am, 'alert_relay_token'));
    expect([file.gid, file.mode & 0o7777]).toEqual([gid, 0o640]);
    const token = (await read('alert_relay_token')).trim();
    expect(token).toMatch(TOKEN);
    expect(await read('alert_relay_token', am)).toBe(token);
    expect(await read('alert_relay_token', join(services, 'alert-relay'))).toBe(token);
    // Only the volume it was asked for: alert-relay's stays ours alone.
    expect((await stat(join(services, 'alert-relay', 'alert_relay_token'))).mode & 0o7777).toBe(0o600);
    // Nobody else holds the token.
    for (const [service, names] of Object.entries(SERVICE_SECRETS))
      if (!['alertmanager', 'alert-relay'].includes(service))
        expect(names, service).not.toContain('alert_relay_token');
  });

  it('removes what a service no longer reads, copies its Vault AppRole files, and keeps the rest', async () => {
    await ensureSecrets(dir, confDir, { servicesDir: services });
    const web = join(services, 'ingress-web');
    await writeFile(join(web, 'postgres_password'), 'left over from an older layout');
    await mkdir(join(dir, 'vault', 'ingress-web'), { recursive: true });
    await writeFile(join(dir, 'vault', 'ingress-web', 'vault_role_id'), 'role-1');
    await writeFile(join(dir, 'vault', 'ingress-web', 'vault_secret_id'), 'secret-1');
    const tokenBefore = await stat(join(web, 'api_token'));

    const outcomes = await ensureSecrets(dir, confDir, { servicesDir: services });

    expect(outcomes).toContainEqual({ name: 'ingress-web/postgres_password', action: 'removed' });
    expect(outcomes).toContainEqual({ name: 'ingress-web/api_token', action: 'kept' });
    expect((await readdir(web)).sort()).toEqual(['amqp_url', 'api_token', 'database_url', 'vault']);
    expect(await read('vault/ingress-web/vault_secret_id', web)).toBe('secret-1');
    expect((await stat(join(web, 'api_token'))).ino).toBe(tokenBefore.ino);
    expect((await readdir(join(services, 'tool-browser'))).sort()).toEqual(['amqp_url']);
  });

  it('writes definitions RabbitMQ loads at boot: one user per service, hashed, with its permissions', async () => {
    await ensureSecrets(dir, confDir, { brokerPrefix: 'sbx' });

    expect(await read('definitions.conf', confDir)).toContain(
      'load_definitions = /etc/rabbitmq/conf.d/definitions.json',
    );
    const defs = JSON.parse(await read('definitions.json', confDir)) as {
      users: { name: string; password_hash: string; hashing_algorithm: string; tags: string[] }[];
      permissions: { user: string; configure: string; write: string; read: string }[];
    };
    const users = Object.fromEntries(defs.users.map((u) => [u.name, u]));
    expect(Object.keys(users).sort()).toEqual(['switchboard', ...Object.keys(BROKER_ROLES)].sort());
    for (const service of Object.keys(BROKER_ROLES)) {
      const password = (await read(`broker_${service}_password`)).trim();
      expect(users[service]?.password_hash).toBe(rabbitPasswordHash(service, password));
      expect(users[service]?.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
      // RabbitMQ's format: base64 of a 4-byte salt and the SHA-256 of salt + password.
      const raw = Buffer.from(users[service]?.password_hash ?? '', 'base64');
      expect(raw).toHaveLength(36);
    }
    expect(users.switchboard?.tags).toEqual(['administrator']);
    expect(users['agent-worker']?.tags).toEqual([]);
    expect(users.admin?.tags).toEqual(['monitoring']);
    // Nobody but the operator may touch every name.
    for (const p of defs.permissions.filter((x) => x.user !== 'switchboard')) {
      for (const regex of [p.configure, p.write, p.read]) expect(regex, p.user).not.toBe('.*');
    }
    const web = defs.permissions.find((p) => p.user === 'ingress-web');
    expect(new RegExp(web?.write ?? '').test('sbx.inbound')).toBe(true);
    expect(new RegExp(web?.read ?? '').test('sbx.agent.in.0')).toBe(false);
    expect(new RegExp(web?.configure ?? '').test('sbx.agent.in.0')).toBe(false);
  });

  it('rewrites the definitions only when they change', async () => {
    await ensureSecrets(dir, confDir);
    const before = await stat(join(confDir, 'definitions.json'));

    const kept = await ensureSecrets(dir, confDir);
    const after = await stat(join(confDir, 'definitions.json'));
    await writeFile(join(dir, 'broker_tool-runner_password'), 'rotated-by-the-operator\n');
    const rotated = await ensureSecrets(dir, confDir);

    expect(kept).toContainEqual({ name: 'definitions.json', action: 'kept' });
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(rotated).toContainEqual({ name: 'definitions.json', action: 'updated' });
    expect(await read('definitions.json', confDir)).toContain(
      rabbitPasswordHash('tool-runner', 'rotated-by-the-operator'),
    );
  });
});

describe('init-secrets main', () => {
  it('reports which secrets it created or kept, never their values', async () => {
    const firstOutput = await runMain();
    const secondOutput = await runMain();

    const values = await Promise.all(SECRET_FILES.map((name) => read(name)));
    for (const output of [firstOutput, secondOutput]) {
      for (const value of values) expect(output).not.toContain(value);
      for (const line of output.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    }
    expect(firstOutput).toContain('created postgres_password');
    const total = SECRET_FILES.length + CONF_FILES.length;
    expect(firstOutput).toContain(`secrets ready: ${total} created, 0 updated, 0 removed, 0 kept`);
    expect(secondOutput).toContain('kept api_token');
    expect(secondOutput).toContain(`secrets ready: 0 created, 0 updated, 0 removed, ${total} kept`);
  });

  it('fails with a clear message on a bad setting', async () => {
    const failure = run(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, SECRETS_DIR: dir, RABBITMQ_CONF_DIR: confDir, RABBITMQ_CONF_GID: 'rabbit' },
    });

    await expect(failure).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('RABBITMQ_CONF_GID must be a numeric group id'),
    });
  });
});
