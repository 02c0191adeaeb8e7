import { errorMessage, type Logger } from '@switchboard/core';
import { type JobsOptions, type Processor, Queue, type RepeatStrategy, Worker } from 'bullmq';
import { Cron } from 'croner';
import type { LoadedWorkflow } from '../workflow/registry.ts';

/** What a job carries: the workflow's name and, for webhook and message runs, the run made at enqueue. */
export interface WorkflowJobData {
  workflow: string;
  runId?: string;
}

/**
 * Cron ticks through croner, the parser that validated the schedule, so what was accepted at load
 * is exactly what fires. Used by the queue (upserts) and the worker (next tick after each job).
 */
export const cronRepeatStrategy: RepeatStrategy = (millis, opts) => {
  if (!opts.pattern) return undefined;
  const next = new Cron(opts.pattern, { timezone: opts.tz, paused: true }).nextRun(new Date(millis));
  return next?.getTime();
};

/** Jobs are retried only for trouble around the run (database down); the run itself never twice. */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 7 * 86_400, count: 1_000 },
  removeOnFail: { age: 30 * 86_400, count: 5_000 },
};

export interface QueueSettings {
  redisUrl: string;
  /** BullMQ's key prefix in Redis. */
  prefix: string;
  name: string;
  connectionName: string;
}

/** BullMQ job ids: no `:` (BullMQ reserves it for scheduler jobs), never a bare integer. */
export function safeJobId(kind: string, key: string): string {
  return `${kind}-${key.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

/**
 * The queue side of the scheduler: job schedulers for cron workflows, one-off jobs for webhooks
 * and messages. Every replica calls {@link syncSchedulers} with what it loaded; the scheduler ids
 * are the workflow names, so replicas agree instead of adding one scheduler each, and BullMQ makes
 * one job per tick (its id is `repeat:<name>:<tick ms>`) however many replicas there are.
 */
export class WorkflowQueue {
  readonly queue: Queue<WorkflowJobData>;

  constructor(
    readonly settings: QueueSettings,
    private readonly log: Logger,
  ) {
    this.queue = new Queue<WorkflowJobData>(settings.name, {
      connection: { url: settings.redisUrl, connectionName: settings.connectionName },
      prefix: settings.prefix,
      defaultJobOptions: JOB_OPTIONS,
      settings: { repeatStrategy: cronRepeatStrategy },
    });
    this.queue.on('error', (err) =>
      this.log.warn('workflow queue: redis error', { error: { message: errorMessage(err) } }),
    );
  }

  /** Redis answers a command within 2 s (BullMQ's connections queue commands while Redis is down). */
  readonly readiness = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error('redis did not answer within 2 s')), 2_000);
    });
    try {
      await Promise.race([this.queue.getJobSchedulersCount(), late]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** Adds a one-off job; a job id already present is not added again. */
  async enqueue(jobId: string, data: WorkflowJobData): Promise<void> {
    await this.queue.add(data.workflow, data, { ...JOB_OPTIONS, jobId });
  }

  /**
   * Makes the job schedulers match the enabled cron workflows: adds or changes what differs,
   * removes the rest (deleted, disabled, now invalid, or no longer cron). Nothing is touched
   * when it already matches, so replicas reloading side by side do not reset each other's ticks.
   */
  async syncSchedulers(workflows: LoadedWorkflow[]): Promise<void> {
    const desired = new Map<string, { pattern: string; tz: string }>();
    for (const w of workflows) {
      const cron = w.workflow.trigger.cron;
      if (w.enabled && cron) desired.set(w.workflow.name, { pattern: cron.schedule, tz: cron.timezone });
    }
    const existing = await this.queue.getJobSchedulers(0, -1);
    for (const s of existing) {
      const id = s.id ?? s.key;
      if (desired.has(id)) continue;
      await this.queue.removeJobScheduler(id);
      this.log.info('workflow schedule removed', { labels: { workflow: id } });
    }
    for (const [name, want] of desired) {
      const have = existing.find((s) => (s.id ?? s.key) === name);
      if (have && have.pattern === want.pattern && (have.tz ?? 'UTC') === want.tz) continue;
      try {
        await this.queue.upsertJobScheduler(
          name,
          { pattern: want.pattern, tz: want.tz },
          { name, data: { workflow: name }, opts: JOB_OPTIONS },
        );
        this.log.info('workflow scheduled', {
          labels: { workflow: name, schedule: want.pattern, timezone: want.tz },
        });
      } catch (err) {
        // Another replica upserted the same tick a moment before: it is scheduled either way.
        if ((err as { code?: unknown }).code === -10) continue;
        this.log.error('workflow could not be scheduled', {
          error: { message: errorMessage(err) },
          labels: { workflow: name, schedule: want.pattern, timezone: want.tz },
        });
      }
    }
  }

  /** The consuming side; a job's processor resolves with the run's outcome. */
  startWorker(processor: Processor<WorkflowJobData>, concurrency: number): Worker<WorkflowJobData> {
    const s = this.settings;
    const worker = new Worker<WorkflowJobData>(s.name, processor, {
      connection: { url: s.redisUrl, connectionName: `${s.connectionName}-worker` },
      prefix: s.prefix,
      concurrency,
      settings: { repeatStrategy: cronRepeatStrategy },
    });
    worker.on('error', (err) =>
      this.log.warn('workflow worker: redis error', { error: { message: errorMessage(err) } }),
    );
    return worker;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
