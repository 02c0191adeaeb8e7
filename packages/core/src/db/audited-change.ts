import type pg from 'pg';

/** Who made a change, as the audit log records it: the credential's id and its display name. */
export interface AuditActor {
  id: string;
  name: string;
}

export interface AuditRow {
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

const SAVEPOINTS: Array<[RegExp, (n: string) => string]> = [
  [/^\s*BEGIN\b/i, (n) => `SAVEPOINT ${n}`],
  [/^\s*START\s+TRANSACTION\b/i, (n) => `SAVEPOINT ${n}`],
  [/^\s*COMMIT\s*;?\s*$/i, (n) => `RELEASE SAVEPOINT ${n}`],
  [/^\s*ROLLBACK\s*;?\s*$/i, (n) => `ROLLBACK TO SAVEPOINT ${n}`],
];

/**
 * A pool-shaped view of one open transaction, so stores written against a Pool (which open their
 * own transactions) can run inside a caller's transaction: their BEGIN/COMMIT/ROLLBACK become a
 * savepoint, and `connect()` hands out the same client, whose release is the caller's business.
 */
function transactionAsPool(client: pg.PoolClient): pg.Pool {
  let depth = 0;
  const names: string[] = [];
  const raw = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
  const query = async (text: unknown, ...rest: unknown[]) => {
    const sql = typeof text === 'string' ? text : (text as { text?: string } | undefined)?.text;
    if (typeof sql === 'string') {
      for (const [re, to] of SAVEPOINTS) {
        if (!re.test(sql)) continue;
        const opening = to('x').startsWith('SAVEPOINT');
        const name = opening ? `sb_nested_${++depth}` : (names.at(-1) ?? 'sb_nested_0');
        if (opening) names.push(name);
        else names.pop();
        return raw(to(name));
      }
    }
    if (names.length > 0) return raw(text, ...rest);
    // A lone statement on a Pool is its own transaction: a failure must not poison the next one
    // (stores catch a constraint error and then look up why), so it gets its own savepoint.
    await raw('SAVEPOINT sb_statement');
    try {
      const r = await raw(text, ...rest);
      await raw('RELEASE SAVEPOINT sb_statement');
      return r;
    } catch (err) {
      await raw('ROLLBACK TO SAVEPOINT sb_statement');
      throw err;
    }
  };
  const view = {
    query,
    connect: async () => ({ query, release: () => {} }),
  };
  return view as unknown as pg.Pool;
}

/**
 * Runs a change and writes its audit row in ONE transaction: both land, or neither does. `change`
 * gets a pool-shaped handle bound to the transaction (build the stores on it) and returns the
 * result and the row to record; if it throws, nothing is written.
 */
export async function auditedChange<T>(
  pool: pg.Pool,
  actor: AuditActor,
  change: (db: pg.Pool) => Promise<{ result: T; audit: AuditRow }>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { result, audit } = await change(transactionAsPool(client));
    await client.query(
      'INSERT INTO audit_log (actor, actor_id, action, target, details) VALUES ($1, $2, $3, $4, $5)',
      [actor.name, actor.id, audit.action, audit.target, JSON.stringify(audit.details ?? {})],
    );
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
