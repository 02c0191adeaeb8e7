import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient } from '../support/web-client.ts';
import { generateCertificate, NGINX_BIN, NginxProcess } from './nginx-process.ts';
import {
  PRODUCTION_VALUES,
  renderProductionTemplate,
  renderTemplate,
  TEMPLATE_PATH,
  TemplateError,
  templateNames,
} from './render-config.ts';
import { send } from './send.ts';
import { UpstreamRecorder } from './upstream-recorder.ts';

const run = promisify(execFile);
const INFRA_DIR = dirname(TEMPLATE_PATH);

/** Negotiates TLS only (no HTTP) with a pinned protocol range; resolves with the agreed version. */
function handshake(port: number, ca: string, version: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3') {
  return new Promise<{ protocol: string | null; cipher: string }>((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca,
      minVersion: version,
      maxVersion: version,
      // Node's own floor would refuse TLS 1.1 before asking; lower it so the server is what says no.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    socket.once('secureConnect', () => {
      resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('nginx configuration template', () => {
  it('renders exactly what the container entrypoint renders, certificate included', async () => {
    const template = await readFile(TEMPLATE_PATH, 'utf8');
    expect(Object.keys(PRODUCTION_VALUES).sort()).toEqual(templateNames(template));
    const dir = await mkdtemp(join(tmpdir(), 'sb-nginx-entry-'));
    try {
      const out = join(dir, 'nginx.conf');
      await run('sh', [join(INFRA_DIR, 'docker-entrypoint.sh'), 'render'], {
        env: {
          PATH: process.env.PATH,
          SB_NGINX_TEMPLATE: TEMPLATE_PATH,
          SB_NGINX_CONF: out,
          SB_NGINX_GENERATE_CERT: join(INFRA_DIR, 'generate-self-signed.sh'),
          NGINX_CERT_DIR: join(dir, 'certs'),
        },
      });
      const cert = join(dir, 'certs/fullchain.pem');
      const key = join(dir, 'certs/privkey.pem');
      expect(await readFile(out, 'utf8')).toBe(
        renderProductionTemplate({ NGINX_TLS_CERT: cert, NGINX_TLS_KEY: key }),
      );
      expect(await readFile(cert, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect((await stat(key)).mode & 0o077).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs nginx as the container does: everything it writes under its prefix, a first certificate made', async () => {
    // The container's root file system is read-only: config, temp files and pid must all land in
    // the prefix on /tmp, and the certificate in its volume.
    const dir = await mkdtemp(join(tmpdir(), 'sb-nginx-run-'));
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const child = spawn('sh', [join(INFRA_DIR, 'docker-entrypoint.sh')], {
      env: {
        PATH: `${dirname(NGINX_BIN)}:${process.env.PATH}`,
        SB_NGINX_TEMPLATE: TEMPLATE_PATH,
        SB_NGINX_PREFIX: join(dir, 'prefix'),
        SB_NGINX_GENERATE_CERT: join(INFRA_DIR, 'generate-self-signed.sh'),
        NGINX_CERT_DIR: join(dir, 'certs'),
        NGINX_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        NGINX_HTTPS_LISTEN: `127.0.0.1:${httpsPort}`,
        NGINX_RESOLVER: '127.0.0.1',
        NGINX_ACCESS_LOG: join(dir, 'access.log'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout?.on('data', (d) => output.push(String(d)));
    child.stderr?.on('data', (d) => output.push(String(d)));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const health = await waitFor(
        'nginx from the entrypoint',
        async () => {
          if (child.exitCode !== null)
            throw new Error(`entrypoint exited ${child.exitCode}: ${output.join('')}`);
          const res = await fetch(`http://127.0.0.1:${httpPort}/nginx-health`).catch(() => undefined);
          return res?.status === 200 ? res : undefined;
        },
        20_000,
        50,
      );
      expect(health.status).toBe(200);
      // The certificate the entrypoint generated is the one served.
      const ca = await readFile(join(dir, 'certs', 'fullchain.pem'), 'utf8');
      expect((await handshake(httpsPort, ca, 'TLSv1.3')).protocol).toBe('TLSv1.3');
      const written = (await readdir(join(dir, 'prefix'))).sort();
      expect(written).toEqual(['admin-allowlist.d', 'nginx.conf', 'nginx.pid', 'temp']);
      expect((await lstat(join(dir, 'prefix', 'admin-allowlist.d'))).isSymbolicLink()).toBe(true);
      expect((await readdir(join(dir, 'certs'))).sort()).toEqual(['fullchain.pem', 'privkey.pem']);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing value or one that would inject a directive', () => {
    // Built by concatenation: these are nginx-template placeholders, not JS template slots.
    const listen = 'listen $' + '{NGINX_X};';
    expect(() => renderTemplate(listen, {})).toThrow(TemplateError);
    expect(() => renderTemplate(listen, {})).toThrow(/no value for NGINX_X/);
    expect(() => renderTemplate(listen, { NGINX_X: '80; include /etc/passwd' })).toThrow(
      expect.objectContaining({ code: 'SB_ERR_CONFIG_INVALID' }),
    );
    const redirect = 'return 301 https://$host$' + '{NGINX_S}$request_uri;';
    expect(renderTemplate(redirect, { NGINX_S: '' })).toBe('return 301 https://$host$request_uri;');
  });

  it('passes `nginx -t` as rendered for production', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-nginx-t-'));
    try {
      // The layout docker-entrypoint.sh leaves in /etc/nginx before its own `nginx -t`.
      for (const d of ['conf', 'logs', 'temp']) await mkdir(join(dir, d), { recursive: true });
      const { cert, key } = await generateCertificate(dir);
      // Only the certificate location differs from the container; hostnames stay as in compose.
      const conf = join(dir, 'conf/nginx.conf');
      await writeFile(conf, renderProductionTemplate({ NGINX_TLS_CERT: cert, NGINX_TLS_KEY: key }));
      // stdout as a file, as in a container: nginx cannot open /dev/stdout on the socket pair
      // Node would otherwise give it.
      const stdout = openSync(join(dir, 'logs/stdout'), 'w');
      const result = spawnSync(
        NGINX_BIN,
        [
          '-t',
          '-p',
          dir,
          '-c',
          conf,
          '-e',
          join(dir, 'logs/error.log'),
          '-g',
          `pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'logs/error.log')};`,
        ],
        { stdio: ['ignore', stdout, 'pipe'], encoding: 'utf8' },
      );
      closeSync(stdout);
      const stderr = result.stderr;
      expect(result.status, stderr).toBe(0);
      expect(stderr).toMatch(/syntax is ok/);
      expect(stderr).toMatch(/test is successful/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps an existing certificate when the generator runs again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-nginx-cert-'));
    try {
      const first = await generateCertificate(dir);
      const before = await readFile(first.cert, 'utf8');
      await generateCertificate(dir);
      expect(await readFile(first.cert, 'utf8')).toBe(before);
      const { stdout } = await run('openssl', [
        'x509',
        '-in',
        first.cert,
        '-noout',
        '-ext',
        'subjectAltName',
      ]);
      expect(stdout).toMatch(/DNS:localhost/);
      expect(stdout).toMatch(/IP Address:127\.0\.0\.1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('nginx in front of the stack', () => {
  const names = [
    'slack',
    'telegram',
    'wecom',
    'dingtalk',
    'admin',
    'rabbitmq',
    'kibana',
    'alertmanager',
  ] as const;
  const up = {} as Record<(typeof names)[number], UpstreamRecorder>;
  let llm: FakeLlm;
  let stack: TestStack;
  let nginx: NginxProcess;
  let base: string;

  beforeAll(async () => {
    for (const n of names) up[n] = await new UpstreamRecorder(n).start();
    llm = await startFakeLlm();
    stack = await new TestStack({
      workers: 1,
      workerEnv: { MODEL_CHAIN: 'ollama/fake-small', OLLAMA_URL: llm.url },
    }).start();
    nginx = await new NginxProcess({
      NGINX_WEB_UPSTREAM: stack.web.url.replace('http://', ''),
      NGINX_SLACK_UPSTREAM: up.slack.address,
      NGINX_TELEGRAM_UPSTREAM: up.telegram.address,
      NGINX_WECOM_UPSTREAM: up.wecom.address,
      NGINX_DINGTALK_UPSTREAM: up.dingtalk.address,
      NGINX_ADMIN_UPSTREAM: up.admin.address,
      NGINX_ADMIN_AUTH_URL: `http://${up.admin.address}/auth`,
      NGINX_RABBITMQ_UPSTREAM: up.rabbitmq.address,
      NGINX_KIBANA_UPSTREAM: up.kibana.address,
      NGINX_ALERTMANAGER_UPSTREAM: up.alertmanager.address,
      NGINX_WEBHOOK_MAX_BODY: '64k',
    }).start();
    base = `https://127.0.0.1:${nginx.httpsPort}`;
  });

  afterAll(async () => {
    await nginx?.stop();
    await stack?.stop();
    await llm?.close();
    await Promise.all(Object.values(up).map((u) => u.close()));
  });

  it('refuses a TLS 1.1 handshake and accepts TLS 1.2 and 1.3', async () => {
    await expect(handshake(nginx.httpsPort, nginx.certPem, 'TLSv1.1')).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    });
    const v12 = await handshake(nginx.httpsPort, nginx.certPem, 'TLSv1.2');
    expect(v12.protocol).toBe('TLSv1.2');
    // Mozilla intermediate: forward-secret AEAD suites only.
    expect(v12.cipher).toMatch(/^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    expect((await handshake(nginx.httpsPort, nginx.certPem, 'TLSv1.3')).protocol).toBe('TLSv1.3');
  });

  it('redirects plain HTTP to HTTPS, keeping path and query, but answers its health probe', async () => {
    const res = await send(`http://127.0.0.1:${nginx.httpPort}/v1/messages?x=1`);
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://127.0.0.1:${nginx.httpsPort}/v1/messages?x=1`);
    const health = await send(`http://127.0.0.1:${nginx.httpPort}/nginx-health`);
    expect(health.status).toBe(200);
  });

  it('sends HSTS on proxied answers and on its own errors, and hides service internals', async () => {
    const page = await send(`${base}/`, { ca: nginx.certPem });
    expect(page.status).toBe(200);
    expect(page.headers['strict-transport-security']).toBe('max-age=63072000');
    const metrics = await send(`${base}/metrics`, { ca: nginx.certPem });
    expect(metrics.status).toBe(404);
    expect(metrics.headers['strict-transport-security']).toBe('max-age=63072000');
    expect(metrics.body).not.toMatch(/switchboard_/);
  });

  it('lets no one reach the consoles without the admin service saying yes', async () => {
    const authSeen: (typeof up.admin.requests)[number][] = [];
    const consoles = [
      ['/admin', 'admin'],
      ['/admin/queues', 'admin'],
      ['/admin/api/status', 'admin'],
      ['/rabbitmq/', 'rabbitmq'],
      ['/kibana/app/home', 'kibana'],
      ['/alertmanager/#/alerts', 'alertmanager'],
    ] as const;
    for (const [path, name] of consoles) {
      const denied = await send(`${base}${path}`, { ca: nginx.certPem });
      expect(denied.status, path).toBe(401);
      // Console pages show the login form (fetched from the admin service) with the 401; the
      // API and the other consoles answer the bare 401. Nothing else reaches an upstream.
      const served = up[name].requests.filter((r) => r.url !== '/auth').map((r) => `${r.method} ${r.url}`);
      expect(served, path).toEqual(path === '/admin' || path === '/admin/queues' ? ['GET /admin/login'] : []);
      if (name === 'admin') authSeen.push(...up.admin.requests.splice(0).filter((r) => r.url === '/auth'));
    }
    const authCalls = [...authSeen, ...up.admin.requests.filter((r) => r.url === '/auth')];
    expect(authCalls.map((r) => r.headers['x-original-uri'])).toEqual([
      '/admin',
      '/admin/queues',
      '/admin/api/status',
      '/rabbitmq/',
      '/kibana/app/home',
      '/alertmanager/',
    ]);

    for (const [path, name] of consoles) {
      const ok = await send(`${base}${path}`, {
        ca: nginx.certPem,
        headers: { 'x-test-admin': 'yes', 'x-admin-user': 'mallory' },
      });
      expect(ok.status, path).toBe(200);
      expect(JSON.parse(ok.body)).toEqual({ upstream: name, url: path.split('#')[0] });
    }
    // The identity comes from the auth answer, never from the client's own header.
    const adminHit = up.admin.requests.find((r) => r.url === '/admin/queues');
    expect(adminHit?.headers['x-admin-user']).toBe('alice');
  });

  it('answers a console login flood with 429 before it reaches the admin service', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await send(`${base}/admin/login`, {
        method: 'POST',
        ca: nginx.certPem,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"user":"admin","password":"guess"}'),
      });
      statuses.push(res.status);
    }
    // 10 r/m with a burst of 5: the first six pass, the rest are refused.
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(statuses.slice(6).every((s) => s === 429)).toBe(true);
    expect(up.admin.requests.filter((r) => r.url === '/admin/login')).toHaveLength(6);
  });

  it('carries a web chat over WebSocket through TLS to the real ingress-web and agent-worker', async () => {
    // The self-signed test certificate: ChatClient opens its socket with default TLS options.
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    let chat: ChatClient | undefined;
    try {
      chat = await new ChatClient(base, stack.token, 'conv-nginx').connect();
      chat.send('hello through nginx');
      const [reply] = await chat.waitForReplies(1);
      expect(reply).toMatchObject({ text: 'echo: hello through nginx', status: 'ok' });
    } catch (err) {
      throw new Error(`${String(err)}\n${stack.dumpLogs()}\n${await nginx.errorLog()}`);
    } finally {
      chat?.close();
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    }
  });

  it('delivers a signed Slack webhook byte-identical, headers and all', async () => {
    // Odd spacing, escapes, a BOM-free mix of scripts and emoji, CRLF and a trailing newline.
    const raw = Buffer.from(
      '{ "type" :"event_callback",\r\n\t"event":{"text":"héllo  \\u00e9 世界 🚀\\n","ts" : "1.000100" } ,"x":[ 1 ,2 ]}\n',
      'utf8',
    );
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = `v0=${createHmac('sha256', 'slack-secret').update(`v0:${ts}:`).update(raw).digest('hex')}`;
    const res = await send(`${base}/slack/events`, {
      method: 'POST',
      ca: nginx.certPem,
      headers: {
        'content-type': 'application/json',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signature,
      },
      body: raw,
    });
    expect(res.status).toBe(200);
    const got = up.slack.requests.at(-1);
    expect(got?.url).toBe('/slack/events');
    expect(got?.body.equals(raw)).toBe(true);
    expect(got?.headers['content-length']).toBe(String(raw.length));
    expect(got?.headers['content-type']).toBe('application/json');
    expect(got?.headers['x-slack-request-timestamp']).toBe(ts);
    expect(got?.headers['x-slack-signature']).toBe(signature);
    const recomputed = createHmac('sha256', 'slack-secret')
      .update(`v0:${ts}:`)
      .update(got?.body ?? '')
      .digest('hex');
    expect(`v0=${recomputed}`).toBe(signature);
  });

  it('routes each platform webhook to its own connector and caps the body size', async () => {
    for (const [path, name] of [
      ['/telegram/webhook', 'telegram'],
      ['/wecom/callback?msg_signature=a&timestamp=1&nonce=n', 'wecom'],
      ['/dingtalk/callback', 'dingtalk'],
    ] as const) {
      const body = Buffer.from(`<xml><Encrypt><![CDATA[ ${name} ]]></Encrypt></xml>`);
      const res = await send(`${base}${path}`, { method: 'POST', ca: nginx.certPem, body });
      expect(res.status, path).toBe(200);
      expect(up[name].requests.at(-1)?.url).toBe(path);
      expect(up[name].requests.at(-1)?.body.equals(body)).toBe(true);
    }
    const before = up.slack.requests.length;
    const tooBig = await send(`${base}/slack/events`, {
      method: 'POST',
      ca: nginx.certPem,
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(65 * 1024, 0x20),
    });
    expect(tooBig.status).toBe(413);
    expect(up.slack.requests).toHaveLength(before);
  });
});

describe('nginx admin allowlist', () => {
  let admin: UpstreamRecorder;
  let nginx: NginxProcess;

  beforeAll(async () => {
    admin = await new UpstreamRecorder('admin').start();
    nginx = await new NginxProcess({
      NGINX_ADMIN_UPSTREAM: admin.address,
      NGINX_ADMIN_AUTH_URL: `http://${admin.address}/auth`,
    }).start('deny 127.0.0.1;\nallow all;\n');
  });
  afterAll(async () => {
    await nginx?.stop();
    await admin?.close();
  });

  it('refuses an address outside the allowlist even with valid credentials, login included', async () => {
    const base = `https://127.0.0.1:${nginx.httpsPort}`;
    for (const path of ['/admin', '/admin/login', '/kibana/']) {
      const res = await send(`${base}${path}`, { ca: nginx.certPem, headers: { 'x-test-admin': 'yes' } });
      expect(res.status, path).toBe(403);
    }
    expect(admin.requests).toEqual([]);
  });
});
