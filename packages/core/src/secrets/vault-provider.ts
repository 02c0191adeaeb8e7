import NodeVault from 'node-vault';
import { errorMessage } from '../errors.ts';
import { readCredential, type VaultSettings } from './config.ts';
import { SecretsError, SecretsErrorCodes } from './errors.ts';
import { SecretsProvider, type SecretsProviderOptions } from './provider.ts';

/** How long one Vault request may take before it counts as unreachable. */
const REQUEST_TIMEOUT_MS = 10_000;

interface VaultAuth {
  client_token: string;
  lease_duration: number;
  renewable: boolean;
}

/**
 * Values from one KV v2 secret (VAULT_KV_MOUNT / VAULT_KV_PATH), read with a token from an
 * AppRole login. The token is renewed (renew-self) at two thirds of its lease; when renewal is
 * refused or the lease can no longer grow (max_ttl), the provider logs in again.
 */
export class VaultSecretsProvider extends SecretsProvider {
  readonly backend = 'vault' as const;
  private readonly client: NodeVault.client;
  private token: string | undefined;
  private loginTtlS = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** KV metadata.version of the values in the cache. */
  version: number | undefined;

  constructor(
    opts: SecretsProviderOptions,
    private readonly settings: VaultSettings,
  ) {
    super(opts);
    this.client = NodeVault({
      endpoint: settings.addr,
      // Explicit, so an ambient VAULT_TOKEN in the environment is never used instead of AppRole.
      token: '',
      namespace: settings.namespace,
      requestOptions: settings.caCert ? { ca: settings.caCert } : {},
      rpDefaults: { timeout: REQUEST_TIMEOUT_MS },
    } as NodeVault.VaultOptions);
  }

  /** Whether a login token is currently held (for tests and diagnostics; never the token itself). */
  hasToken(): boolean {
    return this.token !== undefined;
  }

  protected async fetch(): Promise<Map<string, string>> {
    if (!this.token) await this.login();
    try {
      return await this.readKv();
    } catch (err) {
      // 403 with a token we believed live: revoked or expired early (Vault restored from backup,
      // lease tidy). One fresh login tells that apart from a policy that really forbids the path.
      if (err instanceof SecretsError && err.code === SecretsErrorCodes.FORBIDDEN) {
        this.dropToken();
        await this.login();
        return await this.readKv();
      }
      throw err;
    }
  }

  protected override async close(): Promise<void> {
    this.closed = true;
    this.dropToken();
  }

  private async login(): Promise<void> {
    const role_id = readCredential(this.settings.roleId);
    const secret_id = readCredential(this.settings.secretId);
    let res: { auth?: VaultAuth };
    try {
      res = (await this.client.approleLogin({ role_id, secret_id })) as { auth?: VaultAuth };
    } catch (err) {
      throw classify(err, 'AppRole login');
    }
    const auth = res.auth;
    if (!auth?.client_token)
      throw new SecretsError(
        SecretsErrorCodes.UNREACHABLE,
        'vault: AppRole login answered without a token',
        true,
      );
    this.token = auth.client_token;
    this.client.token = auth.client_token;
    this.loginTtlS = auth.lease_duration;
    this.log.info('vault: logged in with AppRole', {
      labels: { backend: 'vault', vault_lease_s: String(auth.lease_duration) },
    });
    this.scheduleRenewal(auth);
  }

  private scheduleRenewal(auth: VaultAuth): void {
    clearTimeout(this.renewTimer);
    // A renewal answered after stop() must not start a new timer.
    if (this.closed) return;
    // A lease of 0 is a token that never expires (root, periodic without TTL): nothing to renew.
    if (!auth.renewable || auth.lease_duration <= 0) return;
    const inMs = Math.max(200, Math.floor((auth.lease_duration * 1000 * 2) / 3));
    this.renewTimer = setTimeout(() => void this.renew(), inMs);
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.token || this.closed) return;
    try {
      const res = (await this.client.tokenRenewSelf()) as { auth?: VaultAuth };
      const auth = res.auth;
      if (!auth)
        throw new SecretsError(SecretsErrorCodes.UNREACHABLE, 'renew-self answered without auth', true);
      // Near max_ttl Vault caps each renewal; renewing ever more often would only delay the
      // inevitable, so a fresh login replaces a token whose lease has shrunk to a third.
      if (auth.lease_duration * 3 < this.loginTtlS) {
        this.log.info('vault: token near its max TTL; logging in again', {
          labels: { backend: 'vault' },
        });
        this.dropToken();
        await this.login();
        return;
      }
      this.scheduleRenewal(auth);
    } catch (err) {
      const e = err instanceof SecretsError ? err : classify(err, 'token renewal');
      this.log.warn(`vault: token renewal failed (${e.message}); logging in again`, {
        error: { code: e.code },
        labels: { backend: 'vault' },
      });
      this.dropToken();
      // The refresh loop owns retries and readiness: a failing login there backs off and reports.
      void this.refresh().catch(() => {});
    }
  }

  private async readKv(): Promise<Map<string, string>> {
    const { kvMount, kvPath } = this.settings;
    let res: { data?: { data?: Record<string, unknown>; metadata?: { version?: number } } };
    try {
      res = (await this.client.read(`${kvMount}/data/${kvPath}`)) as typeof res;
    } catch (err) {
      throw classify(err, `read ${kvMount}/${kvPath}`);
    }
    const data = res.data?.data;
    if (!data || typeof data !== 'object')
      throw new SecretsError(
        SecretsErrorCodes.NOT_FOUND,
        `vault: ${kvMount}/${kvPath} holds no data (deleted or destroyed version?)`,
        false,
      );
    this.version = res.data?.metadata?.version;
    const out = new Map<string, string>();
    // Non-string values (numbers, objects) arrive as their JSON text, so every value is a string.
    for (const [k, v] of Object.entries(data)) out.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    return out;
  }

  private dropToken(): void {
    clearTimeout(this.renewTimer);
    this.token = undefined;
    this.client.token = '';
  }
}

/** Maps node-vault / axios failures to stable codes; messages quote Vault's error, never credentials. */
function classify(err: unknown, what: string): SecretsError {
  const response = (err as { response?: { statusCode?: number; body?: { errors?: unknown[] } } }).response;
  const status = response?.statusCode;
  if (status === undefined) {
    // axios puts the request (secret_id included) on the error: only its code and message are used.
    const code = (err as { code?: unknown }).code;
    return new SecretsError(
      SecretsErrorCodes.UNREACHABLE,
      `vault: ${what}: unreachable (${typeof code === 'string' ? code : errorMessage(err)})`,
      true,
    );
  }
  const reason =
    (response?.body?.errors ?? []).filter((e) => typeof e === 'string').join('; ') || `HTTP ${status}`;
  if (status === 503 && /sealed/i.test(reason))
    return new SecretsError(SecretsErrorCodes.SEALED, `vault: ${what}: Vault is sealed`, true);
  if (status >= 500 || status === 429)
    return new SecretsError(
      SecretsErrorCodes.UNREACHABLE,
      `vault: ${what}: ${reason} (HTTP ${status})`,
      true,
    );
  if (what === 'AppRole login' && (status === 400 || status === 403))
    return new SecretsError(
      SecretsErrorCodes.AUTH_FAILED,
      `vault: AppRole login refused (${reason}); check VAULT_ROLE_ID and VAULT_SECRET_ID`,
      false,
    );
  if (status === 403)
    return new SecretsError(
      SecretsErrorCodes.FORBIDDEN,
      `vault: ${what}: permission denied (the role's policy must allow read on this path)`,
      false,
    );
  if (status === 404)
    return new SecretsError(SecretsErrorCodes.NOT_FOUND, `vault: ${what}: no secret at this path`, false);
  return new SecretsError(SecretsErrorCodes.UNREACHABLE, `vault: ${what}: ${reason} (HTTP ${status})`, true);
}
