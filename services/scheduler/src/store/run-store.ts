import type { Pool } from '@switchboard/core';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type RunTriggerType = 'cron' | 'webhook' | 'manual' | 'message';
export type AttemptStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface NewRun {
  id: string;
  workflow: string;
  jobId: string;
  triggerType: RunTriggerType;
  trigger: Record<string, unknown>;
  traceId: string;
  scheduledFor?: Date;
}

export interface RunRow {
  id: string;
  workflow: string;
  job_id: string;
  trigger_type: RunTriggerType;
  trigger: Record<string, unknown>;
  scheduled_for: Date | null;
  status: RunStatus;
  error: string | null;
  failed_step: string | null;
  notified: boolean | null;
  trace_id: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface StepRunRow {
  step_id: string;
  position: number;
  attempt: number;
  step_type: string;
  status: AttemptStatus;
  output: unknown;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

/** Run history: one row per run, one per attempt of each step. */
export class RunStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Records a run for a job, once: a second call for the same job id (a retried webhook, a message
   * delivered twice, a job picked up again) returns the run that exists.
   */
  async create(r: NewRun): Promise<{ run: RunRow; created: boolean }> {
    const inserted = await this.pool.query<RunRow>(
      `INSERT INTO workflow_runs (id, workflow, job_id, trigger_type, trigger, trace_id, scheduled_for)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id) DO NOTHING RETURNING *`,
      [r.id, r.workflow, r.jobId, r.triggerType, r.trigger, r.traceId, r.scheduledFor ?? null],
    );
    if (inserted.rows[0]) return { run: inserted.rows[0], created: true };
    const existing = await this.pool.query<RunRow>('SELECT * FROM workflow_runs WHERE job_id = $1', [
      r.jobId,
    ]);
    if (!existing.rows[0]) throw new Error(`run of job ${r.jobId} vanished`);
    return { run: existing.rows[0], created: false };
  }

  /** Undoes a run whose job could not be queued, so the caller's retry starts it afresh. */
  async deleteQueued(id: string): Promise<void> {
    await this.pool.query(`DELETE FROM workflow_runs WHERE id = $1 AND status = 'queued'`, [id]);
  }

  async byJob(jobId: string): Promise<RunRow | undefined> {
    return (await this.pool.query<RunRow>('SELECT * FROM workflow_runs WHERE job_id = $1', [jobId])).rows[0];
  }

  async get(id: string): Promise<RunRow | undefined> {
    return (await this.pool.query<RunRow>('SELECT * FROM workflow_runs WHERE id = $1', [id])).rows[0];
  }

  async list(workflow: string, limit: number): Promise<RunRow[]> {
    const res = await this.pool.query<RunRow>(
      'SELECT * FROM workflow_runs WHERE workflow = $1 ORDER BY created_at DESC, id LIMIT $2',
      [workflow, limit],
    );
    return res.rows;
  }

  async start(id: string): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_runs SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = $1`,
      [id],
    );
  }

  async finish(
    id: string,
    status: 'succeeded' | 'failed',
    error?: string,
    failedStep?: string,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_runs SET status = $2, error = $3, failed_step = $4, finished_at = now() WHERE id = $1`,
      [id, status, error ?? null, failedStep ?? null],
    );
  }

  async setNotified(id: string, notified: boolean): Promise<void> {
    await this.pool.query('UPDATE workflow_runs SET notified = $2 WHERE id = $1', [id, notified]);
  }

  async steps(runId: string): Promise<StepRunRow[]> {
    const res = await this.pool.query<StepRunRow>(
      `SELECT step_id, position, attempt, step_type, status, output, error, started_at, finished_at, duration_ms
       FROM workflow_step_runs WHERE run_id = $1 ORDER BY position, attempt`,
      [runId],
    );
    return res.rows;
  }

  /** Attempts left `running` by a scheduler that stopped mid-step: they did not finish, they did not fail. */
  async interruptRunning(runId: string): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_step_runs SET status = 'interrupted', finished_at = now(), error = 'the scheduler stopped during this attempt'
       WHERE run_id = $1 AND status = 'running'`,
      [runId],
    );
  }

  async startAttempt(a: {
    runId: string;
    stepId: string;
    position: number;
    attempt: number;
    type: string;
  }): Promise<void> {
    await this.pool.query(
      `INSERT INTO workflow_step_runs (run_id, step_id, position, attempt, step_type, status)
       VALUES ($1, $2, $3, $4, $5, 'running')`,
      [a.runId, a.stepId, a.position, a.attempt, a.type],
    );
  }

  async finishAttempt(a: {
    runId: string;
    stepId: string;
    attempt: number;
    status: 'succeeded' | 'failed';
    output?: unknown;
    error?: string;
    durationMs: number;
  }): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_step_runs SET status = $4, output = $5, error = $6, finished_at = now(), duration_ms = $7
       WHERE run_id = $1 AND step_id = $2 AND attempt = $3`,
      [
        a.runId,
        a.stepId,
        a.attempt,
        a.status,
        a.output === undefined ? null : JSON.stringify(a.output),
        a.error ?? null,
        Math.round(a.durationMs),
      ],
    );
  }
}
