import { randomUUID } from 'node:crypto';
import { errorMessage, type Logger, newTraceId, traceFields } from '@switchboard/core';
import type { Workflow, WorkflowStep } from '@switchboard/workflows';
import { guardRendered, renderTemplate, WorkflowError, WorkflowErrorCode } from '@switchboard/workflows';
import { type Job, UnrecoverableError } from 'bullmq';
import type { SchedulerMetrics } from '../metrics.ts';
import type { RunRow, RunStore, StepRunRow } from '../store/run-store.ts';
import type { WorkflowRegistry } from '../workflow/registry.ts';
import { callTool, capOutput, runStep, type StepCall, type StepDeps } from './steps.ts';
import type { WorkflowJobData } from './workflow-queue.ts';

const MAX_BACKOFF_MS = 10 * 60_000;

export interface RunnerOptions {
  registry: WorkflowRegistry;
  runs: RunStore;
  deps: StepDeps;
  log: Logger;
  metrics: SchedulerMetrics;
  stepTimeoutMs: number;
  outputMaxChars: number;
}

export type RunOutcome = { runId?: string; status: 'succeeded' | 'failed' | 'skipped' };

/** `repeat:<workflow>:<tick ms>`: the job id BullMQ gives a job scheduler's tick. */
export function tickOf(jobId: string): number | undefined {
  const m = /^repeat:[^:]+:(\d+)$/.exec(jobId);
  return m ? Number(m[1]) : undefined;
}

class Stopping extends Error {}

/**
 * Runs one job: finds or records its run, then the steps in order — each attempt recorded, retried
 * with backoff, cut off at its timeout — and on failure sends the optional notification. A job
 * picked up again (a scheduler died mid-run) resumes after the steps that succeeded.
 */
export class WorkflowRunner {
  private readonly stopping = new AbortController();

  constructor(private readonly o: RunnerOptions) {}

  /** Shutdown: the running attempts finish; no new attempt starts, the job is retried elsewhere. */
  stop(): void {
    this.stopping.abort();
  }

  process = async (job: Job<WorkflowJobData>): Promise<RunOutcome> => {
    const { workflow: name, runId } = job.data;
    const jobId = String(job.id);
    const loaded = this.o.registry.get(name);
    let run = runId ? await this.o.runs.get(runId) : await this.o.runs.byJob(jobId);
    if (!run) {
      const tick = tickOf(jobId);
      const cron = loaded?.workflow.trigger.cron;
      if (tick === undefined || !loaded?.enabled || !cron) {
        this.o.log.warn('scheduled run skipped: the workflow is no longer an enabled cron workflow here', {
          labels: { workflow: name, job_id: jobId },
        });
        return { status: 'skipped' };
      }
      const at = new Date(tick);
      ({ run } = await this.o.runs.create({
        id: randomUUID(),
        workflow: name,
        jobId,
        triggerType: 'cron',
        trigger: { type: 'cron', schedule: cron.schedule, timezone: cron.timezone, tick: at.toISOString() },
        traceId: newTraceId(),
        scheduledFor: at,
      }));
    }
    if (run.status === 'succeeded' || run.status === 'failed') return { runId: run.id, status: run.status };
    if (!loaded) {
      const reason = `the workflow "${name}" is no longer loaded (deleted or now invalid)`;
      await this.o.runs.finish(run.id, 'failed', reason);
      this.o.metrics.runs.inc({ workflow: name, status: 'failed' });
      throw new UnrecoverableError(reason);
    }
    const outcome = await this.execute(loaded.workflow, run);
    if (outcome.status === 'failed')
      throw new UnrecoverableError(`workflow ${name} failed: ${outcome.error}`);
    return { runId: run.id, status: 'succeeded' };
  };

  private async execute(
    wf: Workflow,
    run: RunRow,
  ): Promise<{ status: 'succeeded' } | { status: 'failed'; error: string }> {
    const fields = traceFields(run.trace_id, { workflow: wf.name, run_id: run.id });
    const resumed = run.status === 'running';
    if (resumed) await this.o.runs.interruptRunning(run.id);
    await this.o.runs.start(run.id);
    this.o.log.info(resumed ? 'workflow run resumed' : 'workflow run started', {
      ...fields,
      labels: { ...fields.labels, trigger: run.trigger_type },
    });
    const history = resumed ? await this.o.runs.steps(run.id) : [];
    const now = new Date();
    const ctx: Record<string, unknown> = {
      steps: {} as Record<string, unknown>,
      trigger: run.trigger,
      now: now.toISOString(),
      today: now.toISOString().slice(0, 10),
      workflow: { name: wf.name, description: wf.description },
      run: { id: run.id, trigger_type: run.trigger_type, trace_id: run.trace_id },
    };
    const steps = ctx.steps as Record<string, unknown>;
    for (const [position, step] of wf.steps.entries()) {
      const rows = history.filter((h) => h.step_id === step.id);
      const done = rows.find((r) => r.status === 'succeeded');
      if (done) {
        steps[step.id] = { output: done.output, status: 'succeeded', attempts: rows.length };
        continue;
      }
      const r = await this.attempts(wf, run, step, position, rows, ctx, fields);
      steps[step.id] = { output: r.output, status: r.ok ? 'succeeded' : 'failed', attempts: r.attempts };
      if (!r.ok) {
        await this.o.runs.finish(run.id, 'failed', r.error, step.id);
        this.o.metrics.runs.inc({ workflow: wf.name, status: 'failed' });
        this.o.log.error('workflow run failed', {
          ...fields,
          error: { code: WorkflowErrorCode.stepFailed, message: r.error },
          labels: { ...fields.labels, step: step.id, attempts: String(r.attempts) },
        });
        await this.notify(wf, run, ctx, { step: step.id, message: r.error, attempts: r.attempts }, fields);
        return { status: 'failed', error: r.error };
      }
    }
    await this.o.runs.finish(run.id, 'succeeded');
    this.o.metrics.runs.inc({ workflow: wf.name, status: 'succeeded' });
    this.o.log.info('workflow run succeeded', fields);
    return { status: 'succeeded' };
  }

  private async attempts(
    wf: Workflow,
    run: RunRow,
    step: WorkflowStep,
    position: number,
    rows: StepRunRow[],
    ctx: Record<string, unknown>,
    fields: ReturnType<typeof traceFields>,
  ): Promise<
    | { ok: true; output: unknown; attempts: number }
    | { ok: false; output?: undefined; error: string; attempts: number }
  > {
    const max = step.retry.attempts;
    let failures = rows.filter((r) => r.status === 'failed').length;
    let attempt = rows.reduce((n, r) => Math.max(n, r.attempt), 0);
    let lastError = rows.filter((r) => r.status === 'failed').at(-1)?.error ?? 'no attempt left';
    const timeoutMs = step.timeout_ms ?? this.o.stepTimeoutMs;
    const labels = { ...fields.labels, step: step.id, step_type: step.type };
    while (failures < max) {
      if (failures > 0)
        await this.sleep(Math.min(step.retry.backoff_ms * 2 ** (failures - 1), MAX_BACKOFF_MS));
      if (this.stopping.signal.aborted)
        throw new Stopping('the scheduler is shutting down; the run resumes later');
      attempt++;
      await this.o.runs.startAttempt({ runId: run.id, stepId: step.id, position, attempt, type: step.type });
      const started = performance.now();
      const call: StepCall = {
        workflow: wf.name,
        runId: run.id,
        traceId: run.trace_id,
        attempt,
        timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      };
      try {
        // Rendered values may fill data, never what the step does or where it connects.
        const rendered = guardRendered(step, {
          ...step,
          with: renderTemplate(step.with, ctx),
        } as WorkflowStep);
        const output = capOutput(await runStep(rendered, call, this.o.deps), this.o.outputMaxChars);
        const durationMs = performance.now() - started;
        await this.o.runs.finishAttempt({
          runId: run.id,
          stepId: step.id,
          attempt,
          status: 'succeeded',
          output,
          durationMs,
        });
        this.o.metrics.stepDuration.observe(
          { workflow: wf.name, step: step.id, status: 'succeeded' },
          durationMs / 1000,
        );
        this.o.log.info('workflow step done', {
          ...fields,
          labels: { ...labels, attempt: String(attempt) },
          event: { duration: Math.round(durationMs * 1e6) },
        });
        return { ok: true, output, attempts: attempt };
      } catch (err) {
        const e =
          err instanceof WorkflowError
            ? err
            : new WorkflowError(WorkflowErrorCode.stepFailed, errorMessage(err));
        const durationMs = performance.now() - started;
        await this.o.runs.finishAttempt({
          runId: run.id,
          stepId: step.id,
          attempt,
          status: 'failed',
          error: e.message.slice(0, 4_000),
          durationMs,
        });
        this.o.metrics.stepDuration.observe(
          { workflow: wf.name, step: step.id, status: 'failed' },
          durationMs / 1000,
        );
        failures++;
        lastError = e.message;
        const retrying = e.retryable && failures < max;
        this.o.log.warn(retrying ? 'workflow step failed; retrying' : 'workflow step failed', {
          ...fields,
          error: { code: e.code, message: e.message },
          labels: { ...labels, attempt: String(attempt), attempts: String(max) },
        });
        if (!e.retryable) break;
      }
    }
    return { ok: false, error: `step ${step.id}: ${lastError}`, attempts: attempt };
  }

  /** The on_failure message, through the tool-runner's send_message; tried three times. */
  private async notify(
    wf: Workflow,
    run: RunRow,
    ctx: Record<string, unknown>,
    error: { step: string; message: string; attempts: number },
    fields: ReturnType<typeof traceFields>,
  ): Promise<void> {
    const on = wf.on_failure?.send_message;
    if (!on) return;
    const fallback = `Workflow ${wf.name} failed at step ${error.step} after ${error.attempts} attempt(s): ${error.message} (run ${run.id})`;
    let text = fallback;
    if (on.text) {
      try {
        const rendered = renderTemplate(on.text, { ...ctx, error });
        text = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
      } catch (err) {
        text = `${fallback}\n(on_failure.text could not be rendered: ${errorMessage(err)})`;
      }
    }
    text = text.slice(0, 16_000) || fallback;
    let sent = false;
    let problem = '';
    for (let attempt = 1; attempt <= 3 && !sent; attempt++) {
      if (attempt > 1) await this.sleep(1_000 * 2 ** (attempt - 2)).catch(() => {});
      const timeoutMs = this.o.stepTimeoutMs;
      try {
        await callTool(
          this.o.deps.tools,
          'on_failure',
          'send_message',
          { channel: on.channel, text },
          {
            workflow: wf.name,
            runId: run.id,
            traceId: run.trace_id,
            attempt,
            timeoutMs,
            signal: AbortSignal.timeout(timeoutMs),
          },
        );
        sent = true;
      } catch (err) {
        problem = errorMessage(err);
        if (err instanceof WorkflowError && !err.retryable) break;
      }
    }
    await this.o.runs.setNotified(run.id, sent);
    if (sent)
      this.o.log.info('workflow failure notified', {
        ...fields,
        labels: { ...fields.labels, channel: on.channel },
      });
    else
      this.o.log.error('workflow failure notification not sent', {
        ...fields,
        error: { message: problem },
        labels: { ...fields.labels, channel: on.channel },
      });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.stopping.signal;
      if (signal.aborted)
        return reject(new Stopping('the scheduler is shutting down; the run resumes later'));
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(new Stopping('the scheduler is shutting down; the run resumes later'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
