import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

/*
 * infra/vault's shell scripts, run for real with /bin/sh, against a stand-in `vault` CLI on PATH
 * (no Vault binary exists here). The stand-in answers with the CLI's documented output formats
 * and records every call, so what is checked is the scripts' own logic: refusals, file modes,
 * what reaches Vault.
 */
const run = promisify(execFile);
const VAULT_DIR = join(ROOT, 'infra/vault');
// `vault operator init` table output, as Vault 1.15 prints it.
const INIT_OUTPUT = `Unseal Key 1: a2V5MQ==
Unseal Key 2: a2V5Mg==
Unseal Key 3: a2V5Mw==
Unseal Key 4: a2V5NA==
Unseal Key 5: a2V5NQ==

Initial Root Token: hvs.rootTokenForTest

Vault initialized with 5 key shares and a key threshold of 3. Please securely
distribute the key shares printed above. When the Vault is re-sealed,
restarted, or stopped, you must supply at least 3 of these keys to unseal it
before it can start servicing requests.
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stubVault(initStatus: number): { dir: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sb-vault-cli-'));
  dirs.push(dir);
  const calls = join(dir, 'calls.log');
  writeFileSync(
    join(dir, 'vault'),
    `#!/bin/sh
echo "$*" >>"${calls}"
case "$*" in
  "operator init -status") exit ${initStatus} ;;
  "operator init "*) cat <<'TXT'
${INIT_OUTPUT}TXT
  ;;
  "secrets list -format=json") echo '{"cubbyhole/":{},"identity/":{},"sys/":{}}' ;;
  "auth list -format=json") echo '{"token/":{}}' ;;
  "policy write "*) echo "--- $3" >>"${calls}"; cat >>"${calls}" ;;
  "read -field=role_id "*) echo "role-id-for-$3" ;;
  "write -f -field=secret_id "*) echo "secret-id-for-$4" ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  return { dir, calls };
}

const envWith = (stub: string, extra: Record<string, string> = {}) => ({
  PATH: `${stub}:${process.env.PATH}`,
  VAULT_ADDR: 'https://vault:8200',
  ...extra,
});

describe('infra/vault/init.sh', () => {
  it('writes each unseal key share and the root token to its own 0600 file in a new 0700 directory', async () => {
    const { dir } = stubVault(2);
    const out = join(dir, 'init-out');
    const r = await run('sh', [join(VAULT_DIR, 'init.sh'), out], { env: envWith(dir) });
    expect(r.stderr).toContain('store them OFFLINE');
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(readdirSync(out).sort()).toEqual([
      'root-token',
      'unseal-key-1',
      'unseal-key-2',
      'unseal-key-3',
      'unseal-key-4',
      'unseal-key-5',
    ]);
    for (const f of readdirSync(out)) expect(statSync(join(out, f)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, 'unseal-key-3'), 'utf8').trim()).toBe('a2V5Mw==');
    expect(readFileSync(join(out, 'root-token'), 'utf8').trim()).toBe('hvs.rootTokenForTest');
  });

  it('refuses an initialised Vault, an unreachable one and an existing directory, writing nothing', async () => {
    const initialised = stubVault(0);
    const out = join(initialised.dir, 'init-out');
    await expect(
      run('sh', [join(VAULT_DIR, 'init.sh'), out], { env: envWith(initialised.dir) }),
    ).rejects.toThrow(/already initialised/);
    const unreachable = stubVault(1);
    await expect(
      run('sh', [join(VAULT_DIR, 'init.sh'), join(unreachable.dir, 'x')], { env: envWith(unreachable.dir) }),
    ).rejects.toThrow(/cannot reach Vault/);
    const fresh = stubVault(2);
    await expect(
      run('sh', [join(VAULT_DIR, 'init.sh'), fresh.dir], { env: envWith(fresh.dir) }),
    ).rejects.toThrow(/already exists/);
    expect(readFileSync(initialised.calls, 'utf8')).not.toContain('-key-shares');
    expect(readdirSync(initialised.dir)).not.toContain('init-out');
  });
});

describe('infra/vault/approle-setup.sh and policies', () => {
  // tool-browser: the tool-runner's page renderer, a compose service of its own.
  const services = [
    ...readdirSync(join(ROOT, 'services')).filter((s) => s !== 'init-secrets'),
    'tool-browser',
  ];

  it('has one policy per service granting read on that service’s own KV path only', () => {
    expect(readdirSync(join(VAULT_DIR, 'policies')).sort()).toEqual(services.map((s) => `${s}.hcl`).sort());
    for (const svc of services) {
      const hcl = readFileSync(join(VAULT_DIR, 'policies', `${svc}.hcl`), 'utf8').replace(/#.*$/gm, '');
      const paths = [...hcl.matchAll(/path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}/g)];
      expect(paths.map((m) => [m[1], m[2]?.replace(/\s/g, '')])).toEqual([
        [`secret/data/switchboard/${svc}`, '"read"'],
      ]);
    }
  });

  it('enables KV v2 and AppRole, writes each policy and role, and leaves 0600 credential files', async () => {
    const { dir, calls } = stubVault(0);
    const out = join(dir, 'approle');
    await run('sh', [join(VAULT_DIR, 'approle-setup.sh'), out], {
      env: envWith(dir, { VAULT_TOKEN: 'admin', VAULT_KV_MOUNT: 'kv', BOUND_CIDRS: '172.28.0.0/16' }),
    });
    const log = readFileSync(calls, 'utf8');
    expect(log).toContain('secrets enable -path=kv -version=2 kv');
    expect(log).toContain('auth enable approle');
    for (const svc of services) {
      expect(log).toContain(`--- switchboard-${svc}\n`);
      expect(log).toContain(`path "kv/data/switchboard/${svc}"`);
      expect(log).toMatch(
        new RegExp(
          `write auth/approle/role/switchboard-${svc} token_policies=switchboard-${svc} token_type=service token_ttl=1h token_max_ttl=24h secret_id_ttl=0 secret_id_num_uses=0 secret_id_bound_cidrs=172.28.0.0/16 token_bound_cidrs=172.28.0.0/16`,
        ),
      );
      for (const f of ['vault_role_id', 'vault_secret_id'])
        expect(statSync(join(out, svc, f)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(out, svc, 'vault_secret_id'), 'utf8').trim()).toBe(
        `secret-id-for-auth/approle/role/switchboard-${svc}/secret-id`,
      );
    }
    expect(log).not.toContain('path "secret/data/');
  });
});
