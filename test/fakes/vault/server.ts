import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A fake of the parts of HashiCorp Vault's HTTP API the secrets provider uses: AppRole login,
 * token renew-self and lookup-self, KV v2 read/write, sys/health and seal-status. Same paths, same
 * JSON envelopes, same status codes and error bodies ({"errors":[...]}) as Vault 1.15, so the real
 * node-vault client runs against it unchanged. A real Vault cannot run in the test environment.
 */

export interface FakeVaultRole {
  roleId: string;
  secretId: string;
  /** KV v2 secret paths (relative to a mount, e.g. "switchboard/gateway") this role's policy may read. */
  readPaths: string[];
  /** The mount those paths live under. */
  mount?: string;
}

export interface FakeVaultOptions {
  roles: FakeVaultRole[];
  /** token_ttl of the AppRole: lease_duration of a login and of each renewal. */
  tokenTtlS?: number;
  /** token_max_ttl: a renewal never extends a token past its creation plus this. */
  tokenMaxTtlS?: number;
  /** KV v2 mounts that exist. */
  mounts?: string[];
}

interface TokenState {
  token: string;
  accessor: string;
  role: FakeVaultRole;
  createdAt: number;
  expiresAt: number;
}

interface KvVersion {
  data: Record<string, unknown>;
  createdTime: string;
}

export interface FakeVaultCounters {
  logins: number;
  failedLogins: number;
  renewals: number;
  failedRenewals: number;
  reads: number;
  /** Requests refused with 503 because the fake was sealed. */
  sealedRefusals: number;
}

export interface FakeVault {
  url: string;
  counters: FakeVaultCounters;
  /** Writes a new version of a KV v2 secret (as `vault kv put` would); returns the version number. */
  putSecret(mount: string, path: string, data: Record<string, unknown>): number;
  seal(): void;
  unseal(): void;
  /** Expires every token now, as a Vault restart with lost leases or a revoke would. */
  revokeAllTokens(): void;
  /** Changes a role's secret_id (rotation by the operator); the old one stops working. */
  setSecretId(roleId: string, secretId: string): void;
  liveTokens(): number;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

export async function startFakeVault(o: FakeVaultOptions): Promise<FakeVault> {
  const ttlS = o.tokenTtlS ?? 3600;
  const maxTtlS = o.tokenMaxTtlS ?? 32 * 24 * 3600;
  const mounts = new Set(o.mounts ?? ['secret']);
  const roles = o.roles.map((r) => ({ mount: 'secret', ...r }));
  const tokens = new Map<string, TokenState>();
  const kv = new Map<string, KvVersion[]>();
  const counters: FakeVaultCounters = {
    logins: 0,
    failedLogins: 0,
    renewals: 0,
    failedRenewals: 0,
    reads: 0,
    sealedRefusals: 0,
  };
  let sealed = false;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(status === 204 ? undefined : JSON.stringify(body));
  };
  const errors = (res: ServerResponse, status: number, ...messages: string[]) =>
    send(res, status, { errors: messages });
  const envelope = (fields: Record<string, unknown>) => ({
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...fields,
  });

  const liveToken = (req: IncomingMessage): TokenState | undefined => {
    const t = req.headers['x-vault-token'];
    if (typeof t !== 'string') return undefined;
    const state = tokens.get(t);
    if (!state) return undefined;
    if (state.expiresAt <= Date.now()) {
      tokens.delete(t);
      return undefined;
    }
    return state;
  };
  const authBlock = (s: TokenState) => {
    const policies = ['default', `approle-${s.role.roleId}`];
    return {
      client_token: s.token,
      accessor: s.accessor,
      policies,
      token_policies: policies,
      metadata: { role_name: s.role.roleId },
      lease_duration: Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000)),
      renewable: true,
      entity_id: randomUUID(),
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
  };

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) reject(new Error('body too large'));
        else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    if (raw.trim()) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return errors(res, 400, 'failed to parse JSON input: invalid character');
      }
    }

    if (path === '/v1/sys/health') {
      // Vault's documented health codes: 200 active, 503 sealed, 501 not initialised.
      return send(res, sealed ? 503 : 200, {
        initialized: true,
        sealed,
        standby: false,
        performance_standby: false,
        server_time_utc: Math.floor(Date.now() / 1000),
        version: '1.15.6',
        cluster_name: 'vault-cluster-fake',
      });
    }
    if (path === '/v1/sys/seal-status') {
      return send(res, 200, {
        type: 'shamir',
        initialized: true,
        sealed,
        t: 3,
        n: 5,
        progress: 0,
        nonce: '',
        version: '1.15.6',
        storage_type: 'raft',
      });
    }
    if (sealed) {
      counters.sealedRefusals++;
      return errors(res, 503, 'Vault is sealed');
    }

    if (path === '/v1/auth/approle/login' && (method === 'POST' || method === 'PUT')) {
      const role = roles.find((r) => r.roleId === body.role_id);
      if (typeof body.role_id !== 'string' || !body.role_id) {
        counters.failedLogins++;
        return errors(res, 400, 'missing role_id');
      }
      if (!role || role.secretId !== body.secret_id) {
        counters.failedLogins++;
        return errors(res, 400, 'invalid role or secret ID');
      }
      counters.logins++;
      const now = Date.now();
      const state: TokenState = {
        token: `hvs.${randomBytes(18).toString('base64url')}`,
        accessor: randomBytes(12).toString('base64url'),
        role,
        createdAt: now,
        expiresAt: now + Math.min(ttlS, maxTtlS) * 1000,
      };
      tokens.set(state.token, state);
      return send(res, 200, envelope({ auth: authBlock(state) }));
    }

    if (path === '/v1/auth/token/renew-self' && (method === 'POST' || method === 'PUT')) {
      const state = liveToken(req);
      if (!state) {
        counters.failedRenewals++;
        return errors(res, 403, 'permission denied');
      }
      counters.renewals++;
      const increment = typeof body.increment === 'number' ? body.increment : ttlS;
      const cap = state.createdAt + maxTtlS * 1000;
      state.expiresAt = Math.min(Date.now() + Math.min(increment, ttlS) * 1000, cap);
      const warnings =
        state.expiresAt === cap
          ? ['TTL of "%s" exceeded the effective max_ttl; TTL value is capped accordingly']
          : null;
      return send(res, 200, envelope({ auth: authBlock(state), warnings }));
    }

    if (path === '/v1/auth/token/lookup-self' && method === 'GET') {
      const state = liveToken(req);
      if (!state) return errors(res, 403, 'permission denied');
      const a = authBlock(state);
      return send(
        res,
        200,
        envelope({
          data: {
            accessor: a.accessor,
            id: state.token,
            policies: a.policies,
            ttl: a.lease_duration,
            renewable: true,
            creation_time: Math.floor(state.createdAt / 1000),
            expire_time: new Date(state.expiresAt).toISOString(),
            type: 'service',
          },
        }),
      );
    }

    // KV v2: /v1/<mount>/data/<path>
    const m = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(path);
    if (m) {
      const [, mount = '', secretPath = ''] = m;
      const state = liveToken(req);
      // Vault answers 403 for a missing, expired or under-privileged token alike.
      if (!state || !mounts.has(mount)) return errors(res, 403, 'permission denied');
      const allowed = state.role.mount === mount && state.role.readPaths.includes(secretPath);
      if (!allowed) return errors(res, 403, 'permission denied');
      if (method !== 'GET') return errors(res, 405, 'unsupported operation');
      counters.reads++;
      const versions = kv.get(`${mount}/${secretPath}`);
      const wanted = url.searchParams.get('version');
      const idx = wanted ? Number(wanted) - 1 : (versions?.length ?? 0) - 1;
      const v = versions?.[idx];
      if (!v) return errors(res, 404);
      return send(
        res,
        200,
        envelope({
          data: {
            data: v.data,
            metadata: {
              created_time: v.createdTime,
              custom_metadata: null,
              deletion_time: '',
              destroyed: false,
              version: idx + 1,
            },
          },
        }),
      );
    }
    return errors(res, 404);
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) errors(res, 500, err.message);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    counters,
    putSecret(mount, path, data) {
      if (!mounts.has(mount)) throw new Error(`no KV mount ${mount}`);
      const key = `${mount}/${path}`;
      const versions = kv.get(key) ?? [];
      versions.push({ data: structuredClone(data), createdTime: new Date().toISOString() });
      kv.set(key, versions);
      return versions.length;
    },
    seal() {
      // Sealing drops the in-memory keyring; tokens survive in storage, as in Vault.
      sealed = true;
    },
    unseal() {
      sealed = false;
    },
    revokeAllTokens() {
      tokens.clear();
    },
    setSecretId(roleId, secretId) {
      const role = roles.find((r) => r.roleId === roleId);
      if (!role) throw new Error(`no role ${roleId}`);
      role.secretId = secretId;
    },
    liveTokens: () => [...tokens.values()].filter((t) => t.expiresAt > Date.now()).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
