import {
  type AdminToken,
  AdminTokenStore,
  AuditLog,
  adminRoles,
  auditedChange,
  isSwitchboardError,
  parseTokenTtl,
} from '@switchboard/core';
import pg from 'pg';
import { badArgument, type Command, flagString, type Parsed } from '../args.ts';
import { CliError, ExitCode, networkErrorCode } from '../errors.ts';
import { printJson, printTable, say, when } from '../output.ts';
import { cliActor, databaseUrl } from '../settings.ts';

/**
 * Tokens are made in PostgreSQL directly, not through the admin API, so the very first one can be
 * made before any token exists (from a shell on the admin container, which has DATABASE_URL).
 */
async function withStore<T>(
  fn: (store: AdminTokenStore, audit: AuditLog, pool: pg.Pool) => Promise<T>,
): Promise<T> {
  const url = databaseUrl();
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {});
  try {
    return await fn(new AdminTokenStore(pool), new AuditLog(pool), pool);
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (isSwitchboardError(err)) throw new CliError(ExitCode.usage, err.message, { code: err.code });
    const code = (err as { code?: string }).code;
    if (code === '42P01')
      throw new CliError(
        ExitCode.failed,
        'the database has no admin_tokens table yet: start the admin service once (it applies the migrations)',
      );
    const net = networkErrorCode(err);
    if (net || code === '57P03' || /timeout|terminated/i.test((err as Error).message))
      throw new CliError(
        ExitCode.unreachable,
        `cannot reach PostgreSQL at ${new URL(url).host}: ${net ?? (err as Error).message}`,
      );
    throw new CliError(ExitCode.failed, `PostgreSQL: ${(err as Error).message}`);
  } finally {
    await pool.end().catch(() => {});
  }
}

function state(t: AdminToken, now = Date.now()): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

const view = (t: AdminToken) => ({ ...t, state: state(t) });

const create: Command = {
  name: 'token create',
  synopsis: '--role admin|operator|viewer --expire D [--name N] [--json]',
  summary: 'make an admin token; it is printed once and never stored in clear',
  details: `  --role R     viewer (reads), operator (also replays, pairing, workflow runs), admin (also config, tokens)
  --expire D   lifetime: 30m, 8h, 7d … at most 90d
  --name N     who it is for, shown in the audit log (default: your OS user name)
Writes to PostgreSQL (DATABASE_URL / DATABASE_URL_FILE); the audit log records cli:<os user>.`,
  options: { role: { type: 'string' }, expire: { type: 'string' }, name: { type: 'string' } },
  async run(p) {
    const role = flagString(p, 'role');
    const expire = flagString(p, 'expire');
    if (!role) throw badArgument(this, 'missing --role (admin, operator or viewer)');
    if (!(adminRoles as readonly string[]).includes(role))
      throw badArgument(this, `--role "${role}": one of ${adminRoles.join(', ')}`);
    if (!expire) throw badArgument(this, 'missing --expire (e.g. 8h)');
    let ttlMs: number;
    try {
      ttlMs = parseTokenTtl(expire);
    } catch (err) {
      throw badArgument(this, `--expire: ${(err as Error).message}`);
    }
    const actor = cliActor();
    const name = flagString(p, 'name')?.trim() || actor.slice('cli:'.length);
    if (name.length > 100) throw badArgument(this, '--name: at most 100 characters');
    // The token and its audit row commit together.
    const { token, record } = await withStore((_store, _audit, pool) =>
      auditedChange(pool, { id: actor, name: actor }, async (db) => {
        const made = await new AdminTokenStore(db).create({
          name,
          role: role as AdminToken['role'],
          ttlMs,
          createdBy: actor,
        });
        const details = { name: made.record.name, role: made.record.role, expiresAt: made.record.expiresAt };
        return { result: made, audit: { action: 'token.create', target: made.record.id, details } };
      }),
    );
    if (p.json) {
      printJson({ token, id: record.id, name: record.name, role: record.role, expiresAt: record.expiresAt });
      return;
    }
    say(token);
    process.stderr.write(
      `token ${record.id} "${record.name}" (${record.role}) expires ${when(record.expiresAt)}; it is shown only now\n`,
    );
  },
};

const list: Command = {
  name: 'token list',
  synopsis: '[--all] [--json]',
  summary: 'active tokens (--all: revoked and expired ones too)',
  options: { all: { type: 'boolean' } },
  async run(p: Parsed) {
    const tokens = await withStore((store) => store.list({ includeInactive: p.flags.all === true }));
    if (p.json) {
      printJson({ tokens: tokens.map(view) });
      return;
    }
    printTable(
      ['ID', 'NAME', 'ROLE', 'STATE', 'EXPIRES', 'LAST USED', 'CREATED BY'],
      tokens.map((t) => [t.id, t.name, t.role, state(t), when(t.expiresAt), when(t.lastUsedAt), t.createdBy]),
      '(no tokens)',
    );
  },
};

const revoke: Command = {
  name: 'token revoke',
  synopsis: '<id> [--json]',
  summary: 'revoke a token at once (its id is the 12 characters after sbt_)',
  args: ['id'],
  async run(p) {
    const id = p.args[0] ?? '';
    if (!/^[a-z0-9]{12}$/.test(id)) throw badArgument(this, `"${id}" is not a token id (12 characters)`);
    const actor = cliActor();
    const t = await withStore(async (store, _audit, pool) => {
      const before = (await store.list({ includeInactive: true })).find((x) => x.id === id);
      if (!before) throw new CliError(ExitCode.notFound, `no token ${id}`);
      if (!before.revokedAt)
        await auditedChange(pool, { id: actor, name: actor }, async (db) => {
          await new AdminTokenStore(db).revoke(id);
          return {
            result: null,
            audit: { action: 'token.revoke', target: id, details: { name: before.name } },
          };
        });
      return (await store.list({ includeInactive: true })).find((x) => x.id === id) ?? before;
    });
    if (p.json) printJson({ revoked: view(t) });
    else say(`token ${t.id} "${t.name}" (${t.role}) revoked at ${when(t.revokedAt)}`);
  },
};

export const tokenCommands: Command[] = [create, list, revoke];
