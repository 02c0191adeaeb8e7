import { type Pool, type PoolClient, withTransaction } from '@switchboard/core';
import { z } from 'zod';
import { RoutingError, RoutingErrorCode } from './errors.ts';
import { compileRulePattern } from './safe-regex.ts';
import {
  type ProfileInput,
  type ProfilePatch,
  profileInputSchema,
  profilePatchSchema,
  type RoutingRule,
  type RuleInput,
  type RulePatch,
  ruleInputSchema,
  ruleMatchSchema,
  rulePatchSchema,
  ruleTargetSchema,
  type StoredProfile,
} from './schema.ts';

/** The channel the tables' trigger notifies on every change (migration 004). */
export const ROUTING_CHANGED_CHANNEL = 'sb_routing_changed';

// Serialises rule writes, so two saves never pick the same "after the last rule" position.
const RULES_LOCK = 0x5b_0004;

interface RuleRow {
  id: string;
  position: number;
  enabled: boolean;
  name: string;
  match: unknown;
  target: unknown;
  disabled_reason: string | null;
  updated_at: Date;
}

interface ProfileRow {
  name: string;
  description: string;
  system_prompt: string | null;
  model_chain: string | null;
  tools: string[];
  skill: string | null;
  skills: string[] | null;
  knowledge: boolean;
  cache_ttl_seconds: number | null;
  updated_at: Date;
}

/**
 * A rule as stored, with `problem` set when it no longer passes validation (edited by hand, or
 * written under older rules), and `disabledReason` when a migration switched it off.
 */
export type StoredRule = RoutingRule & { problem?: string; disabledReason?: string };

function invalid(error: z.ZodError): RoutingError {
  return new RoutingError(RoutingErrorCode.invalid, z.prettifyError(error).replaceAll('\n', '; '));
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error);
  return r.data;
}

/** Full validation of a rule's match and target, the regex guard included; throws RoutingError. */
export function validateRule(match: unknown, target: unknown) {
  const m = parse(ruleMatchSchema, match);
  const t = parse(ruleTargetSchema, target);
  const regex = m.text === undefined ? undefined : compileRulePattern(m.text, m.textFlags);
  return { match: m, target: t, regex };
}

export function ruleFromRow(r: RuleRow): StoredRule {
  const base = {
    id: String(r.id),
    position: r.position,
    enabled: r.enabled,
    name: r.name,
    updatedAt: r.updated_at,
    ...(r.disabled_reason ? { disabledReason: r.disabled_reason } : {}),
  };
  try {
    const { match, target } = validateRule(r.match, r.target);
    return { ...base, match, target };
  } catch (err) {
    // Shown as stored, so an operator can see and fix it; the router skips it.
    const problem = [r.disabled_reason, (err as Error).message].filter(Boolean).join(' — ');
    return { ...base, match: r.match, target: r.target, problem } as StoredRule;
  }
}

/** A stored profile, or the reason it no longer validates. */
export function profileFromRow(r: ProfileRow): StoredProfile | { name: string; problem: string } {
  const parsed = profileInputSchema.safeParse({
    name: r.name,
    description: r.description,
    systemPrompt: r.system_prompt,
    modelChain: r.model_chain,
    tools: r.tools,
    skill: r.skill,
    skills: r.skills ?? [],
    knowledge: r.knowledge,
    cacheTtlSeconds: r.cache_ttl_seconds,
  });
  if (!parsed.success) return { name: r.name, problem: z.prettifyError(parsed.error).replaceAll('\n', '; ') };
  return { ...parsed.data, updatedAt: r.updated_at };
}

const RULE_COLUMNS = 'id, position, enabled, name, match, target, disabled_reason, updated_at';
const PROFILE_COLUMNS =
  'name, description, system_prompt, model_chain, tools, skill, skills, knowledge, cache_ttl_seconds, updated_at';

/**
 * Reads and writes routing rules and agent profiles, validating everything before it is written.
 * Every write commits a change the workers pick up through the tables' NOTIFY trigger.
 */
export class RoutingStore {
  constructor(private readonly pool: Pool) {}

  /** Rules and profiles as of one moment, so a rule never points at a profile from another. */
  async snapshot(): Promise<{
    rules: StoredRule[];
    profiles: Array<StoredProfile | { name: string; problem: string }>;
  }> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rules = await c.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules ORDER BY position`);
      const profiles = await c.query<ProfileRow>(
        `SELECT ${PROFILE_COLUMNS} FROM agent_profiles ORDER BY name`,
      );
      await c.query('COMMIT');
      return { rules: rules.rows.map(ruleFromRow), profiles: profiles.rows.map(profileFromRow) };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async listRules(): Promise<StoredRule[]> {
    const r = await this.pool.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules ORDER BY position`);
    return r.rows.map(ruleFromRow);
  }

  async getRule(id: string): Promise<StoredRule> {
    const r = await this.pool.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules WHERE id = $1`, [
      ruleId(id),
    ]);
    if (!r.rows[0]) throw new RoutingError(RoutingErrorCode.notFound, `no routing rule ${id}`);
    return ruleFromRow(r.rows[0]);
  }

  async createRule(input: RuleInput): Promise<StoredRule> {
    const rule = parse(ruleInputSchema, input);
    validateRule(rule.match, rule.target);
    return this.write(async (c) => {
      let position = rule.position;
      if (position === undefined) {
        const max = await c.query<{ p: number | null }>('SELECT max(position) AS p FROM routing_rules');
        position = (max.rows[0]?.p ?? 0) + 1;
      } else {
        await c.query('UPDATE routing_rules SET position = position + 1 WHERE position >= $1', [position]);
      }
      const r = await c.query<RuleRow>(
        `INSERT INTO routing_rules (position, enabled, name, match, target) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${RULE_COLUMNS}`,
        [position, rule.enabled, rule.name, JSON.stringify(rule.match), JSON.stringify(rule.target)],
      );
      return ruleFromRow(r.rows[0]!);
    });
  }

  /** Changes the given fields; a new position moves the rule and shifts the ones in between. */
  async updateRule(id: string, patch: RulePatch): Promise<StoredRule> {
    const p = parse(rulePatchSchema, patch);
    return this.write(async (c) => {
      const cur = await c.query<RuleRow>(
        `SELECT ${RULE_COLUMNS} FROM routing_rules WHERE id = $1 FOR UPDATE`,
        [ruleId(id)],
      );
      const row = cur.rows[0];
      if (!row) throw new RoutingError(RoutingErrorCode.notFound, `no routing rule ${id}`);
      // The merged rule must be valid as a whole, even when the stored one was not; once it is, the
      // reason a migration disabled it no longer applies.
      const { match, target } = validateRule(p.match ?? row.match, p.target ?? row.target);
      const position = p.position ?? row.position;
      if (position < row.position) {
        await c.query(
          'UPDATE routing_rules SET position = position + 1 WHERE position >= $1 AND position < $2',
          [position, row.position],
        );
      } else if (position > row.position) {
        await c.query(
          'UPDATE routing_rules SET position = position - 1 WHERE position > $1 AND position <= $2',
          [row.position, position],
        );
      }
      const r = await c.query<RuleRow>(
        `UPDATE routing_rules SET position = $2, enabled = $3, name = $4, match = $5, target = $6,
         disabled_reason = NULL, updated_at = now() WHERE id = $1 RETURNING ${RULE_COLUMNS}`,
        [
          row.id,
          position,
          p.enabled ?? row.enabled,
          p.name ?? row.name,
          JSON.stringify(match),
          JSON.stringify(target),
        ],
      );
      return ruleFromRow(r.rows[0]!);
    });
  }

  async deleteRule(id: string): Promise<void> {
    const r = await this.pool.query('DELETE FROM routing_rules WHERE id = $1', [ruleId(id)]);
    if (r.rowCount === 0) throw new RoutingError(RoutingErrorCode.notFound, `no routing rule ${id}`);
  }

  async listProfiles(): Promise<Array<StoredProfile | { name: string; problem: string }>> {
    const r = await this.pool.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM agent_profiles ORDER BY name`,
    );
    return r.rows.map(profileFromRow);
  }

  async getProfile(name: string): Promise<StoredProfile | { name: string; problem: string }> {
    const r = await this.pool.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM agent_profiles WHERE name = $1`,
      [name],
    );
    if (!r.rows[0]) throw new RoutingError(RoutingErrorCode.notFound, `no agent profile "${name}"`);
    return profileFromRow(r.rows[0]);
  }

  async createProfile(input: ProfileInput): Promise<StoredProfile> {
    const p = parse(profileInputSchema, input);
    const r = await this.pool
      .query<ProfileRow>(
        `INSERT INTO agent_profiles (name, description, system_prompt, model_chain, tools, skill, knowledge,
         cache_ttl_seconds, skills) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (name) DO NOTHING RETURNING ${PROFILE_COLUMNS}`,
        [
          p.name,
          p.description,
          p.systemPrompt,
          p.modelChain,
          p.tools,
          p.skill,
          p.knowledge,
          p.cacheTtlSeconds,
          p.skills,
        ],
      )
      .catch(translateDbError);
    if (!r.rows[0])
      throw new RoutingError(RoutingErrorCode.exists, `agent profile "${p.name}" exists already`);
    return profileFromRow(r.rows[0]) as StoredProfile;
  }

  async updateProfile(name: string, patch: ProfilePatch): Promise<StoredProfile> {
    const p = parse(profilePatchSchema, patch);
    const sets: string[] = [];
    const values: unknown[] = [name];
    const column = {
      description: 'description',
      systemPrompt: 'system_prompt',
      modelChain: 'model_chain',
      tools: 'tools',
      skill: 'skill',
      skills: 'skills',
      knowledge: 'knowledge',
      cacheTtlSeconds: 'cache_ttl_seconds',
    } as const;
    for (const [key, col] of Object.entries(column)) {
      const v = p[key as keyof typeof p];
      if (v === undefined) continue;
      values.push(v);
      sets.push(`${col} = $${values.length}`);
    }
    const r = await this.pool
      .query<ProfileRow>(
        `UPDATE agent_profiles SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE name = $1
         RETURNING ${PROFILE_COLUMNS}`,
        values,
      )
      .catch(translateDbError);
    if (!r.rows[0]) throw new RoutingError(RoutingErrorCode.notFound, `no agent profile "${name}"`);
    const stored = profileFromRow(r.rows[0]);
    if ('problem' in stored) throw new RoutingError(RoutingErrorCode.invalid, stored.problem);
    return stored;
  }

  async deleteProfile(name: string): Promise<void> {
    const r = await this.pool
      .query('DELETE FROM agent_profiles WHERE name = $1', [name])
      .catch(async (err) => {
        if ((err as { code?: string }).code !== '23503') throw err;
        const users = await this.pool.query<{ name: string }>(
          'SELECT name FROM routing_rules WHERE target_profile = $1 ORDER BY position',
          [name],
        );
        throw new RoutingError(
          RoutingErrorCode.profileInUse,
          `agent profile "${name}" is the target of ${users.rows.map((u) => `"${u.name}"`).join(', ')}; change those rules first`,
        );
      });
    if (r.rowCount === 0) throw new RoutingError(RoutingErrorCode.notFound, `no agent profile "${name}"`);
  }

  private async write<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [RULES_LOCK]);
      return fn(c);
    }).catch(translateDbError);
  }
}

function ruleId(id: string): string {
  if (!/^\d{1,18}$/.test(id)) throw new RoutingError(RoutingErrorCode.notFound, `no routing rule ${id}`);
  return id;
}

function translateDbError(err: unknown): never {
  const e = err as { code?: string; constraint?: string; detail?: string };
  if (e.code === '23503' && e.constraint === 'routing_rules_target_profile_fkey') {
    const name = /\(target_profile\)=\((.*)\)/.exec(e.detail ?? '')?.[1] ?? '?';
    throw new RoutingError(RoutingErrorCode.invalid, `target: no agent profile "${name}"`, { cause: err });
  }
  if (e.code === '23514') {
    throw new RoutingError(RoutingErrorCode.invalid, `refused by the database check ${e.constraint}`, {
      cause: err,
    });
  }
  throw err;
}
