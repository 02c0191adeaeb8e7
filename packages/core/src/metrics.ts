import client from 'prom-client';

export type MetricsRegistry = client.Registry;

/** One registry per process with Node's default metrics, every name under `switchboard_`. */
export function createMetricsRegistry(serviceName: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service: serviceName });
  client.collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  return registry;
}

export function counter(registry: client.Registry, name: string, help: string, labelNames: string[] = []) {
  return new client.Counter({ name: `switchboard_${name}`, help, labelNames, registers: [registry] });
}

export function gauge(registry: client.Registry, name: string, help: string, labelNames: string[] = []) {
  return new client.Gauge({ name: `switchboard_${name}`, help, labelNames, registers: [registry] });
}

/** Buckets in seconds from 1 ms to 60 s: message latency spans the broker's milliseconds and models' seconds. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

export function histogram(registry: client.Registry, name: string, help: string, labelNames: string[] = []) {
  return new client.Histogram({
    name: `switchboard_${name}`,
    help,
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
}
