import { counter, gauge, histogram, type MetricsRegistry } from '@switchboard/core';

export function workerMetrics(registry: MetricsRegistry) {
  return {
    turns: counter(registry, 'turns_total', 'Inbound messages handled, by outcome', ['platform', 'outcome']),
    messageLatency: histogram(
      registry,
      'message_latency_seconds',
      'From ingress receipt to the reply committed, per platform',
      ['platform'],
    ),
    modelCalls: counter(registry, 'model_calls_total', 'Model calls by model and outcome', [
      'model',
      'outcome',
    ]),
    modelDuration: histogram(registry, 'model_call_duration_seconds', 'Model call duration', ['model']),
    allModelsFailed: counter(
      registry,
      'model_chain_failures_total',
      'Turns where every model in the chain failed',
    ),
    settled: counter(registry, 'deliveries_settled_total', 'Deliveries by how they were settled', ['result']),
    outboxPublished: counter(registry, 'outbox_published_total', 'Outbox rows published and confirmed'),
    toolCalls: histogram(registry, 'tool_call_duration_seconds', 'Tool calls by tool and status', [
      'tool',
      'status',
    ]),
    partitionsHeld: gauge(registry, 'partitions_held', 'Inbound partitions this worker consumes'),
  };
}
export type WorkerMetrics = ReturnType<typeof workerMetrics>;
