import { counter, histogram, type MetricsRegistry } from '@switchboard/core';

export function toolRunnerMetrics(registry: MetricsRegistry) {
  return {
    calls: counter(registry, 'tool_calls_total', 'Tool calls by tool and outcome (ok or the error code)', [
      'tool',
      'outcome',
    ]),
    duration: histogram(registry, 'tool_call_duration_seconds', 'Tool call duration', ['tool']),
  };
}
export type ToolRunnerMetrics = ReturnType<typeof toolRunnerMetrics>;
