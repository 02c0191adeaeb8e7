import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/infra.ts';
import { runCli } from './cli-harness.ts';

const DEFINITIONS = { rabbit_version: '3.12.0', queues: [{ name: 'sb.agent.in.0', vhost: '/' }] };
const SNAPSHOT = Buffer.from([0x1f, 0x8b, 0, 1, 2, 3, 0xff]);
const VAULT_TOKEN = 'hvs.test-root-token';

/**
 * Stands in for the two HTTP APIs a backup reads: RabbitMQ's management plugin is not enabled on
 * the test broker and Vault cannot be installed. Each checks credentials like the real one.
 */
async function startApis(): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify();
  app.get('/api/definitions', async (req, reply) => {
    if (req.headers.authorization !== `Basic ${Buffer.from('guest:guest').toString('base64')}`)
      return reply.status(401).send({ error: 'not_authorised' });
    return DEFINITIONS;
  });
  app.get('/v1/sys/storage/raft/snapshot', async (req, reply) => {
    if (req.headers['x-vault-token'] !== VAULT_TOKEN)
      return reply.status(403).send({ errors: ['permission denied'] });
    return reply.type('application/gzip').send(SNAPSHOT);
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

describe('backup components beyond PostgreSQL', () => {
  let dbUrl: string;
  let dropDb: () => Promise<void>;
  let work: string;
  let apis: { app: FastifyInstance; url: string };

  beforeAll(async () => {
    ({ url: dbUrl, drop: dropDb } = await createTestDatabase());
    work = await mkdtemp(join(tmpdir(), 'sb-backup-comp-'));
    apis = await startApis();
    await mkdir(join(work, 'workspace/skills/nested'), { recursive: true });
    await writeFile(join(work, 'workspace/skills/nested/skill.md'), '# 技能\n');
  });
  afterAll(async () => {
    await apis?.app.close();
    await dropDb?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('exports RabbitMQ definitions, a Vault snapshot and the workspace archive', async () => {
    const dir = join(work, 'full');
    const r = await runCli(['now'], {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: dir,
      RABBITMQ_MANAGEMENT_URL: apis.url,
      VAULT_ADDR: apis.url,
      VAULT_TOKEN,
      WORKSPACE_PATHS: `${join(work, 'workspace/skills')},${join(work, 'workspace/knowledge')}`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [id] = await readdir(dir);
    const b = join(dir, id as string);
    expect(JSON.parse(await readFile(join(b, 'rabbitmq-definitions.json'), 'utf8'))).toEqual(DEFINITIONS);
    expect(await readFile(join(b, 'vault-raft.snap'))).toEqual(SNAPSHOT);
    const manifest = JSON.parse(await readFile(join(b, 'manifest.json'), 'utf8'));
    const ws = manifest.components.find((c: { name: string }) => c.name === 'workspace');
    expect(ws).toMatchObject({ status: 'ok', details: { missing: [join(work, 'workspace/knowledge')] } });
    expect(r.stdout).not.toContain(VAULT_TOKEN);
    expect(await readFile(join(b, 'manifest.json'), 'utf8')).not.toContain(VAULT_TOKEN);

    const sums = await readFile(join(b, 'SHA256SUMS'), 'utf8');
    for (const f of ['rabbitmq-definitions.json', 'vault-raft.snap', 'workspace.tar.gz'])
      expect(sums).toContain(`  ${f}\n`);
    expect((await runCli(['verify', id as string], { DATABASE_URL: dbUrl, BACKUP_DIR: dir })).code).toBe(0);
  });

  it('records a refused RabbitMQ export as skipped with the reason, and still succeeds', async () => {
    const dir = join(work, 'rabbit-refused');
    const r = await runCli(['now'], {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: dir,
      RABBITMQ_MANAGEMENT_URL: apis.url,
      RABBITMQ_MANAGEMENT_PASSWORD: 'wrong',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rabbitmq: skipped - export failed: RabbitMQ management API answered HTTP 401/);
  });

  it('fails the whole backup when a configured Vault refuses, leaving no folder behind', async () => {
    const dir = join(work, 'vault-refused');
    const r = await runCli(['now'], {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: dir,
      VAULT_ADDR: apis.url,
      VAULT_TOKEN: 'hvs.wrong-token-xyz',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SB_ERR_BACKUP_COMPONENT_FAILED: vault: Vault answered HTTP 403');
    expect(r.stderr).not.toContain('hvs.wrong-token-xyz');
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a Vault address without a token at start', async () => {
    const r = await runCli(['now'], {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: join(work, 'x'),
      VAULT_ADDR: apis.url,
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('VAULT_TOKEN');
  });
});
