import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from '../errors.ts';

/** Where a credential comes from; a `_FILE` is read again at every login so a rotated file is used. */
export interface CredentialSource {
  name: string;
  value?: string;
  file?: string;
}

export interface VaultSettings {
  addr: string;
  roleId: CredentialSource;
  secretId: CredentialSource;
  kvMount: string;
  kvPath: string;
  namespace?: string;
  /** PEM contents of VAULT_CACERT, read once at start. */
  caCert?: string;
}

export interface SecretsSettings {
  backend: 'env' | 'vault';
  refreshS: number;
  retryMaxS: number;
  vault?: VaultSettings;
}

const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

const schema = z.object({
  SECRETS_BACKEND: z.enum(['env', 'vault']).default('env'),
  SECRETS_REFRESH_S: z.coerce.number().int().min(1).max(86_400).default(300),
  SECRETS_RETRY_MAX_S: z.coerce.number().int().min(1).max(3_600).default(30),
  VAULT_ADDR: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, 'must be http(s)://host[:port]')
    .optional(),
  VAULT_KV_MOUNT: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'a mount name: letters, digits, - and _')
    .default('secret'),
  VAULT_KV_PATH: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a KV path such as switchboard/gateway')
    .optional(),
  VAULT_NAMESPACE: z.string().optional(),
  VAULT_CACERT: z.string().optional(),
});

/**
 * Reads SECRETS_* and VAULT_* from the environment. A misconfiguration throws CONFIG_INVALID at
 * start (runMain exits 78); Vault being sealed or away never does — that is the provider's job.
 */
export function loadSecretsSettings(env: NodeJS.ProcessEnv = process.env): SecretsSettings {
  const raw: Record<string, string | undefined> = {};
  for (const k of Object.keys(schema.shape)) raw[k] = nonEmpty(env[k]);
  const parsed = schema.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`  ${i.path.join('.')}: ${i.message}`);
  }
  const cred = (name: string): CredentialSource | undefined => {
    const value = nonEmpty(env[name]);
    const file = nonEmpty(env[`${name}_FILE`]);
    if (value) return { name, value };
    if (file) {
      if (!existsSync(file)) problems.push(`  ${name}_FILE: cannot read ${file} (ENOENT)`);
      return { name, file };
    }
    return undefined;
  };
  const s = parsed.success ? parsed.data : undefined;
  let vault: VaultSettings | undefined;
  if (s?.SECRETS_BACKEND === 'vault') {
    const roleId = cred('VAULT_ROLE_ID');
    const secretId = cred('VAULT_SECRET_ID');
    if (!s.VAULT_ADDR) problems.push('  VAULT_ADDR: is required when SECRETS_BACKEND=vault');
    if (!s.VAULT_KV_PATH) problems.push('  VAULT_KV_PATH: is required when SECRETS_BACKEND=vault');
    if (!roleId) problems.push('  VAULT_ROLE_ID: is required (set VAULT_ROLE_ID or VAULT_ROLE_ID_FILE)');
    if (!secretId)
      problems.push('  VAULT_SECRET_ID: is required (set VAULT_SECRET_ID or VAULT_SECRET_ID_FILE)');
    let caCert: string | undefined;
    if (s.VAULT_CACERT) {
      try {
        caCert = readFileSync(s.VAULT_CACERT, 'utf8');
      } catch (err) {
        problems.push(
          `  VAULT_CACERT: cannot read ${s.VAULT_CACERT} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    if (s.VAULT_ADDR && s.VAULT_KV_PATH && roleId && secretId) {
      vault = {
        addr: s.VAULT_ADDR.replace(/\/$/, ''),
        roleId,
        secretId,
        kvMount: s.VAULT_KV_MOUNT,
        kvPath: s.VAULT_KV_PATH,
        namespace: s.VAULT_NAMESPACE,
        caCert,
      };
    }
  }
  if (problems.length > 0 || !s)
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      `invalid secrets configuration:\n${problems.join('\n')}`,
    );
  return {
    backend: s.SECRETS_BACKEND,
    refreshS: s.SECRETS_REFRESH_S,
    retryMaxS: s.SECRETS_RETRY_MAX_S,
    vault,
  };
}

/** The credential's current value; a file is read each time so a rotated secret_id is picked up. */
export function readCredential(c: CredentialSource): string {
  if (c.value !== undefined) return c.value;
  try {
    const v = readFileSync(c.file ?? '', 'utf8').trim();
    if (v) return v;
  } catch {
    // reported below with the same wording as an empty file
  }
  throw new SwitchboardError(
    ErrorCodes.CONFIG_INVALID,
    `${c.name}_FILE: cannot read ${c.file} or it is empty`,
  );
}
