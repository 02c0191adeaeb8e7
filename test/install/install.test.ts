import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

/*
 * scripts/install.sh, run for real with bash in a copy of the checkout, against a stand-in
 * `docker` first on PATH (test/install/fake-docker.sh: no Docker daemon exists here) and the
 * real openssl. What is checked is what an operator sees: the files it leaves, what it starts,
 * what it prints, and that a refused preflight leaves nothing behind.
 */
const CHECKOUT_FILES = [
  'docker-compose.yml',
  'docker-compose.prod.yml',
  '.env.example',
  'infra/nginx/generate-self-signed.sh',
  'scripts/install.sh',
];
const ELK_KEYS = ['ELASTIC_PASSWORD', 'KIBANA_SYSTEM_PASSWORD', 'FILEBEAT_PASSWORD', 'KIBANA_ENCRYPTION_KEY'];
const ADMIN_TOKEN = 'adm-5d1e0c6f2b7a48e9a3c4b1f0e2d3c4b5';
const GIB_KB = 1024 * 1024;
const AS_ROOT = process.getuid?.() === 0;

interface Install {
  dir: string;
  bin: string;
  log: string;
  states: string;
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  /** One line per docker invocation, its arguments joined by spaces. */
  calls: string[];
  ms: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A copy of what install.sh needs from the checkout, and a bin folder holding the fake docker. */
function checkout(): Install {
  const dir = tempDir('sb-install-');
  for (const f of CHECKOUT_FILES) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  const bin = join(dir, '.test-bin');
  const states = join(dir, '.test-states');
  mkdirSync(bin);
  mkdirSync(states);
  copyFileSync(join(ROOT, 'test/install/fake-docker.sh'), join(bin, 'docker'));
  chmodSync(join(bin, 'docker'), 0o755);
  return { dir, bin, log: join(dir, '.test-docker.log'), states };
}

/** A `docker compose ps --all --format json` line as Compose 2.29 prints it. */
function psLine(service: string, state: string, health = '', exitCode = 0, replica = 1): string {
  return JSON.stringify({
    Command: '"docker-entrypoint.s…"',
    CreatedAt: '2025-11-23 09:52:00 +0000 UTC',
    ExitCode: exitCode,
    Health: health,
    ID: `${service.length}f3a9c2d1b0e`,
    Image: 'switchboard:local',
    Labels: `com.docker.compose.project=switchboard,com.docker.compose.service=${service}`,
    Name: `switchboard-${service}-${replica}`,
    Names: `switchboard-${service}-${replica}`,
    Networks: 'switchboard_default',
    Ports: '',
    Project: 'switchboard',
    Publishers: [{ URL: '127.0.0.1', TargetPort: 8080, PublishedPort: 0, Protocol: 'tcp' }],
    RunningFor: '1 minute ago',
    Service: service,
    State: state,
    Status: state === 'exited' ? `Exited (${exitCode}) 5 seconds ago` : `Up 1 minute (${health})`,
  });
}

const ONE_SHOTS_DONE = [psLine('init-secrets', 'exited'), psLine('ollama-pull', 'exited')];
const INFRA_HEALTHY = ['postgres', 'rabbitmq', 'redis', 'ollama', 'tool-sandbox'].map((s) =>
  psLine(s, 'running', 'healthy'),
);
const ALL_HEALTHY = [
  ...ONE_SHOTS_DONE,
  ...INFRA_HEALTHY,
  psLine('agent-worker', 'running', 'healthy', 0, 1),
  psLine('agent-worker', 'running', 'healthy', 0, 2),
  psLine('ingress-web', 'running', 'healthy'),
  psLine('tool-runner', 'running', 'healthy'),
];
const STARTING = [
  psLine('init-secrets', 'exited'),
  psLine('ollama-pull', 'running'),
  ...INFRA_HEALTHY,
  psLine('agent-worker', 'created', '', 0, 1),
  psLine('agent-worker', 'created', '', 0, 2),
  psLine('ingress-web', 'running', 'starting'),
  psLine('tool-runner', 'running', 'starting'),
];

/** What successive `ps` calls answer; the last one repeats. */
function states(inst: Install, ...snapshots: string[][]): void {
  snapshots.forEach((lines, i) => {
    writeFileSync(join(inst.states, String(i + 1)), `${lines.join('\n')}\n`);
  });
}

function meminfo(inst: Install, kb: number): string {
  const file = join(inst.dir, '.test-meminfo');
  writeFileSync(
    file,
    `MemTotal:       ${Math.round(kb)} kB\nMemFree:         ${Math.floor(kb / 2)} kB\nMemAvailable:    ${Math.floor(kb / 2)} kB\n`,
  );
  return file;
}

interface Host {
  cpus?: number;
  ramKb?: number;
  diskKb?: number;
  /** PATH after the fake docker's folder; default the test process's own. */
  path?: string;
  /** Leave the fake docker off PATH. */
  noDocker?: boolean;
  env?: Record<string, string>;
}

function install(inst: Install, args: string[], host: Host = {}): Result {
  const env: Record<string, string> = {
    PATH: host.noDocker
      ? (host.path ?? process.env.PATH ?? '')
      : `${inst.bin}${delimiter}${host.path ?? process.env.PATH}`,
    HOME: inst.dir,
    LANG: 'C.UTF-8',
    FAKE_DOCKER_LOG: inst.log,
    FAKE_DOCKER_STATES: inst.states,
    FAKE_ADMIN_TOKEN: ADMIN_TOKEN,
    SB_INSTALL_NPROC: String(host.cpus ?? 8),
    SB_INSTALL_MEMINFO: meminfo(inst, host.ramKb ?? 16 * GIB_KB),
    SB_INSTALL_DF_KB: String(host.diskKb ?? 200 * GIB_KB),
    SB_INSTALL_POLL_S: '0.1',
    ...host.env,
  };
  const started = Date.now();
  // Started from another directory: the script finds its checkout itself.
  const r = spawnSync('bash', [join(inst.dir, 'scripts/install.sh'), ...args], {
    cwd: tmpdir(),
    env,
    encoding: 'utf8',
    timeout: 15_000,
  });
  const calls = existsSync(inst.log) ? readFileSync(inst.log, 'utf8').split('\n').filter(Boolean) : [];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls, ms: Date.now() - started };
}

function readEnv(inst: Install): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(join(inst.dir, '.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) values.set(m[1], m[2]);
  }
  return values;
}

const mode = (path: string) => statSync(path).mode & 0o777;
const certPath = (inst: Install) => join(inst.dir, 'infra/nginx/certs/fullchain.pem');
const keyPath = (inst: Install) => join(inst.dir, 'infra/nginx/certs/privkey.pem');
const upCalls = (r: Result) => r.calls.filter((c) => /^compose .* up( |$)/.test(c));

function expectNothingWritten(inst: Install, r: Result): void {
  expect(upCalls(r)).toEqual([]);
  expect(existsSync(join(inst.dir, '.env'))).toBe(false);
  expect(existsSync(join(inst.dir, 'infra/nginx/certs'))).toBe(false);
}

/** PATH folders holding every program of this machine except the named ones. */
let toolsRoot = '';
function pathWithout(...names: string[]): string {
  const dir = join(toolsRoot, names.join('-'));
  if (existsSync(dir)) return dir;
  mkdirSync(dir);
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (!folder || !existsSync(folder)) continue;
    for (const entry of readdirSync(folder)) {
      if (names.includes(entry) || existsSync(join(dir, entry))) continue;
      symlinkSync(join(folder, entry), join(dir, entry));
    }
  }
  return dir;
}
beforeAll(() => {
  toolsRoot = mkdtempSync(join(tmpdir(), 'sb-install-tools-'));
});
afterAll(() => rmSync(toolsRoot, { recursive: true, force: true }));

describe('scripts/install.sh: a first and a second run', () => {
  it('writes .env and a certificate, starts production, waits for healthy and prints the URL and token', () => {
    const inst = checkout();
    states(inst, STARTING, STARTING, ALL_HEALTHY);
    const r = install(inst, ['--domain', 'sb.example.test']);
    if (AS_ROOT) expect(r.stderr).not.toContain('install.sh:');
    expect(r.status).toBe(0);

    const envFile = join(inst.dir, '.env');
    expect(mode(envFile)).toBe(0o600);
    const env = readEnv(inst);
    expect(env.get('NGINX_SERVER_NAME')).toBe('sb.example.test');
    const generated = ELK_KEYS.map((k) => env.get(k) ?? '');
    for (const v of generated) expect(v).toMatch(/^[0-9a-f]{32,}$/);
    expect(new Set(generated).size).toBe(ELK_KEYS.length);
    // Only ELK when asked for; the database, broker and Redis passwords are never in .env.
    expect(env.has('COMPOSE_PROFILES')).toBe(false);
    expect([...env.keys()].filter((k) => /POSTGRES|RABBITMQ|REDIS|API_TOKEN|ADMIN_TOKEN/.test(k))).toEqual(
      [],
    );
    // The rest of .env is .env.example, every setting commented, for the operator to edit.
    expect(readFileSync(envFile, 'utf8')).toContain(readFileSync(join(ROOT, '.env.example'), 'utf8'));

    expect(mode(join(inst.dir, 'infra/nginx/certs'))).toBe(0o700);
    expect(mode(keyPath(inst))).toBe(0o600);
    const x509 = spawnSync(
      'openssl',
      ['x509', '-in', certPath(inst), '-noout', '-subject', '-ext', 'subjectAltName', '-enddate'],
      { encoding: 'utf8' },
    );
    expect(x509.status).toBe(0);
    expect(x509.stdout).toMatch(/subject=CN\s*=\s*sb\.example\.test/);
    expect(x509.stdout).toContain('DNS:sb.example.test');
    const keyCheck = spawnSync('openssl', ['pkey', '-in', keyPath(inst), '-noout'], { encoding: 'utf8' });
    expect(keyCheck.status).toBe(0);

    // nginx (uid 101) reads the certificate; the backup service (uid 1000) writes backups/, reads .env.
    const uid = (p: string) => statSync(join(inst.dir, p)).uid;
    if (AS_ROOT) {
      expect(
        ['infra/nginx/certs', 'infra/nginx/certs/fullchain.pem', 'infra/nginx/certs/privkey.pem'].map(uid),
      ).toEqual([101, 101, 101]);
      expect([uid('backups'), uid('.env')]).toEqual([1000, 1000]);
      expect(mode(join(inst.dir, 'backups'))).toBe(0o700);
    } else {
      expect(r.stderr).toContain('sudo chown 101:101 infra/nginx/certs');
    }

    expect(r.calls[0]).toBe('info');
    expect(r.calls[1]).toBe('compose version --short');
    expect(upCalls(r)).toEqual(['compose -f docker-compose.yml -f docker-compose.prod.yml up -d --build']);
    expect(r.calls.filter((c) => c.includes(' ps --all --format json'))).toHaveLength(3);
    expect(r.calls.at(-1)).toMatch(
      /^compose -f docker-compose\.yml -f docker-compose\.prod\.yml exec -T admin switchboard token create --role admin --expire 8h --name install-\d{8}-\d{6} --json$/,
    );

    expect(r.stdout).toContain(
      'Starting: docker compose -f docker-compose.yml -f docker-compose.prod.yml up -d --build',
    );
    expect(r.stdout).toMatch(
      /\[\d+s\] waiting for 3 of 10: agent-worker \(created\) ingress-web \(starting\) tool-runner \(starting\)/,
    );
    expect(r.stdout).toContain('all 10 services are healthy or finished');
    expect(r.stdout).toContain('Browsers will warn');
    expect(r.stdout).toContain('docs/operations.md');
    expect(r.stdout).toContain('URL:          https://sb.example.test/');
    expect(r.stdout).toContain(`Admin token:  ${ADMIN_TOKEN}`);
    expect(r.stdout).toContain('exec -T ingress-web cat /run/switchboard/secrets/api_token');
    for (const secret of generated) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('changes nothing on a second run and says it kept .env and the certificate', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    expect(install(inst, ['--domain', 'sb.example.test']).status).toBe(0);
    const before = [join(inst.dir, '.env'), certPath(inst), keyPath(inst)].map((f) => readFileSync(f));

    const again = install(inst, ['--domain', 'sb.example.test']);
    expect(again.status).toBe(0);
    const after = [join(inst.dir, '.env'), certPath(inst), keyPath(inst)].map((f) => readFileSync(f));
    expect(after).toEqual(before);
    expect(mode(join(inst.dir, '.env'))).toBe(0o600);
    expect(again.stdout).toContain('.env: kept');
    expect(again.stdout).toContain('Certificate: kept the existing');
    expect(again.stdout).not.toContain('generated');
    expect(again.stdout).not.toContain('Owner:');
    expect(upCalls(again)).toHaveLength(2);
  });

  it('keeps an existing .env value by value and appends only the missing keys', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    const envFile = join(inst.dir, '.env');
    // No final newline, and readable by others: both must be handled.
    const original =
      'LOG_LEVEL=debug\nNGINX_SERVER_NAME=chat.corp.lan\nELASTIC_PASSWORD=operator-chose-this-one';
    writeFileSync(envFile, original, { mode: 0o644 });
    chmodSync(envFile, 0o644);

    const r = install(inst, ['--domain', 'other.example.test']);
    expect(r.status).toBe(0);
    const text = readFileSync(envFile, 'utf8');
    expect(text.startsWith(`${original}\n`)).toBe(true);
    expect(text.match(/^NGINX_SERVER_NAME=/gm)).toHaveLength(1);
    expect(text.match(/^ELASTIC_PASSWORD=/gm)).toHaveLength(1);
    const env = readEnv(inst);
    expect(env.get('LOG_LEVEL')).toBe('debug');
    expect(env.get('NGINX_SERVER_NAME')).toBe('chat.corp.lan');
    expect(env.get('ELASTIC_PASSWORD')).toBe('operator-chose-this-one');
    for (const k of ELK_KEYS.slice(1)) expect(env.get(k)).toMatch(/^[0-9a-f]{32,}$/);
    expect(mode(envFile)).toBe(0o600);
    expect(r.stdout).toContain('permissions tightened to 0600');
    expect(r.stderr).toMatch(/NGINX_SERVER_NAME in \.env is 'chat\.corp\.lan'; keeping it/);
    // The name in .env is the one nginx serves: the certificate and URL follow it.
    const x509 = spawnSync('openssl', ['x509', '-in', certPath(inst), '-noout', '-ext', 'subjectAltName'], {
      encoding: 'utf8',
    });
    expect(x509.stdout).toContain('DNS:chat.corp.lan');
    expect(r.stdout).toContain('https://chat.corp.lan/');
  });

  it('keeps a certificate already in place and then needs no openssl at all', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    mkdirSync(join(inst.dir, 'infra/nginx/certs'), { recursive: true });
    writeFileSync(certPath(inst), '-----BEGIN CERTIFICATE-----\nreal chain\n-----END CERTIFICATE-----\n');
    writeFileSync(keyPath(inst), '-----BEGIN PRIVATE KEY-----\nreal key\n-----END PRIVATE KEY-----\n');
    const cert = readFileSync(certPath(inst));

    const r = install(inst, ['--domain', 'sb.example.test'], { path: pathWithout('docker', 'openssl') });
    expect(r.status).toBe(0);
    expect(readFileSync(certPath(inst))).toEqual(cert);
    expect(r.stdout).toContain('Certificate: kept the existing');
    // Without openssl the ELK passwords come from /dev/urandom.
    for (const k of ELK_KEYS) expect(readEnv(inst).get(k)).toMatch(/^[0-9a-f]{48}$/);
  });

  it('refuses to start without openssl when it has to create the certificate', () => {
    const inst = checkout();
    const r = install(inst, [], { path: pathWithout('docker', 'openssl') });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/openssl is not installed; it is needed to create the first certificate/);
    expectNothingWritten(inst, r);
  });
});

describe('scripts/install.sh: ELK and evaluation', () => {
  it('--with-elk adds elk to COMPOSE_PROFILES, keeps the other profiles and passes them all', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    writeFileSync(join(inst.dir, '.env'), 'COMPOSE_PROFILES=telegram\n', { mode: 0o600 });
    const r = install(inst, ['--with-elk', '--domain', 'sb.example.test']);
    expect(r.status).toBe(0);
    expect(readEnv(inst).get('COMPOSE_PROFILES')).toBe('telegram,elk');
    expect(mode(join(inst.dir, '.env'))).toBe(0o600);
    expect(upCalls(r)).toEqual([
      'compose -f docker-compose.yml -f docker-compose.prod.yml --profile telegram --profile elk up -d --build',
    ]);
    const again = install(inst, ['--with-elk']);
    expect(again.status).toBe(0);
    expect(readEnv(inst).get('COMPOSE_PROFILES')).toBe('telegram,elk');
    expect(again.stdout).toContain('COMPOSE_PROFILES already includes elk');
  });

  it('--with-elk on a new .env writes COMPOSE_PROFILES=elk', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    const r = install(inst, ['--with-elk', '--domain', 'sb.example.test']);
    expect(r.status).toBe(0);
    expect(readEnv(inst).get('COMPOSE_PROFILES')).toBe('elk');
    expect(upCalls(r)[0]).toContain('--profile elk up -d --build');
  });

  it('--evaluation accepts a small VM and uses docker-compose.yml only', () => {
    const inst = checkout();
    states(inst, ALL_HEALTHY);
    const r = install(inst, ['--evaluation', '--domain', 'sb.example.test'], {
      cpus: 2,
      ramKb: 3.8 * GIB_KB,
      diskKb: 25 * GIB_KB,
    });
    if (AS_ROOT) expect(r.stderr).not.toContain('install.sh:');
    expect(r.status).toBe(0);
    expect(upCalls(r)).toEqual(['compose -f docker-compose.yml up -d --build']);
    // The certificate is production's (evaluation keeps nginx's own in a volume): left as made.
    expect(statSync(keyPath(inst)).uid).toBe(process.getuid?.());
    expect(r.calls.every((c) => !c.includes('docker-compose.prod.yml'))).toBe(true);
    expect(r.stdout).toContain('Preflight passed (evaluation)');
  });
});

describe('scripts/install.sh: preflight refusals leave nothing behind', () => {
  it.each([
    ['RAM', { ramKb: 3.8 * GIB_KB }, 'RAM: 3.8 GiB, production needs 8 GiB (use --evaluation'],
    ['CPU', { cpus: 2 }, 'CPUs: 2, production needs 4 (use --evaluation'],
    ['disk', { diskKb: 12.5 * GIB_KB }, /Disk: 12\.5 GiB free in \S+, production needs 40 GiB/],
  ])('too little %s for production', (_what, host, message) => {
    const inst = checkout();
    const r = install(inst, ['--domain', 'sb.example.test'], host);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expectNothingWritten(inst, r);
  });

  it('names every shortfall of an evaluation VM against the evaluation minimums', () => {
    const inst = checkout();
    const r = install(inst, ['--evaluation'], { cpus: 1, ramKb: 2 * GIB_KB, diskKb: 5 * GIB_KB });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('CPUs: 1, evaluation needs 2');
    expect(r.stderr).toContain('RAM: 2.0 GiB, evaluation needs 4 GiB');
    expect(r.stderr).toMatch(/Disk: 5\.0 GiB free in \S+, evaluation needs 20 GiB/);
    expect(r.stderr).not.toContain('use --evaluation');
    expectNothingWritten(inst, r);
  });

  it('refuses without docker, with the daemon down, and with a Compose older than 2.24.4', () => {
    const missing = checkout();
    const noDocker = install(missing, [], { noDocker: true, path: pathWithout('docker') });
    expect(noDocker.status).toBe(1);
    expect(noDocker.stderr).toMatch(
      /Docker is not installed \/ the daemon is not reachable: no `docker` command/,
    );
    expectNothingWritten(missing, noDocker);

    const down = checkout();
    const daemon = install(down, [], { env: { FAKE_DOCKER_INFO_FAIL: '1' } });
    expect(daemon.status).toBe(1);
    expect(daemon.stderr).toMatch(
      /Docker is not installed \/ the daemon is not reachable: Cannot connect to the Docker daemon/,
    );
    expectNothingWritten(down, daemon);

    const old = checkout();
    const compose = install(old, [], { env: { FAKE_COMPOSE_VERSION: 'v2.21.0' } });
    expect(compose.status).toBe(1);
    expect(compose.stderr).toMatch(/Docker Compose 2\.21\.0 is too old: 2\.24\.4 or newer is needed/);
    expectNothingWritten(old, compose);
  });

  it('accepts exactly Compose 2.24.4 and a Docker Desktop style version', () => {
    for (const version of ['2.24.4', 'v2.30.3-desktop.1']) {
      const inst = checkout();
      states(inst, ALL_HEALTHY);
      const r = install(inst, ['--domain', 'sb.example.test'], { env: { FAKE_COMPOSE_VERSION: version } });
      expect(r.status, r.stderr).toBe(0);
    }
  });
});

describe('scripts/install.sh: waiting for healthy', () => {
  it('fails at once, naming the one-shot, when one exits non-zero', () => {
    const inst = checkout();
    states(inst, STARTING, [psLine('init-secrets', 'exited', '', 1), ...STARTING.slice(1)]);
    const r = install(inst, ['--domain', 'sb.example.test', '--timeout', '60']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('init-secrets (exited with code 1)');
    expect(r.stderr).toMatch(
      /docker compose -f docker-compose\.yml -f docker-compose\.prod\.yml logs init-secrets/,
    );
    expect(r.ms).toBeLessThan(5_000);
    expect(r.calls.some((c) => c.includes(' exec '))).toBe(false);
  });

  it('gives up after --timeout naming the services still not healthy', () => {
    const inst = checkout();
    states(inst, [
      ...ONE_SHOTS_DONE,
      ...INFRA_HEALTHY,
      psLine('agent-worker', 'running', 'unhealthy'),
      psLine('ingress-web', 'running', 'healthy'),
      psLine('tool-runner', 'restarting'),
    ]);
    const r = install(inst, ['--domain', 'sb.example.test', '--timeout', '3']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not healthy after 3s: agent-worker (unhealthy) tool-runner (restarting)');
    expect(r.stderr).toMatch(/logs agent-worker/);
    expect(r.ms).toBeGreaterThanOrEqual(3_000);
    expect(r.ms).toBeLessThan(8_000);
    expect(r.calls.filter((c) => c.includes(' ps ')).length).toBeGreaterThan(5);
    expect(r.stdout).toContain('waiting for 2 of 10: agent-worker (unhealthy) tool-runner (restarting)');
  });
});

describe('scripts/install.sh: options', () => {
  it('answers an unknown option with the usage and exit 64, touching nothing', () => {
    const inst = checkout();
    const r = install(inst, ['--domian', 'x']);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('unknown option: --domian');
    expect(r.stderr).toContain('usage: scripts/install.sh');
    expect(r.calls).toEqual([]);
    expectNothingWritten(inst, r);

    for (const bad of [['--timeout', 'soon'], ['--domain', 'bad name;rm'], ['--domain']]) {
      expect(install(inst, bad).status).toBe(64);
    }
  });

  it('prints the usage with --help', () => {
    const inst = checkout();
    const r = install(inst, ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--with-elk');
    expect(r.stdout).toContain('--evaluation');
    expect(r.calls).toEqual([]);
  });
});
