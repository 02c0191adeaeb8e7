import type { Pool } from '@switchboard/core';
import { WorkflowError, WorkflowErrorCode } from './errors.ts';
import { parseWorkflow, type WorkflowLimits } from './parse.ts';

export interface StoredWorkflow {
  name: string;
  source: string;
  enabled: boolean;
  updated_at: Date;
  updated_by: string;
}

/**
 * Workflows made in the console, as YAML in the `workflows` table. Every change NOTIFYs
 * `sb_workflows_changed` (a trigger in the migration), so schedulers reload whoever wrote it.
 */
export class WorkflowStore {
  static readonly channel = 'sb_workflows_changed';

  constructor(private readonly pool: Pool) {}

  async list(): Promise<StoredWorkflow[]> {
    const res = await this.pool.query<StoredWorkflow>(
      'SELECT name, source, enabled, updated_at, updated_by FROM workflows ORDER BY name',
    );
    return res.rows;
  }

  /** Validates, then writes: an invalid workflow is refused with the reason and nothing changes. */
  async save(source: string, by: string, limits: WorkflowLimits, enabled = true): Promise<string> {
    const parsed = parseWorkflow(source, limits);
    if (!parsed.ok) throw new WorkflowError(WorkflowErrorCode.invalid, parsed.reason, { retryable: false });
    const name = parsed.workflow.name;
    await this.pool.query(
      `INSERT INTO workflows (name, source, enabled, updated_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET source = $2, enabled = $3, updated_by = $4, updated_at = now()`,
      [name, source, enabled, by],
    );
    return name;
  }

  async remove(name: string): Promise<boolean> {
    const res = await this.pool.query('DELETE FROM workflows WHERE name = $1', [name]);
    return (res.rowCount ?? 0) > 0;
  }
}
