import type pg from 'pg';

/**
 * Claims a message id inside the caller's transaction. False means another delivery of the same
 * message already took effect (or is taking effect right now and will commit first): do nothing.
 */
export async function claimInbox(
  client: pg.PoolClient,
  messageId: string,
  traceId: string,
): Promise<boolean> {
  const r = await client.query(
    'INSERT INTO inbox (message_id, trace_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [messageId, traceId],
  );
  return r.rowCount === 1;
}

export async function inboxHas(pool: pg.Pool, messageId: string): Promise<boolean> {
  const r = await pool.query('SELECT 1 FROM inbox WHERE message_id = $1', [messageId]);
  return (r.rowCount ?? 0) > 0;
}
