import type { Logger } from '../logger.ts';
import type { SecretsSettings } from './config.ts';
import { EnvSecretsProvider } from './env-provider.ts';
import type { SecretsProvider } from './provider.ts';
import { VaultSecretsProvider } from './vault-provider.ts';

export * from './bootstrap.ts';
export * from './config.ts';
export * from './env-provider.ts';
export * from './errors.ts';
export * from './provider.ts';
export * from './vault-provider.ts';

export interface CreateSecretsProviderOptions {
  log: Logger;
  required?: string[];
  optional?: string[];
  /** Overrides for tests; production uses the settings. */
  retryMinMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** The provider SECRETS_BACKEND names, not started: call start() (and reloadOnSighup()). */
export function createSecretsProvider(
  settings: SecretsSettings,
  o: CreateSecretsProviderOptions,
): SecretsProvider {
  const opts = {
    log: o.log,
    required: o.required,
    optional: o.optional,
    refreshMs: settings.refreshS * 1000,
    retryMinMs: o.retryMinMs,
    retryMaxMs: settings.retryMaxS * 1000,
  };
  if (settings.backend === 'vault') {
    if (!settings.vault) throw new Error('SECRETS_BACKEND=vault without Vault settings');
    return new VaultSecretsProvider(opts, settings.vault);
  }
  return new EnvSecretsProvider(opts, o.env);
}
