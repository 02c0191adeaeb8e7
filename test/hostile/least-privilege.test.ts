/**
 * Item 9: least privilege in the compose appliance. Once every container mounted every secret and
 * every service was the broker's administrator, so one compromised service (or Chromium escaping
 * its renderer inside the tool-runner) held them all. Now:
 *
 * - each service mounts its own secrets volume, holding exactly the files its configuration reads
 *   (derived here from the services' config schemas and their compose `*_FILE` settings, against
 *   init-secrets' manifest); init-secrets alone mounts them all;
 * - Chromium runs in tool-browser, holding its broker URL and nothing else: the tool-runner checks
 *   the grant, asks tool-browser to render over the render exchange (which only the tool-runner's
 *   user may publish to) and stores the screenshot;
 * - each service connects to RabbitMQ as its own user, allowed only its own exchanges and queues.
 *   The definitions init-secrets writes are imported into a real broker (a vhost of their own) and
 *   a service's user is refused — ACCESS_REFUSED, 403 — everything that is another's, with the
 *   broker's state unchanged, while it still does its own work.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  Broker,
  type BrokerOptions,
  createLogger,
  declareLogExchange,
  serveTools,
  TOOL_PROTOCOL_VERSION,
  ToolRpcClient,
  toolQueueName,
  topologyNames,
  workQueueArgs,
} from '@switchboard/core';
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { connectorConfigShape } from '../../packages/connector/src/config.ts';
import { outboundQueueName } from '../../packages/connector/src/outbound.ts';
import { commonConfigShape } from '../../packages/core/src/config.ts';
import { adminConfigSchema } from '../../services/admin/src/config.ts';
import { workerConfigSchema } from '../../services/agent-worker/src/config.ts';
import { alertRelayConfigSchema } from '../../services/alert-relay/src/config.ts';
import { serviceConfigSchema as backupConfigSchema } from '../../services/backup/src/config.ts';
import { dingtalkConfigShape } from '../../services/ingress-dingtalk/src/config.ts';
import { discordConfigShape } from '../../services/ingress-discord/src/config.ts';
import { slackConfigShape } from '../../services/ingress-slack/src/config.ts';
import { telegramConfigShape } from '../../services/ingress-telegram/src/config.ts';
import { webConfigSchema } from '../../services/ingress-web/src/config.ts';
import { wecomConfigShape } from '../../services/ingress-wecom/src/config.ts';
import { BROKER_ROLES, brokerDefinitions } from '../../services/init-secrets/src/broker-users.ts';
import { randomSecret } from '../../services/init-secrets/src/secrets.ts';
import { SERVICE_SECRETS } from '../../services/init-secrets/src/services.ts';
import { schedulerConfigSchema } from '../../services/scheduler/src/config.ts';
import { toolBrowserConfigSchema } from '../../services/tool-runner/src/browser/config.ts';
import type { RenderAnswer } from '../../services/tool-runner/src/browser/protocol.ts';
import { RemoteRenderer } from '../../services/tool-runner/src/browser/remote.ts';
import { serveRenders } from '../../services/tool-runner/src/browser/serve.ts';
import { toolRunnerConfigSchema } from '../../services/tool-runner/src/config.ts';
import { AMQP_URL, uniqueName, waitFor } from '../support/infra.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MOUNT = '/run/switchboard/secrets';

// --- Part 1: every service mounts exactly the secrets its configuration reads -----------------

type Env = Record<string, unknown>;
interface ComposeService {
  image?: string;
  volumes?: (string | { source?: string; target?: string })[];
  environment?: Env;
  command?: string[] | string;
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, unknown>;
}
const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};

const connector = (shape: z.ZodRawShape) => ({ ...commonConfigShape, ...connectorConfigShape, ...shape });
/** What each of our services' configuration reads: its schema's keys. */
const SCHEMAS: Record<string, z.ZodRawShape> = {
  admin: adminConfigSchema.shape,
  'agent-worker': workerConfigSchema.shape,
  'alert-relay': alertRelayConfigSchema.shape,
  backup: backupConfigSchema.shape,
  'ingress-dingtalk': connector(dingtalkConfigShape),
  'ingress-discord': connector(discordConfigShape),
  'ingress-slack': connector(slackConfigShape),
  'ingress-telegram': connector(telegramConfigShape),
  'ingress-web': webConfigSchema.shape,
  'ingress-wecom': connector(wecomConfigShape),
  scheduler: schedulerConfigSchema.shape,
  'tool-runner': toolRunnerConfigSchema.shape,
  'tool-browser': toolBrowserConfigSchema.shape,
};
// The secrets provider (packages/core/src/secrets/config.ts) reads these in every service.
const SECRETS_PROVIDER = ['VAULT_ROLE_ID', 'VAULT_SECRET_ID'];
// The `switchboard` CLI runs in the admin container (`docker compose exec admin switchboard …`).
const cliSource = await readFile(join(ROOT, 'packages/cli/src/settings.ts'), 'utf8');
const CLI_KEYS = [...cliSource.matchAll(/setting\('([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1] ?? '');
const RUNS_CLI = new Set(['admin']);

function reads(service: string): Set<string> {
  return new Set([
    ...Object.keys(SCHEMAS[service] ?? {}),
    ...SECRETS_PROVIDER,
    ...(RUNS_CLI.has(service) ? CLI_KEYS : []),
  ]);
}

/** Secret files a service's settings point at (Vault AppRole files aside): file → setting. */
function referencedSecrets(service: ComposeService): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    const path = String(value ?? '');
    if (!key.endsWith('_FILE') || !path.startsWith(`${MOUNT}/`) || path.startsWith(`${MOUNT}/vault/`))
      continue;
    out.set(path.slice(MOUNT.length + 1), key.slice(0, -'_FILE'.length));
  }
  // Third-party images also read them in their command or healthcheck (redis: requirepass), or in
  // a configuration file of ours mounted into them (alertmanager.yml: credentials_file).
  const text = JSON.stringify([
    service.command ?? [],
    service.healthcheck?.test ?? [],
    ...mountedConfigFiles(service).map((f) => readFileSync(join(ROOT, f), 'utf8')),
  ]);
  for (const m of text.matchAll(/\/run\/switchboard\/secrets\/([a-z0-9_.]+)/g)) {
    if (!out.has(m[1] ?? '')) out.set(m[1] ?? '', '(command)');
  }
  return out;
}

/** Files of this repository bind-mounted into a container (directories aside). */
function mountedConfigFiles(service: ComposeService): string[] {
  return (service.volumes ?? [])
    .map((v) => (typeof v === 'string' ? (v.split(':')[0] ?? '') : String(v.source ?? '')))
    .filter(
      (source) =>
        source.startsWith('./') && statSync(join(ROOT, source), { throwIfNoEntry: false })?.isFile(),
    );
}

function secretVolumes(service: ComposeService): { source: string; target: string; ro: boolean }[] {
  return (service.volumes ?? [])
    .map((v) => {
      if (typeof v !== 'string') return { source: String(v.source), target: String(v.target), ro: false };
      const [source = '', target = '', mode] = v.split(':');
      return { source, target, ro: mode === 'ro' };
    })
    .filter((v) => v.source === 'secrets' || v.source.startsWith('secrets-'));
}

describe('compose: each service mounts only the secrets it reads', () => {
  const services = Object.entries(compose.services).filter(([name]) => name !== 'init-secrets');

  it('only init-secrets mounts the main secrets volume; every other service its own, read-only, alone', () => {
    expect(secretVolumes(compose.services['init-secrets'] ?? {}).map((v) => v.source)).toEqual(
      expect.arrayContaining(['secrets', ...Object.keys(SERVICE_SECRETS).map((s) => `secrets-${s}`)]),
    );
    for (const [name, service] of services) {
      const mounted = secretVolumes(service);
      if (!(name in SERVICE_SECRETS)) {
        expect(mounted, `${name} mounts secrets it has no manifest for`).toEqual([]);
        continue;
      }
      expect(mounted, name).toEqual([{ source: `secrets-${name}`, target: MOUNT, ro: true }]);
    }
  });

  it.each(Object.keys(SERVICE_SECRETS))(
    '%s: every mounted secret is read by its configuration, every secret it reads is mounted',
    (name) => {
      const service = compose.services[name];
      expect(service, `${name} is a compose service`).toBeDefined();
      const referenced = referencedSecrets(service ?? {});
      const own = new Set(SERVICE_SECRETS[name]);
      const ours = name in SCHEMAS;
      for (const [file, key] of referenced) {
        expect(own.has(file), `${name} reads ${file} (${key}) but its volume does not hold it`).toBe(true);
        if (ours)
          expect(reads(name).has(key), `${name} sets ${key}_FILE but its config never reads ${key}`).toBe(
            true,
          );
      }
      for (const file of own) {
        expect(referenced.has(file), `${name}'s volume holds ${file}, which nothing in it reads`).toBe(true);
      }
      if (!ours) return;
      // A required credential (no default) must reach the service: from its file or the environment.
      const env = service?.environment ?? {};
      for (const [key, schema] of Object.entries(SCHEMAS[name] ?? {})) {
        if (!/URL$|TOKEN|PASSWORD|SECRET/.test(key) || z.safeParse(schema, undefined).success) continue;
        expect(`${key}_FILE` in env || key in env, `${name} requires ${key} and gets it from nowhere`).toBe(
          true,
        );
      }
    },
  );

  it('tool-browser holds nothing but its broker password: no database URL, no token, no workspace', () => {
    const browser = compose.services['tool-browser'] ?? {};
    expect(SERVICE_SECRETS['tool-browser']).toEqual(['amqp_url']);
    // Its volumes: its own secrets, nothing else (no workspace, no sandbox socket, no workflows).
    expect(browser.volumes).toEqual([`secrets-tool-browser:${MOUNT}:ro`]);
    // No database credential in any form, and a configuration that could not take one.
    const env = Object.keys(browser.environment ?? {});
    expect(env.filter((k) => /DATABASE|PG|POSTGRES|REDIS|TOKEN/.test(k))).toEqual([]);
    expect(reads('tool-browser').has('DATABASE_URL')).toBe(false);
    expect(Object.keys(browser.depends_on ?? {})).not.toContain('postgres');
    // It runs the renderer's entry point, not the tool-runner (which holds the database URL).
    expect(browser.command).toEqual(['node', 'dist/tool-runner-browser.mjs']);
    // The tool-runner takes every tool call and has its pages rendered there.
    expect(compose.services['tool-runner']?.environment?.BROWSER_RENDER).toBe('remote');
  });
});

// --- Part 2: each service's broker user, in a real RabbitMQ -----------------------------------

const run = promisify(execFile);
const ctl = (...args: string[]) => run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });

const tag = uniqueName('lp');
const vhost = `sb-${tag}`;
const prefix = tag;
const user = (service: string) => `${tag}-${service}`;
const passwords = Object.fromEntries(Object.keys(BROKER_ROLES).map((s) => [s, randomSecret()]));
const operatorPassword = randomSecret();
const urlOf = (service: string) =>
  `amqp://${encodeURIComponent(user(service))}:${passwords[service]}@127.0.0.1:5672/${encodeURIComponent(vhost)}`;
const adminUrl = `${AMQP_URL}/${encodeURIComponent(vhost)}`;
const log = createLogger('least-privilege-test', 'error');
const topo = { prefix, queueType: 'quorum' as const, partitions: 2, retryDelaysMs: [100], maxAttempts: 3 };
const names = topologyNames(prefix, topo.partitions);
const brokerOpts = (service: string, declareTopology: boolean): BrokerOptions => ({
  ...topo,
  url: urlOf(service),
  prefetch: 8,
  declareTopology,
  maxReconnectDelayMs: 500,
});

let scratch: string;
let guest: ChannelModel;
let guestCh: Channel;
const brokers: Broker[] = [];

async function bindings(): Promise<string> {
  const { stdout } = await ctl(
    'list_bindings',
    '-p',
    vhost,
    'source_name',
    'destination_name',
    'routing_key',
    '--formatter',
    'json',
  );
  const rows = JSON.parse(stdout) as { source_name: string; destination_name: string; routing_key: string }[];
  return rows
    .map((r) => `${r.source_name} -> ${r.destination_name} [${r.routing_key}]`)
    .sort()
    .join('\n');
}

/** Runs `op` as `service` on a fresh channel: the broker's refusal, or `allowed`. */
async function refusal(
  service: string,
  op: (ch: Channel) => unknown,
): Promise<{ code: number; message: string }> {
  const conn = await amqplib.connect(urlOf(service));
  conn.on('error', () => {});
  const ch = await conn.createChannel();
  const closed = new Promise<{ code: number; message: string }>((resolve) =>
    ch.once('error', (err: { code?: number; message: string }) =>
      resolve({ code: err.code ?? 0, message: err.message }),
    ),
  );
  try {
    await Promise.resolve()
      .then(() => op(ch))
      .catch(() => {});
    // A publish has no reply: a round trip after it gives the broker's refusal time to arrive.
    await ch.checkExchange(names.inbound).catch(() => {});
    return await Promise.race([closed, Promise.resolve({ code: 0, message: 'allowed' })]);
  } finally {
    await conn.close().catch(() => {});
  }
}

async function queueFigures(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const { messageCount, consumerCount } = await guestCh.checkQueue(queue);
  return { messageCount, consumerCount };
}

describe('broker: each service is its own RabbitMQ user, limited to its own exchanges and queues', () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'sb-lp-'));
    const definitions = brokerDefinitions({
      prefix,
      vhost,
      passwords,
      operatorPassword,
      userName: user,
      operatorName: user('switchboard'),
    });
    const file = join(scratch, 'definitions.json');
    await writeFile(file, JSON.stringify(definitions));
    // rabbitmqctl reads the file as the rabbitmq user; the hashes are of throwaway passwords.
    await chmod(scratch, 0o755);
    await chmod(file, 0o644);
    // What RabbitMQ does at boot with load_definitions, on a vhost of this test's own.
    await ctl('import_definitions', file);
    await ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    guest = await amqplib.connect(adminUrl);
    guestCh = await guest.createChannel();

    // The topology's owner declares it with its own user: its permissions are enough for that.
    const owner = new Broker(brokerOpts('agent-worker', true), log);
    brokers.push(owner);
    await owner.start();
    // A connector's reply queue, to see another connector kept off it.
    await guestCh.assertQueue(outboundQueueName(prefix, 'slack', 'B1'), {
      durable: true,
      arguments: workQueueArgs(topo),
    });
    await guestCh.assertQueue(toolQueueName(prefix), { durable: true, arguments: workQueueArgs(topo) });
    await guestCh.assertQueue(toolQueueName(prefix, 'browser'), {
      durable: true,
      arguments: workQueueArgs(topo),
    });
    // As tool-browser binds it: reached through the render exchange only.
    await guestCh.bindQueue(
      toolQueueName(prefix, 'browser'),
      names.rpcRender,
      toolQueueName(prefix, 'browser'),
    );
    // Catches anything published to the outbound exchange.
    await guestCh.assertQueue(`${prefix}.probe`, { durable: false, autoDelete: false });
    await guestCh.bindQueue(`${prefix}.probe`, names.outbound, '#');
  }, 120_000);

  afterAll(async () => {
    for (const b of brokers) await b.close().catch(() => {});
    await guest?.close().catch(() => {});
    await ctl('delete_vhost', vhost).catch(() => {});
    for (const name of [...Object.keys(BROKER_ROLES), 'switchboard'])
      await ctl('delete_user', user(name)).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }, 120_000);

  it('ingress-web publishes inbound messages, and can touch nothing of the agent-worker', async () => {
    const web = new Broker(brokerOpts('ingress-web', false), log);
    brokers.push(web);
    await web.start();
    const agentQueue = names.agentQueue(0);
    const before = await queueFigures(agentQueue);
    await web.publish(
      names.inbound,
      names.inboundKey(0, 'web'),
      { hello: 'agents' },
      { messageId: 'lp-1', traceId: 'lp-1' },
    );
    await waitFor(
      'the message in the agents queue',
      async () => (await queueFigures(agentQueue)).messageCount === before.messageCount + 1,
    );
    const figures = await queueFigures(agentQueue);
    const bound = await bindings();

    const attempts: [string, (ch: Channel) => unknown][] = [
      [
        'declare',
        (ch) =>
          ch.assertQueue(agentQueue, {
            durable: true,
            arguments: workQueueArgs(topo, { 'x-single-active-consumer': true }),
          }),
      ],
      ['bind', (ch) => ch.bindQueue(agentQueue, names.inbound, '#')],
      ['consume', (ch) => ch.consume(agentQueue, () => {})],
      ['get', (ch) => ch.get(agentQueue)],
      ['delete', (ch) => ch.deleteQueue(agentQueue)],
      ['purge', (ch) => ch.purgeQueue(agentQueue)],
      ['redefine the inbound exchange', (ch) => ch.assertExchange(names.inbound, 'topic', { durable: true })],
      ['delete the inbound exchange', (ch) => ch.deleteExchange(names.inbound)],
      [
        'publish to the outbound exchange',
        (ch) => ch.publish(names.outbound, 'out.telegram.bot', Buffer.from('{}')),
      ],
      ['publish straight into the agents queue', (ch) => ch.publish('', agentQueue, Buffer.from('{}'))],
      [
        'publish an inbound message as another platform',
        (ch) => ch.publish(names.inbound, names.inboundKey(0, 'telegram'), Buffer.from('{}')),
      ],
      [
        "read another platform's replies",
        async (ch) => {
          const q = `${names.outbound}.ingress-web.${tag}-spy`;
          await ch.assertQueue(q, { exclusive: true, autoDelete: true, durable: false });
          await ch.bindQueue(q, names.outbound, 'out.slack.#');
        },
      ],
    ];
    for (const [what, op] of attempts) {
      const r = await refusal('ingress-web', op);
      expect(r.code, `ingress-web may ${what}: ${r.message}`).toBe(403);
      expect(r.message, what).toMatch(/ACCESS_REFUSED/);
    }

    // Nothing changed: the same messages, no consumer, no binding, nothing sent out.
    expect(await queueFigures(agentQueue)).toEqual(figures);
    expect(await bindings()).toBe(bound);
    expect((await queueFigures(`${prefix}.probe`)).messageCount).toBe(0);
    await guestCh.checkExchange(names.inbound);
  }, 120_000);

  it('keeps the browser runner to its own queue, and the tool-runner off the browser queue', async () => {
    const tools = toolQueueName(prefix);
    const browserQueue = toolQueueName(prefix, 'browser');
    const before = [await queueFigures(tools), await queueFigures(browserQueue)];
    const bound = await bindings();

    for (const [service, what, op] of [
      ['tool-browser', `consume ${tools}`, (ch: Channel) => ch.consume(tools, () => {})],
      [
        'tool-browser',
        'publish a reply to a chat',
        (ch: Channel) => ch.publish(names.outbound, 'out.slack.B1', Buffer.from('{}')),
      ],
      [
        'tool-browser',
        'declare the agents queue',
        (ch: Channel) => ch.assertQueue(names.agentQueue(1), { durable: true }),
      ],
      ['tool-runner', `consume ${browserQueue}`, (ch: Channel) => ch.consume(browserQueue, () => {})],
      [
        'agent-worker',
        'send a render request to tool-browser',
        (ch: Channel) => ch.publish(names.rpcRender, browserQueue, Buffer.from('{}')),
      ],
      ['agent-worker', `consume ${browserQueue}`, (ch: Channel) => ch.consume(browserQueue, () => {})],
      ['agent-worker', `delete ${browserQueue}`, (ch: Channel) => ch.deleteQueue(browserQueue)],
      [
        'agent-worker',
        `bind ${browserQueue} to the requests exchange`,
        (ch: Channel) => ch.bindQueue(browserQueue, names.rpcRequests, browserQueue),
      ],
      [
        'scheduler',
        'send a render request to tool-browser',
        (ch: Channel) => ch.publish(names.rpcRender, browserQueue, Buffer.from('{}')),
      ],
      [
        'ingress-telegram',
        'publish an inbound message as Slack',
        (ch: Channel) => ch.publish(names.inbound, names.inboundKey(0, 'slack'), Buffer.from('{}')),
      ],
      [
        'ingress-telegram',
        'send a message through the Slack connector',
        (ch: Channel) => ch.publish(names.outbound, names.outboundKey('slack', 'B1'), Buffer.from('{}')),
      ],
      [
        'tool-browser',
        'publish straight into the agents queue',
        (ch: Channel) => ch.publish('', names.agentQueue(1), Buffer.from('{}')),
      ],
      [
        'tool-browser',
        'send a tool request',
        (ch: Channel) => ch.publish(names.rpcRequests, tools, Buffer.from('{}')),
      ],
      [
        'agent-worker',
        'publish into a queue by name',
        (ch: Channel) => ch.publish('', names.agentQueue(1), Buffer.from('{}')),
      ],
      [
        'ingress-telegram',
        "consume Slack's replies",
        (ch: Channel) => ch.consume(outboundQueueName(prefix, 'slack', 'B1'), () => {}),
      ],
      ['admin', 'consume the agents queue', (ch: Channel) => ch.consume(names.agentQueue(0), () => {})],
      [
        'scheduler',
        'bind the agents queue',
        (ch: Channel) => ch.bindQueue(names.agentQueue(1), names.inbound, '#'),
      ],
    ] as const) {
      const r = await refusal(service, op);
      expect(r.code, `${service} may ${what}: ${r.message}`).toBe(403);
      expect(r.message).toMatch(new RegExp(`ACCESS_REFUSED.*${user(service)}`));
    }
    // The tool requests exchange is the agent-worker's to publish to, but it does not reach the
    // renderer: a request keyed with the render queue's name goes nowhere.
    expect(
      await refusal('agent-worker', (ch) => ch.publish(names.rpcRequests, browserQueue, Buffer.from('{}'))),
    ).toEqual({ code: 0, message: 'allowed' });

    expect([await queueFigures(tools), await queueFigures(browserQueue)]).toEqual(before);
    expect(await bindings()).toBe(bound);
    expect((await queueFigures(`${prefix}.probe`)).messageCount).toBe(0);

    // Each does its own work: the browser runner consumes its queue, the tool-runner the shared one.
    for (const [service, queue] of [
      ['tool-browser', browserQueue],
      ['tool-runner', tools],
    ] as const) {
      const conn = await amqplib.connect(urlOf(service));
      const ch = await conn.createChannel();
      const { consumerTag } = await ch.consume(queue, () => {});
      expect((await queueFigures(queue)).consumerCount).toBe(1);
      await ch.cancel(consumerTag);
      await conn.close();
    }
  }, 120_000);

  it('lets each service do its own work as its own user: tool calls, replies, triggers, logs, parking', async () => {
    // A page the tool-runner's browser tool asks for reaches tool-browser through the render
    // exchange and is answered; the tool-runner's user can send it, the agent-worker's cannot.
    const runner = new Broker(brokerOpts('tool-runner', false), log);
    const browserRunner = new Broker(brokerOpts('tool-browser', false), log);
    brokers.push(runner, browserRunner);
    await Promise.all([runner.start(), browserRunner.start()]);
    const rendered: string[] = [];
    const page: RenderAnswer = {
      title: 'page',
      url: 'https://example.org/',
      status: 200,
      text: 'hello',
      truncated: false,
      blocked: [],
      blockedCount: 0,
      screenshot: Buffer.from('png').toString('base64'),
    };
    const server = await serveRenders(
      browserRunner,
      topo,
      {
        render: async (req) => {
          rendered.push(req.url);
          return page;
        },
        close: async () => {},
      },
      log,
      { concurrency: 1 },
    );
    const renderer = new RemoteRenderer(runner, topo, log, {
      maxTextBytes: 1024,
      maxScreenshotBytes: 65_536,
    });
    await renderer.start();
    const answer = await renderer.render(
      { url: 'https://example.org', fullPage: false },
      {
        signal: new AbortController().signal,
        deadline: Date.now() + 10_000,
        caller: {
          platform: 'web',
          botId: 'web',
          conversationId: 'c',
          userId: 'u',
          messageId: 'm',
          traceId: 't',
        },
      },
    );
    expect(answer).toEqual(page);
    expect(rendered).toEqual(['https://example.org']);
    const forged = await refusal('agent-worker', (ch) =>
      ch.publish(names.rpcRender, toolQueueName(prefix, 'browser'), Buffer.from('{}'), {
        replyTo: 'x',
        correlationId: 'forged',
      }),
    );
    expect(forged.code, forged.message).toBe(403);
    expect(forged.message).toMatch(new RegExp(`ACCESS_REFUSED.*${user('agent-worker')}`));
    expect(rendered).toEqual(['https://example.org']);
    await server.stop();
    await renderer.close();

    // Every tool call of the agent-worker, the browser's included, goes to the tool-runner.
    const worker = new Broker(brokerOpts('agent-worker', true), log);
    brokers.push(worker);
    await worker.start();
    const served: string[] = [];
    const toolServer = await serveTools(
      runner,
      topo,
      async (r) => {
        served.push(r.tool);
        return {
          v: TOOL_PROTOCOL_VERSION,
          id: r.id,
          ok: true,
          output: 'page',
          truncated: false,
          attachments: [],
          durationMs: 1,
        };
      },
      log,
      { concurrency: 1 },
    );
    const client = new ToolRpcClient(worker, topo, log);
    await client.start();
    const result = await client.invoke({
      v: TOOL_PROTOCOL_VERSION,
      id: uniqueName('call-'),
      tool: 'browser',
      arguments: { url: 'https://example.org' },
      caller: {
        platform: 'web',
        botId: 'web',
        conversationId: 'c',
        userId: 'u',
        messageId: 'm',
        traceId: 't',
      },
      allowedTools: ['browser'],
      timeoutMs: 10_000,
    });
    expect(result).toMatchObject({ ok: true, output: 'page' });
    expect(served).toEqual(['browser']);
    await toolServer.stop();
    await client.close();

    // What the connectors, ingress-web, the scheduler and the console declare, bind and consume.
    const own: [string, (ch: Channel) => Promise<unknown>][] = [
      [
        'ingress-telegram',
        async (ch) => {
          const q = outboundQueueName(prefix, 'telegram', 'bot1');
          await ch.assertQueue(q, { durable: true, arguments: workQueueArgs(topo) });
          await ch.bindQueue(q, names.outbound, names.outboundKey('telegram', 'bot1'));
          await ch.bindQueue(q, names.requeue, q);
          await ch.consume(q, () => {});
          // Its platform's messages in, and its own notices out (pairing, refused attachments).
          ch.publish(names.inbound, names.inboundKey(1, 'telegram'), Buffer.from('{}'));
          ch.publish(names.outbound, names.outboundKey('telegram', 'bot1'), Buffer.from('{}'));
          ch.publish(names.retry, '', Buffer.from('{}'), { headers: { 'sb-retry-tier': 0 } });
          ch.publish(names.parking, '', Buffer.from('{}'));
        },
      ],
      [
        'ingress-web',
        async (ch) => {
          const q = `${names.outbound}.ingress-web.${tag}`;
          await ch.assertQueue(q, { exclusive: true, autoDelete: true, durable: false });
          for (const p of ['web', 'api', 'openai']) await ch.bindQueue(q, names.outbound, `out.${p}.#`);
          await ch.consume(q, () => {});
        },
      ],
      [
        'scheduler',
        async (ch) => {
          const q = `${prefix}.scheduler.messages`;
          await ch.assertQueue(q, {
            durable: true,
            arguments: { 'x-queue-type': 'classic', 'x-message-ttl': 1000 },
          });
          await ch.bindQueue(q, names.inbound, 'in.#');
          await ch.bindQueue(q, names.requeue, q);
          await ch.consume(q, () => {});
        },
      ],
      [
        'admin',
        async (ch) => {
          const logs = await declareLogExchange(ch, prefix);
          const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
          await ch.bindQueue(queue, logs, '#');
          await ch.consume(queue, () => {});
          await ch.get(names.parking, { noAck: false });
          // Queue figures when the management API is not set: a passive declare, no right needed.
          await ch.checkQueue(names.agentQueue(0));
          ch.publish(names.requeue, names.agentQueue(1), Buffer.from('{}'));
        },
      ],
    ];
    for (const service of Object.keys(BROKER_ROLES).filter((x) => x !== 'backup')) {
      own.push([
        service,
        async (ch) => ch.publish(await declareLogExchange(ch, prefix), `${service}.info`, Buffer.from('{}')),
      ]);
    }
    for (const [service, work] of own) {
      const r = await refusal(service, work);
      expect(r, `${service} could not do its own work: ${r.message}`).toEqual({
        code: 0,
        message: 'allowed',
      });
    }
  }, 120_000);

  it('gives no service the administrator tag but the backup (definitions export), and the operator', async () => {
    const { stdout } = await ctl('list_users', '--formatter', 'json');
    const users = (JSON.parse(stdout) as { user: string; tags: string[] | string }[]).filter((u) =>
      u.user.startsWith(`${tag}-`),
    );
    const tags = Object.fromEntries(
      users.map((u) => [u.user.slice(tag.length + 1), [u.tags].flat().join(',')]),
    );
    expect(Object.keys(tags).sort()).toEqual([...Object.keys(BROKER_ROLES), 'switchboard'].sort());
    const admins = Object.entries(tags)
      .filter(([, t]) => t.includes('administrator'))
      .map(([n]) => n)
      .sort();
    expect(admins).toEqual(['backup', 'switchboard']);
    expect(tags.admin).toBe('monitoring');
    // The backup's user has no vhost permissions at all: no AMQP access.
    const { stdout: perms } = await ctl('list_user_permissions', user('backup'), '--formatter', 'json');
    expect(JSON.parse(perms)).toEqual([]);
    // The password is right, the vhost refuses it (amqplib words the broker's NOT_ALLOWED so).
    await expect(amqplib.connect(urlOf('backup'))).rejects.toThrow(/got <ConnectionClose/);
  }, 60_000);
});
