import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, type Logger, type Pool, type ToolCaller } from '@switchboard/core';
import { type WorkflowGrant, workflowGrant } from './workflow-tools.ts';

/** What a caller may run here, or why nothing. */
export type GrantDecision = { ok: true; tools: ReadonlySet<string> } | { ok: false; reason: string };

export interface GrantResolverOptions {
  pool: Pool;
  /** What the default route (no rule matched) grants: DEFAULT_PROFILE_TOOLS, as the workers have it. */
  defaultTools: readonly string[];
  /** The scheduler's workflow folder, mounted read-only; file workflows are unknown without it. */
  workflowsDir?: string;
  log: Logger;
  /** Whether a change would be heard now (PgListener.connected); no cache is used while not. */
  listening: () => boolean;
}

/** Folder workflows are not notified: a cached read of them is trusted this long. */
const FOLDER_CACHE_MS = 5_000;
const MAX_WORKFLOW_FILE_BYTES = 256 * 1024;

interface RuleRow {
  enabled: boolean;
  match: { platform?: string | string[]; botId?: string | string[] } | null;
  target: { profile?: string } | null;
  tools: string[] | null;
  profile_found: boolean;
}

/**
 * The tool-runner's own answer to "may this caller run this tool": read from the source of truth,
 * never from the request. A route's grant is its rule's profile's `tools` (routing_rules and
 * agent_profiles, as the workers route by them); a workflow's is the tools its definition names
 * (the workflows table, or the scheduler's folder). Cached until a NOTIFY says the tables changed.
 */
export class GrantResolver {
  private routes = new Map<string, GrantDecision & { match?: RuleRow['match'] }>();
  private workflows: { at: number; byName: Map<string, WorkflowGrant> } | undefined;

  constructor(private readonly o: GrantResolverOptions) {}

  /** Drops everything cached (a rule, profile or workflow changed, or the listener reconnected). */
  invalidate(): void {
    this.routes.clear();
    this.workflows = undefined;
  }

  async resolve(caller: ToolCaller): Promise<GrantDecision> {
    const grant = caller.grant;
    if (!grant) return { ok: false, reason: 'the request names no grant (route or workflow)' };
    if (grant.kind === 'workflow') return this.workflow(grant.workflow);
    if (grant.ruleId === null) return { ok: true, tools: new Set(this.o.defaultTools) };
    const rule = await this.rule(grant.ruleId);
    if (!rule.ok) return rule;
    // The rule's own platform and bot conditions must hold for this caller: a request cannot borrow
    // the grant of a rule written for another platform or bot.
    if (!listed(rule.match?.platform, caller.platform) || !listed(rule.match?.botId, caller.botId)) {
      return { ok: false, reason: `routing rule ${grant.ruleId} does not apply to this conversation` };
    }
    return rule;
  }

  private async rule(id: string): Promise<GrantDecision & { match?: RuleRow['match'] }> {
    const cached = this.routes.get(id);
    if (cached) return cached;
    const r = await this.o.pool.query<RuleRow>(
      `SELECT r.enabled, r.match, r.target, p.tools, p.name IS NOT NULL AS profile_found
       FROM routing_rules r LEFT JOIN agent_profiles p ON p.name = r.target_profile WHERE r.id = $1`,
      [id],
    );
    const decision = ruleDecision(id, r.rows[0], this.o.defaultTools);
    if (this.o.listening()) this.routes.set(id, decision);
    return decision;
  }

  private async workflow(name: string): Promise<GrantDecision> {
    const byName = await this.workflowGrants();
    const w = byName.get(name);
    if (!w) return { ok: false, reason: `there is no workflow "${name}"` };
    if (!w.enabled) return { ok: false, reason: `workflow "${name}" is disabled` };
    const tools = new Set(w.tools);
    if (w.runsSkills) for (const t of this.o.defaultTools) tools.add(t);
    return { ok: true, tools };
  }

  /** Folder workflows first, as the scheduler reads them: a stored one of the same name is ignored. */
  private async workflowGrants(): Promise<Map<string, WorkflowGrant>> {
    const now = Date.now();
    if (this.workflows && now - this.workflows.at < FOLDER_CACHE_MS && this.o.listening())
      return this.workflows.byName;
    const byName = new Map<string, WorkflowGrant>();
    for (const w of await this.folderWorkflows()) if (!byName.has(w.name)) byName.set(w.name, w);
    const rows = await this.o.pool.query<{ name: string; source: string; enabled: boolean }>(
      'SELECT name, source, enabled FROM workflows',
    );
    for (const row of rows.rows) {
      if (byName.has(row.name)) continue;
      const w = workflowGrant(row.source);
      if (w && w.name === row.name) byName.set(row.name, { ...w, enabled: w.enabled && row.enabled });
    }
    this.workflows = { at: now, byName };
    return byName;
  }

  private async folderWorkflows(): Promise<WorkflowGrant[]> {
    const dir = this.o.workflowsDir;
    if (!dir) return [];
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.o.log.warn('cannot read the workflows folder', { error: { message: errorMessage(err) } });
      return [];
    }
    const out: WorkflowGrant[] = [];
    for (const n of names) {
      const path = join(dir, n);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile() || st.size > MAX_WORKFLOW_FILE_BYTES) continue;
      const w = workflowGrant(await readFile(path, 'utf8').catch(() => ''));
      if (w) out.push(w);
    }
    return out;
  }
}

function ruleDecision(
  id: string,
  row: RuleRow | undefined,
  defaultTools: readonly string[],
): GrantDecision & { match?: RuleRow['match'] } {
  if (!row) return { ok: false, reason: `there is no routing rule ${id}` };
  if (!row.enabled) return { ok: false, reason: `routing rule ${id} is disabled` };
  const profile = row.target?.profile;
  if (typeof profile !== 'string') return { ok: false, reason: `routing rule ${id} sends to no agent` };
  if (profile === 'default') return { ok: true, tools: new Set(defaultTools), match: row.match };
  if (!row.profile_found) return { ok: false, reason: `agent profile "${profile}" does not exist` };
  return { ok: true, tools: new Set(row.tools ?? []), match: row.match };
}

/** An absent condition allows anything; a value or list must contain the caller's. */
function listed(condition: string | string[] | undefined, value: string): boolean {
  if (condition === undefined) return true;
  return (Array.isArray(condition) ? condition : [condition]).includes(value);
}
