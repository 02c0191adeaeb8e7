import type { Logger, MetricsRegistry } from '@switchboard/core';
import type { PlatformAdapter } from './adapter.ts';
import type { ConnectorConfig } from './config.ts';

export interface AdapterDeps {
  log: Logger;
  registry: MetricsRegistry;
}

/** One connector service: how to load its config and build its adapter. `main.ts` is just this. */
export interface ConnectorDefinition<C extends ConnectorConfig> {
  /** Service name for logs, metrics and the broker connection, e.g. `ingress-slack`. */
  service: string;
  /** Builds the config from `env`: the process environment with any Vault values on top. */
  loadConfig(env: NodeJS.ProcessEnv): C;
  createAdapter(cfg: C, deps: AdapterDeps): PlatformAdapter | Promise<PlatformAdapter>;
}
