import type { InboundEnvelope, Pool } from '@switchboard/core';

/** Anything that runs a query: the pool, or the turn's transaction client. */
export interface Queryable {
  query: Pool['query'];
}

export interface UsageEntry {
  userId: string;
  /** The routing rule's name, or `default` (RouteDecision.route). */
  route: string;
  /** The model label that answered (`ollama/qwen2.5:0.5b`). */
  model: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Model calls this entry stands for; 1 unless batching. */
  requests?: number;
  /** When the call was made; its UTC day is the row it counts in. */
  at?: Date;
}

export type UsageDimension = 'day' | 'user' | 'route' | 'model';

export interface UsageQuery {
  /** First and last UTC day included, `YYYY-MM-DD`. */
  from?: string;
  to?: string;
  userId?: string;
  route?: string;
  model?: string;
  /** Totals per combination of these; none: one grand total. */
  groupBy?: UsageDimension[];
}

export interface UsageTotal {
  day?: string;
  userId?: string;
  route?: string;
  model?: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

const COLUMN: Record<UsageDimension, string> = {
  day: "to_char(day, 'YYYY-MM-DD')",
  user: 'user_id',
  route: 'route',
  model: 'model',
};
const FIELD: Record<UsageDimension, keyof UsageTotal> = {
  day: 'day',
  user: 'userId',
  route: 'route',
  model: 'model',
};
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Who to count a message's tokens against: our own user id when known, else platform:user. */
export function usageUserId(env: Pick<InboundEnvelope, 'platform' | 'user'>): string {
  return env.user.internalId ?? `${env.platform}:${env.user.id}`;
}

/** Tokens per UTC day, user, route and model, one upserted row per combination. */
export class TokenUsage {
  constructor(private readonly pool: Pool) {}

  /** Adds one call's tokens. Pass the turn's transaction client to count it only if the turn commits. */
  async record(e: UsageEntry, db: Queryable = this.pool): Promise<void> {
    const day = (e.at ?? new Date()).toISOString().slice(0, 10);
    await db.query(
      `INSERT INTO token_usage AS u (day, user_id, route, model, requests, prompt_tokens, completion_tokens)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (day, user_id, route, model) DO UPDATE SET
         requests = u.requests + EXCLUDED.requests,
         prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens`,
      [
        day,
        e.userId,
        e.route,
        e.model,
        e.requests ?? 1,
        Math.max(0, Math.round(e.promptTokens ?? 0)),
        Math.max(0, Math.round(e.completionTokens ?? 0)),
      ],
    );
  }

  async totals(q: UsageQuery = {}): Promise<UsageTotal[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      values.push(v);
      where.push(sql.replace('?', `$${values.length}`));
    };
    for (const [name, v] of [
      ['from', q.from],
      ['to', q.to],
    ] as const) {
      if (v !== undefined && !DAY.test(v)) throw new RangeError(`${name}: expected YYYY-MM-DD, got "${v}"`);
    }
    if (q.from) add('day >= ?::date', q.from);
    if (q.to) add('day <= ?::date', q.to);
    if (q.userId) add('user_id = ?', q.userId);
    if (q.route) add('route = ?', q.route);
    if (q.model) add('model = ?', q.model);
    const dims = [...new Set(q.groupBy ?? [])];
    const select = dims.map((d) => `${COLUMN[d]} AS "${d}"`);
    const sql = `SELECT ${[...select, 'sum(requests)::bigint AS requests', 'sum(prompt_tokens)::bigint AS prompt', 'sum(completion_tokens)::bigint AS completion'].join(', ')}
      FROM token_usage ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ${dims.length ? `GROUP BY ${dims.map((_, i) => i + 1).join(', ')} ORDER BY ${dims.map((_, i) => i + 1).join(', ')}` : ''}`;
    const r = await this.pool.query<Record<string, string | null>>(sql, values);
    // Without grouping the one row holds NULL sums when nothing matched: a total of zero.
    return r.rows.map((row) => {
      const t: UsageTotal = {
        requests: Number(row.requests ?? 0),
        promptTokens: Number(row.prompt ?? 0),
        completionTokens: Number(row.completion ?? 0),
      };
      for (const d of dims) (t as unknown as Record<string, unknown>)[FIELD[d]] = row[d];
      return t;
    });
  }
}
