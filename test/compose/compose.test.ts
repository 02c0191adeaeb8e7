/**
 * The compose files, as a security-minded operator would review them: validated by real
 * validators (dclint's compose-spec schema and rules; Debian's docker-compose 1.29 `config`,
 * installed by scripts/ensure-test-tools.sh), then checked property by property on the parsed model, for the base file
 * and for the merge of the base with the production overrides.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BASE = join(ROOT, 'docker-compose.yml');
const PROD = join(ROOT, 'docker-compose.prod.yml');
const DCLINT = join(ROOT, 'node_modules', 'dclint', 'bin', 'dclint.cjs');
// biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation, not a template.
const OUR_IMAGE = '${SWITCHBOARD_IMAGE:-switchboard:local}';

type Dict = Record<string, unknown>;
interface Service extends Dict {
  image?: string;
  environment?: Dict | string[];
  ports?: (string | Dict)[];
  volumes?: (string | Dict)[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  restart?: string;
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  deploy?: { replicas?: number; resources?: { limits?: Dict } };
  network_mode?: string;
  pids_limit?: number;
  logging?: { driver?: string; options?: Dict };
}
interface Project {
  name?: string;
  services: Record<string, Service>;
  volumes?: Dict;
}

// --- Loading and merging, the way Compose does it for what these files use -----------------

const RESET = Symbol('!reset');
const resetTags = [
  { tag: '!reset', collection: 'seq' as const, resolve: () => RESET },
  { tag: '!reset', collection: 'map' as const, resolve: () => RESET },
  { tag: '!reset', resolve: () => RESET },
];

function load(file: string): Project {
  return parse(readFileSync(file, 'utf8'), { merge: true, customTags: resetTags }) as Project;
}

const REPLACED_SEQUENCES = new Set(['command', 'entrypoint', 'test']);

/** Compose's merge: mappings merge key by key, `!reset` removes, command-like lists replace. */
function merge(base: unknown, override: unknown, key = ''): unknown {
  if (isDict(base) && isDict(override)) {
    const out: Dict = { ...base };
    for (const [k, v] of Object.entries(override)) {
      if (v === RESET) delete out[k];
      else out[k] = k in base ? merge(base[k], v, k) : v;
    }
    return out;
  }
  if (key === 'volumes' && Array.isArray(base) && Array.isArray(override)) {
    // Compose merges service volumes by their path in the container: an override replaces a mount.
    const target = (v: unknown) => (isDict(v) ? String(v.target) : String(v).split(':')[1]);
    const replaced = new Set(override.map(target));
    return [...base.filter((v) => !replaced.has(target(v))), ...override];
  }
  if (Array.isArray(base) && Array.isArray(override) && !REPLACED_SEQUENCES.has(key)) {
    const seen = new Set(base.map((v) => JSON.stringify(v)));
    return [...base, ...override.filter((v) => !seen.has(JSON.stringify(v)))];
  }
  return override;
}

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compose interpolation with an empty environment: `${VAR:-default}` (nested), `$$`. */
function interpolate(text: string, env: Record<string, string> = {}): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('$$', i)) {
      out += '$';
      i++;
    } else if (text.startsWith('${', i)) {
      let depth = 0;
      let end = i + 1;
      for (; end < text.length; end++) {
        if (text[end] === '{') depth++;
        else if (text[end] === '}' && --depth === 0) break;
      }
      const [, name = '', op, fallback = ''] = /^([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?(.*)$/s.exec(
        text.slice(i + 2, end),
      ) ?? [''];
      const value = env[name];
      const unset = op?.startsWith(':') ? !value : value === undefined;
      out += unset && op?.endsWith('-') ? interpolate(fallback, env) : (value ?? '');
      i = end;
    } else {
      out += text[i];
    }
  }
  return out;
}

function variablesIn(text: string): string[] {
  return [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? '');
}

// --- Validators ---------------------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), 'sb-compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Written as JSON (valid YAML to every parser), so YAML 1.1 readers see `"no"` as a string. */
function writeScratch(name: string, project: Project): string {
  const file = join(scratch, name);
  writeFileSync(file, JSON.stringify(project, null, 2));
  return file;
}

interface LintMessage {
  rule: string;
  type: 'error' | 'warning';
  message: string;
  line: number;
}

function dclint(file: string): LintMessage[] {
  const run = spawnSync(process.execPath, [DCLINT, '--formatter', 'json', '--color', 'false', file], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const report = JSON.parse(run.stdout) as { messages: LintMessage[] }[];
  return report.flatMap((r) => r.messages);
}

/** docker-compose 1.29 predates the top-level `name`; everything else it validates as is. */
function dockerComposeConfig(project: Project): { status: number | null; output: string } {
  const { name: _name, ...rest } = project;
  const file = writeScratch('compose-1.29.yml', rest as Project);
  const envFile = join(scratch, 'empty.env');
  writeFileSync(envFile, '');
  const run = spawnSync(
    'docker-compose',
    ['--project-directory', ROOT, '--env-file', envFile, '-f', file, 'config', '-q'],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: scratch } },
  );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

// --- What an operator checks --------------------------------------------------------------

const base = load(BASE);
const prod = load(PROD);
const merged = merge(base, prod) as Project;

function isOurs(service: Service): boolean {
  return service.image === OUR_IMAGE;
}

/** Services others wait on with service_completed_successfully: the one-shots. */
function oneShots(project: Project): Set<string> {
  const names = new Set<string>();
  for (const service of Object.values(project.services)) {
    const deps = service.depends_on;
    if (!isDict(deps)) continue;
    for (const [name, dep] of Object.entries(deps)) {
      if (dep.condition === 'service_completed_successfully') names.add(name);
    }
  }
  return names;
}

function publishedPorts(service: Service): { hostIp: string; published: string; target: string }[] {
  return (service.ports ?? []).map((port) => {
    if (isDict(port)) {
      return {
        hostIp: String(port.host_ip ?? ''),
        published: String(port.published ?? ''),
        target: String(port.target),
      };
    }
    const parts = interpolate(port).split(':');
    const target = parts.pop() ?? '';
    const published = parts.pop() ?? '';
    return { hostIp: parts.join(':'), published, target };
  });
}

function volumeSources(service: Service): string[] {
  return (service.volumes ?? []).map((v) => (isDict(v) ? String(v.source ?? '') : (v.split(':')[0] ?? '')));
}

function environment(service: Service): Dict {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(
    env.map((entry) => {
      const at = entry.indexOf('=');
      return at < 0 ? [entry, null] : [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

const SECRET_KEY = /PASS(WORD)?|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL/i;

/** Containers without a `user`, and why that is acceptable. */
const RUNS_AS_ROOT: Record<string, string> = {
  postgres: "the image's entrypoint starts as root to fix ownership, then runs postgres as its user",
  rabbitmq: "the image's entrypoint drops to the rabbitmq user",
  redis: "the image's entrypoint drops to the redis user",
  ollama: 'the official image has no other user; it holds no secrets and publishes nothing',
  filebeat: 'reads root-owned container logs (0640); every capability dropped, file system read-only',
};

/** Containers whose entrypoint needs capabilities to switch user (above): not dropped. */
const KEEPS_CAPABILITIES: Record<string, string> = {
  postgres: 'chown + setuid in its entrypoint',
  rabbitmq: 'chown + setuid in its entrypoint',
  redis: 'chown + setuid in its entrypoint',
};

function checkOperatorProperties(project: Project): void {
  const services = Object.entries(project.services);
  const shots = oneShots(project);
  expect(services.length).toBeGreaterThan(0);

  for (const [name, service] of services) {
    // No Docker socket, no host namespaces, no privileged containers.
    const mounts = JSON.stringify(service.volumes ?? []);
    expect(mounts, `${name} mounts the Docker socket`).not.toMatch(/docker\.sock/);
    expect(service.privileged, `${name} is privileged`).not.toBe(true);
    for (const mode of ['network_mode', 'pid', 'ipc']) {
      expect(service[mode], `${name} shares the host's ${mode}`).not.toBe('host');
    }

    // Pinned images: a concrete version, never latest.
    const image = interpolate(service.image ?? '');
    expect(image, `${name} image`).toMatch(/:[^:/]*\d[^:/]*$|:local$/);
    expect(image, `${name} image`).not.toMatch(/:latest$/);

    // A restart policy everywhere; a healthcheck on everything that keeps running.
    if (shots.has(name)) {
      expect(service.restart, `${name} is a one-shot`).toBe('no');
    } else {
      expect(['unless-stopped', 'always'], `${name} restart`).toContain(service.restart);
      expect(service.healthcheck?.test, `${name} healthcheck`).toBeTruthy();
      expect(service.healthcheck?.disable, `${name} healthcheck`).not.toBe(true);
    }

    // Logs rotate.
    expect(service.logging?.driver, `${name} logging`).toBe('json-file');
    expect(service.logging?.options?.['max-size'], `${name} log size`).toBeTruthy();

    // nginx is the only door: nothing else publishes a port, not even on loopback.
    if (name !== 'nginx') expect(publishedPorts(service), `${name} publishes a port`).toEqual([]);

    // Non-root everywhere but where the image needs root to start and drops it itself, or reads
    // files only root can (each named here with its reason).
    if (!(name in RUNS_AS_ROOT)) {
      expect(['root', '0', '', undefined], `${name} runs as root`).not.toContain(service.user);
    }
    expect(service.cap_drop ?? [], `${name} cap_drop`).toEqual(name in KEEPS_CAPABILITIES ? [] : ['ALL']);

    // No literal secret: secret-looking settings come from files or pass through unset.
    for (const [key, value] of Object.entries(environment(service))) {
      // SECRETS_BACKEND and friends say where secrets come from; they are not secrets.
      if (!SECRET_KEY.test(key) || key.endsWith('_FILE') || key.startsWith('SECRETS_')) continue;
      const ok =
        value === null || value === undefined || /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}$/.test(String(value));
      expect(ok, `${name} sets ${key} to a literal value`).toBe(true);
    }
    expect(JSON.stringify(service), `${name} has a literal password`).not.toMatch(
      /(PASSWORD|PASS|requirepass)[=\s]+(?![$"]|\/run\/)[^\s",]+/i,
    );

    // Our own containers: non-root, read-only root, no capabilities, no privilege escalation.
    if (isOurs(service)) {
      expect(['root', '0', '', undefined], `${name} runs as root`).not.toContain(service.user);
      expect(service.read_only, `${name} read_only`).toBe(true);
      expect(service.cap_drop, `${name} cap_drop`).toEqual(['ALL']);
      expect(service.security_opt, `${name} security_opt`).toContain('no-new-privileges:true');
      expect(service.stop_grace_period, `${name} stop_grace_period`).toBe('40s');
      expect(service.tmpfs, `${name} tmpfs`).toEqual([expect.stringMatching(/^\/tmp(:|$)/)]);
    }
  }

  // agent-worker scales: no fixed name, no host port.
  const worker = project.services['agent-worker'];
  expect(worker).toBeDefined();
  expect(worker?.container_name).toBeUndefined();
  expect(worker?.ports ?? []).toEqual([]);
}

describe('docker-compose.yml', () => {
  it('passes dclint: compose-spec schema and every rule, without a warning', () => {
    expect(dclint(BASE)).toEqual([]);
  });

  it('passes docker-compose 1.29 config', () => {
    const result = dockerComposeConfig(base);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('has the properties an operator checks', () => {
    checkOperatorProperties(base);
  });

  it('starts with no .env: every setting has a default and nothing needs a value', () => {
    const text = readFileSync(BASE, 'utf8');
    const unset = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?\?|\})/g)].map((m) => m[1]);
    expect(unset, 'variables without a default').toEqual([]);
    expect(interpolate(String(environment(base.services['agent-worker'] ?? {}).MODEL_CHAIN))).toBe(
      'ollama/qwen2.5:0.5b',
    );
    expect(publishedPorts(base.services.nginx ?? {})).toEqual([
      { hostIp: '0.0.0.0', published: '80', target: '8080' },
      { hostIp: '0.0.0.0', published: '443', target: '8443' },
    ]);
  });

  it('wires every service to the secrets init-secrets generates', () => {
    const { services } = base;
    for (const name of ['agent-worker', 'ingress-web', 'postgres', 'rabbitmq', 'redis']) {
      expect(services[name]?.depends_on, name).toMatchObject({
        'init-secrets': { condition: 'service_completed_successfully' },
      });
    }
    expect(services['agent-worker']?.depends_on).toMatchObject({
      'ollama-pull': { condition: 'service_completed_successfully' },
    });
    // init-secrets alone holds every secret; each service mounts its own volume (least-privilege test).
    const own = volumeSources(services['init-secrets'] ?? {}).filter((v) => v.startsWith('secrets-'));
    expect(volumeSources(services['init-secrets'] ?? {})).toEqual(['secrets', 'rabbitmq-conf', ...own]);
    expect(services.rabbitmq?.volumes).toContainEqual(
      expect.objectContaining({ source: 'rabbitmq-conf', target: '/etc/rabbitmq/conf.d', read_only: true }),
    );
    for (const name of ['agent-worker', 'ingress-web', 'postgres', 'redis', 'tool-browser']) {
      expect(own, name).toContain(`secrets-${name}`);
      expect(services[name]?.volumes, name).toContain(`secrets-${name}:/run/switchboard/secrets:ro`);
    }
  });

  it('wires the agent workers to Redis and to the read-only skills and knowledge folders', () => {
    const worker = base.services['agent-worker'] ?? {};
    const env = environment(worker);
    expect(worker.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    expect(env.REDIS_URL_FILE).toBe('/run/switchboard/secrets/redis_url');
    expect(worker.volumes).toEqual(
      expect.arrayContaining([
        `./workspace/skills:${env.SKILLS_DIR}:ro`,
        `./workspace/knowledge:${env.KNOWLEDGE_DIR}:ro`,
      ]),
    );
  });

  it('keeps the skills and knowledge folders out of reach of the tools', () => {
    // A folder the workers load as trusted (skill code, knowledge text) that the files or shell
    // tool could write would let a model install code the workers then run.
    for (const [name, service] of Object.entries(base.services)) {
      for (const v of service.volumes ?? []) {
        const spec = isDict(v) ? `${v.source}:${v.target}${v.read_only ? ':ro' : ''}` : v;
        if (!spec.startsWith('./workspace')) continue;
        // Read by the workers, archived by backup, read by the scheduler and the console: never the
        // tools — but for the workflows, which the tool-runners read (never run) for their grants.
        const readers = ['admin', 'agent-worker', 'backup', 'scheduler'];
        if (spec.startsWith('./workspace/workflows:')) readers.push('tool-runner');
        expect(readers, `${spec} is mounted into ${name}`).toContain(name);
        expect(spec, `${name} mounts ${spec} writable`).toMatch(/:ro$/);
      }
    }
    const worker = volumeSources(base.services['agent-worker'] ?? {});
    expect(worker).not.toContain('tool-workspace');
  });

  it('runs shell commands in a sandbox with no network, no secrets and only its own settings', () => {
    const runner = base.services['tool-runner'] ?? {};
    const sandbox = base.services['tool-sandbox'] ?? {};
    expect(sandbox.network_mode).toBe('none');
    expect(sandbox.pids_limit).toBeGreaterThan(0);
    expect(sandbox.depends_on).toBeUndefined();
    expect(sandbox.volumes).toEqual(['tool-workspace:/workspace', 'sandbox-socket:/run/sandbox']);
    const sandboxEnv = environment(sandbox);
    expect(Object.keys(sandboxEnv).filter((k) => /URL|TOKEN|SECRET|PASSWORD|KEY/.test(k))).toEqual([]);

    const runnerEnv = environment(runner);
    expect(runner.volumes).toEqual([
      'secrets-tool-runner:/run/switchboard/secrets:ro',
      'tool-workspace:/workspace',
      'sandbox-socket:/run/sandbox',
      './workspace/workflows:/workflows:ro',
    ]);
    expect(runner.depends_on).toMatchObject({ 'tool-sandbox': { condition: 'service_healthy' } });
    expect(runnerEnv.SHELL_SANDBOX).toBe('socket');
    // Both read the shell rules and must agree: the sandbox re-checks every command itself.
    for (const [key, value] of Object.entries(sandboxEnv)) {
      if (key !== 'LOG_LEVEL') expect(runnerEnv[key], key).toBe(value);
    }
    expect(String(sandboxEnv.SANDBOX_SOCKET)).toMatch(/^\/run\/sandbox\//);
    expect(sandboxEnv.WORKSPACE_DIR).toBe('/workspace');
    expect(interpolate(String(sandboxEnv.SHELL_ALLOWLIST))).toBe(
      'date,df,du,free,uname,uptime,ls,cat,head,tail,wc',
    );
  });

  it('documents every volume with a comment', () => {
    const lines = readFileSync(BASE, 'utf8').split('\n');
    const start = lines.indexOf('volumes:');
    for (const name of Object.keys(base.volumes ?? {})) {
      const at = lines.indexOf(`  ${name}:`, start);
      expect(lines[at - 1], `volume ${name}`).toMatch(/^\s*#/);
    }
  });

  it('lists every variable it reads in .env.example', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const used = new Set([
      ...variablesIn(readFileSync(BASE, 'utf8')),
      ...variablesIn(readFileSync(PROD, 'utf8')),
    ]);
    expect([...used].filter((v) => !documented.has(v))).toEqual([]);
  });
});

describe('docker-compose.yml + docker-compose.prod.yml', () => {
  it('passes dclint on the production overrides and on the merged model', () => {
    expect(dclint(PROD)).toEqual([]);
    const errors = dclint(writeScratch('docker-compose.yml', merged)).filter((m) => m.type === 'error');
    expect(errors).toEqual([]);
  });

  it('passes docker-compose 1.29 config once merged', () => {
    const result = dockerComposeConfig(merged);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('has the properties an operator checks', () => {
    checkOperatorProperties(merged);
  });

  it('publishes 80 and 443 only, runs two workers and limits resources', () => {
    const published = Object.entries(merged.services).flatMap(([name, s]) =>
      publishedPorts(s).map((p) => `${name}:${p.hostIp}:${p.published}`),
    );
    expect(published).toEqual(['nginx:0.0.0.0:80', 'nginx:0.0.0.0:443']);
    expect(merged.services['agent-worker']?.deploy?.replicas).toBe(2);
    for (const [name, service] of Object.entries(merged.services)) {
      expect(service.deploy?.resources?.limits?.cpus, `${name} cpu limit`).toBeTruthy();
      expect(service.logging?.options?.['max-file'], `${name} log rotation`).toBe('5');
    }
  });
});

describe('operations services', () => {
  const services = base.services;
  const env = (name: string) => environment(services[name] ?? {});

  it('puts nginx in front of ingress-web and the connectors, with a certificate volume', () => {
    const nginx = services.nginx ?? {};
    expect(nginx.depends_on).toMatchObject({ 'ingress-web': { condition: 'service_healthy' } });
    expect(volumeSources(nginx)).toContain('nginx-certs');
    expect(env('nginx')).toMatchObject({ NGINX_HTTP_LISTEN: '8080', NGINX_HTTPS_LISTEN: '8443' });
    // The upstream names the nginx template defaults to are the compose services.
    const template = readFileSync(join(ROOT, 'infra/nginx/docker-entrypoint.sh'), 'utf8');
    for (const [, host, port] of template.matchAll(/NGINX_[A-Z]+_UPSTREAM:=([a-z-]+):(\d+)/g)) {
      if (['admin', 'kibana'].includes(String(host))) continue;
      expect(Object.keys(services), `nginx upstream ${host}`).toContain(host);
      const listens = String(env(String(host)).HTTP_PORT ?? port);
      if (String(host).startsWith('ingress-')) expect(listens, `${host} port`).toBe(port);
    }
    // Production swaps the generated certificate for the operator's, read-only, at the same path.
    expect(merged.services.nginx?.volumes).toEqual([
      './infra/nginx/admin-allowlist.d:/etc/nginx/admin-allowlist.d:ro',
      './infra/nginx/certs:/etc/nginx/certs:ro',
    ]);
  });

  it('has Prometheus scrape every Switchboard service on the port it listens on', () => {
    const prom = parse(readFileSync(join(ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    const targets = new Set(
      prom.scrape_configs.flatMap((j) => [
        ...(j.static_configs ?? []).flatMap((c) => c.targets),
        ...(j.dns_sd_configs ?? []).flatMap((c) => c.names.map((n) => `${n}:${c.port}`)),
      ]),
    );
    const ours = Object.entries(services).filter(([, s]) => isOurs(s) && environment(s).HTTP_PORT);
    expect(ours.length).toBeGreaterThan(8);
    for (const [name, s] of ours) expect([...targets], name).toContain(`${name}:${environment(s).HTTP_PORT}`);
    for (const exporter of [
      'postgres-exporter:9187',
      'redis-exporter:9121',
      'node-exporter:9100',
      'rabbitmq:15692',
    ]) {
      expect([...targets]).toContain(exporter);
      expect(Object.keys(services)).toContain(exporter.split(':')[0]);
    }
    // Alertmanager serves under /alertmanager (nginx publishes it there); Prometheus must agree.
    const am = services.alertmanager?.command as string[];
    expect(am).toContain('--web.route-prefix=/alertmanager');
    expect(readFileSync(join(ROOT, 'infra/prometheus/prometheus.yml'), 'utf8')).toContain(
      'path_prefix: /alertmanager',
    );
    expect(services.prometheus?.volumes).toEqual(
      expect.arrayContaining([
        './infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
        './infra/prometheus/rules:/etc/prometheus/rules:ro',
      ]),
    );
  });

  it('reads exporter and backup credentials from the generated secrets, never from .env', () => {
    expect(env('postgres-exporter').DATA_SOURCE_PASS_FILE).toBe('/run/switchboard/secrets/postgres_password');
    expect(env('redis-exporter').REDIS_PASSWORD_FILE).toBe(
      '/run/switchboard/secrets/redis_exporter_passwords.json',
    );
    expect(env('backup')).toMatchObject({
      DATABASE_URL_FILE: '/run/switchboard/secrets/database_url',
      BACKUP_TOKEN_FILE: '/run/switchboard/secrets/backup_token',
      RABBITMQ_MANAGEMENT_PASSWORD_FILE: '/run/switchboard/secrets/rabbitmq_password',
      BACKUP_DIR: '/backups',
    });
    expect(services.backup?.volumes).toContain('./backups:/backups');
    // The exporters read the secrets as their owner (init-secrets runs as node, uid 1000).
    for (const name of ['postgres-exporter', 'redis-exporter'])
      expect(services[name]?.user).toBe('1000:1000');
    // Alertmanager keeps its image's user (its data volume is nobody's): init-secrets gives its
    // volume that user's group, of which it is a member, so the token is readable by it alone.
    const amGid = String(services.alertmanager?.user).split(':')[1];
    expect(env('init-secrets').ALERTMANAGER_GID).toBe(amGid);
    expect(services['init-secrets']?.group_add).toContain(amGid);
    expect(services.alertmanager?.volumes).toContain('secrets-alertmanager:/run/switchboard/secrets:ro');
    expect(env('alert-relay').ALERT_RELAY_TOKEN_FILE).toBe('/run/switchboard/secrets/alert_relay_token');
  });

  it('keeps log search under the elk profile, without the Docker socket, and Vault dev under its own', () => {
    for (const name of ['elasticsearch', 'elk-certs', 'elk-setup', 'filebeat', 'kibana']) {
      expect(services[name]?.profiles, name).toEqual(['elk']);
    }
    expect(services.filebeat?.volumes).toContain('/var/lib/docker/containers:/var/lib/docker/containers:ro');
    expect(services['vault-dev']?.profiles).toEqual(['vault-dev']);
    expect(merged.services.vault?.profiles).toEqual(['vault']);
    // Production runs log search without asking for the profile.
    for (const name of ['elasticsearch', 'elk-certs', 'elk-setup', 'filebeat', 'kibana']) {
      expect(merged.services[name]?.profiles, `${name} in production`).toBeUndefined();
    }
    expect(merged.services.vault?.command).toEqual(['server', '-config=/vault/config/vault.hcl']);
    // Filebeat names services from the json-file attrs the logging options add.
    expect(services['agent-worker']?.logging?.options?.labels).toBe(
      'com.docker.compose.service,com.docker.compose.project',
    );
  });

  it('gives every Switchboard service the secrets backend settings and its own Vault path', () => {
    for (const [name, s] of Object.entries(services)) {
      if (!isOurs(s) || !environment(s).HTTP_PORT || name === 'backup') continue;
      const e = environment(s);
      expect(interpolate(String(e.SECRETS_BACKEND)), name).toBe('env');
      expect(e.VAULT_KV_PATH, name).toBe(`switchboard/${name}`);
      expect(e.VAULT_ROLE_ID_FILE, name).toBe(`/run/switchboard/secrets/vault/${name}/vault_role_id`);
    }
  });
});

describe('Dockerfile', () => {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'));

  it('builds on a pinned base and runs as the non-root node user, in exec form', () => {
    expect(lines.find((l) => l.startsWith('ARG NODE_IMAGE='))).toMatch(
      /^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim/,
    );
    const runtime = lines.slice(lines.findIndex((l) => / AS runtime$/.test(l)));
    expect(runtime.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
    expect(runtime.find((l) => l.startsWith('CMD '))).toMatch(/^CMD \["node", "dist\/[a-z-]+\.mjs"\]$/);
    expect(runtime.join('\n')).toContain('npm install --omit=dev');
    expect(runtime.join('\n')).toContain('SB_MIGRATIONS_DIR=/app/packages/core/migrations');
  });

  it('has what the tool-runner and the shell sandbox need: Chromium, procps, their volume mount points', () => {
    const runtime = lines.slice(lines.findIndex((l) => / AS runtime$/.test(l))).join('\n');
    const installed = /apt-get install[^&]*/.exec(runtime)?.[0].split(/\s+/) ?? [];
    // procps: free and uptime of the default SHELL_ALLOWLIST; the rest are coreutils.
    expect(installed).toEqual(expect.arrayContaining(['chromium', 'procps', '--no-install-recommends']));
    expect(runtime).toContain('BROWSER_EXECUTABLE=/usr/bin/chromium');
    expect(runtime).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    for (const dir of ['/workspace', '/run/sandbox']) {
      expect(runtime).toMatch(new RegExp(`install -d -o node -g node -m 07[0-5]0 ${dir}\\b`));
    }
    // Each service's own secrets volume is first mounted by init-secrets (node) at these.
    const perService = (base.services['init-secrets']?.volumes ?? [])
      .map(String)
      .filter((v) => v.startsWith('secrets-'))
      .map((v) => v.split(':')[1]?.replace('/run/switchboard/services/', '') ?? '');
    const loop =
      /for s in ([^;]+); do install -d -o node -g node -m 0700 "\/run\/switchboard\/services\/\$s"/.exec(
        runtime.replaceAll('\\\n', ' '),
      );
    expect(loop?.[1]?.split(/\s+/).filter(Boolean).sort()).toEqual(perService.sort());
  });

  it('has a command for every service the compose file runs from it', () => {
    const commands = Object.values(base.services)
      .filter(isOurs)
      .map((s) => (s.command as string[] | undefined)?.join(' '));
    const services = [
      'admin',
      'agent-worker',
      'alert-relay',
      'backup',
      'ingress-dingtalk',
      'ingress-discord',
      'ingress-slack',
      'ingress-telegram',
      'ingress-web',
      'ingress-wecom',
      'init-secrets',
      'scheduler',
      'tool-runner',
      'tool-runner-sandbox',
      // tool-browser: the tool-runner's renderer (browser/main.ts).
      'tool-runner-browser',
    ];
    expect(commands.sort()).toEqual(services.map((name) => `node dist/${name}.mjs`).sort());
    const build = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8');
    for (const name of services) expect(build).toMatch(new RegExp(`^\\s+'?${name}'?:`, 'm'));
  });
});
