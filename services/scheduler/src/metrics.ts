import { counter, gauge, histogram, type MetricsRegistry } from '@switchboard/core';

export function schedulerMetrics(registry: MetricsRegistry) {
  return {
    runs: counter(registry, 'workflow_runs_total', 'Workflow runs finished, by workflow and status', [
      'workflow',
      'status',
    ]),
    stepDuration: histogram(
      registry,
      'workflow_step_duration_seconds',
      'Duration of step attempts, by workflow, step and status',
      ['workflow', 'step', 'status'],
    ),
    triggers: counter(
      registry,
      'workflow_triggers_total',
      'Runs requested, by trigger type and outcome (queued, duplicate, refused)',
      ['trigger', 'outcome'],
    ),
    loaded: gauge(registry, 'workflows_loaded', 'Valid workflows loaded, by source', ['source']),
    invalid: gauge(registry, 'workflows_invalid', 'Workflow files and rows refused as invalid'),
  };
}
export type SchedulerMetrics = ReturnType<typeof schedulerMetrics>;
