import { readFile } from 'node:fs/promises';
import { SecretsError, SecretsErrorCodes } from './errors.ts';
import { SecretsProvider, type SecretsProviderOptions } from './provider.ts';

/**
 * Values from the environment, or from the file NAME_FILE names (Docker secrets, a Vault agent
 * template), as loadConfig does. Files are read again on every refresh, so a secret rewritten on
 * disk is picked up on SIGHUP or the timer without a restart; process.env itself never changes.
 */
export class EnvSecretsProvider extends SecretsProvider {
  readonly backend = 'env' as const;

  constructor(
    opts: SecretsProviderOptions,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    super(opts);
  }

  protected async fetch(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const keys = [...new Set([...(this.opts.required ?? []), ...this.optional])];
    for (const key of keys) {
      const direct = this.env[key];
      if (direct !== undefined && direct !== '') {
        out.set(key, direct);
        continue;
      }
      const file = this.env[`${key}_FILE`];
      if (!file) continue;
      try {
        const v = (await readFile(file, 'utf8')).trim();
        if (v) out.set(key, v);
      } catch (err) {
        throw new SecretsError(
          SecretsErrorCodes.NOT_FOUND,
          `${key}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          true,
        );
      }
    }
    return out;
  }
}
