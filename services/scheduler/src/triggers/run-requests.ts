import { createHash, randomUUID } from 'node:crypto';
import { newTraceId } from '@switchboard/core';
import type { SchedulerMetrics } from '../metrics.ts';
import type { WorkflowQueue } from '../run/workflow-queue.ts';
import { safeJobId } from '../run/workflow-queue.ts';
import type { RunRow, RunStore, RunTriggerType } from '../store/run-store.ts';

export interface RunRequest {
  workflow: string;
  triggerType: Exclude<RunTriggerType, 'cron'>;
  /** What makes two requests the same one: an Idempotency-Key, an inbound message id. */
  key: string;
  trigger: Record<string, unknown>;
  traceId?: string;
}

/**
 * Turns a webhook call or a matching message into a run: the run row first (so its id can be
 * answered at once), then the job, both keyed by the request's own id, so a retried webhook or a
 * redelivered message finds the run it already made instead of starting another.
 */
export class RunRequests {
  constructor(
    private readonly runs: RunStore,
    private readonly queue: WorkflowQueue,
    private readonly metrics: SchedulerMetrics,
  ) {}

  async request(r: RunRequest): Promise<{ run: RunRow; duplicate: boolean }> {
    const digest = createHash('sha256').update(`${r.workflow}\n${r.key}`).digest('hex').slice(0, 40);
    const jobId = safeJobId(r.triggerType, digest);
    const { run, created } = await this.runs.create({
      id: randomUUID(),
      workflow: r.workflow,
      jobId,
      triggerType: r.triggerType,
      trigger: r.trigger,
      traceId: r.traceId ?? newTraceId(),
    });
    // Still queued: an earlier request may have died between the two writes. BullMQ ignores a
    // job id it holds already, so adding again is safe.
    if (created || run.status === 'queued') {
      try {
        await this.queue.enqueue(jobId, { workflow: r.workflow, runId: run.id });
      } catch (err) {
        if (created) await this.runs.deleteQueued(run.id);
        throw err;
      }
    }
    this.metrics.triggers.inc({ trigger: r.triggerType, outcome: created ? 'queued' : 'duplicate' });
    return { run, duplicate: !created };
  }
}
