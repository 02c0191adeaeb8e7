import { createHash } from 'node:crypto';

/**
 * One RabbitMQ user per service, each allowed only the exchanges and queues its code declares,
 * publishes to and consumes from (packages/core/src/broker/topology.ts, rpc.ts, log-shipper.ts,
 * packages/connector/src/outbound.ts, the scheduler's message trigger, the console's log tail and
 * parking queue). Permissions are allowlists: a name no rule matches is refused (ACCESS_REFUSED),
 * so a stolen ingress-web password cannot read the agents' queues, bind them elsewhere or delete them.
 *
 * RabbitMQ checks, per operation: declare/delete → configure on the resource; publish → write on
 * the exchange; bind → write on the queue and read on the exchange; consume/get → read on the
 * queue; a declare naming a dead-letter or alternate exchange → write on that exchange.
 */

/** What one service does on the broker, as names relative to BROKER_PREFIX (`*` = a suffix). */
interface Role {
  /** Exchanges and queues it declares (or deletes). */
  configure: string[];
  /**
   * Exchanges it publishes to. Never `amq.default`: publishing there reaches any queue by name, so
   * the tool RPC goes through `rpc.requests` (callers) and `rpc.replies` (runners) instead.
   */
  publish: string[];
  /** Exchanges it binds its queues to. */
  bindFrom: string[];
  /** Queues it declares, binds and consumes. */
  queues: string[];
  /** Management tags: the console reads queue figures; the backup exports definitions. */
  tags?: string[];
  /**
   * Routing keys it may publish with (write) and bind with (read) on a topic exchange, as
   * anchored regexes: RabbitMQ's topic permissions. A connector speaks for its platform only.
   */
  topics?: Record<string, { write: string; read: string }>;
}

// Every service ships its log lines to `<prefix>.logs` and declares that exchange itself.
const LOGS = 'logs';
// A work queue's dead-letter exchange (workQueueArgs): declaring one needs write on it.
const PARKING = 'parking';
// The tool and skill RPC's exchanges (packages/core/src/broker/rpc.ts, rpcExchanges).
const REQUESTS = 'rpc.requests';
const REPLIES = 'rpc.replies';
// Render requests to the browser (tool-browser): only the tool-runner may publish them.
const RENDER = 'rpc.render';

// NOTE: a connector publishes to outbound too: its own notices (pairing, refused attachments).
const connector = (platform: string): Role => ({
  configure: [LOGS, `out.${platform}.*`],
  publish: ['inbound', 'outbound', 'retry', PARKING, LOGS],
  bindFrom: ['outbound', 'requeue'],
  queues: [`out.${platform}.*`],
  topics: {
    inbound: { write: `^in\\.[0-9]+\\.${platform}$`, read: '^$' },
    outbound: { write: `^out\\.${platform}\\.`, read: `^out\\.${platform}\\.` },
  },
});

/** Who may do what; names are the compose services that connect to the broker. */
export const BROKER_ROLES: Readonly<Record<string, Role>> = {
  // The owner of the shared topology (declareTopology): the agents' partitions, retry tiers,
  // parking and unrouted queues. It also calls tools and serves skill runs over the RPC.
  'agent-worker': {
    configure: [
      'inbound',
      'outbound',
      'unrouted',
      'retry',
      'requeue',
      PARKING,
      LOGS,
      REQUESTS,
      REPLIES,
      RENDER,
      'agent.in.*',
      'retry.*',
      'tools',
      'tools.reply.*',
      'skills',
      'skills.*',
    ],
    // Tool calls out (requests), skill runs answered (replies); never a render request (RENDER).
    publish: ['outbound', 'retry', 'requeue', PARKING, 'unrouted', LOGS, REQUESTS, REPLIES],
    bindFrom: ['inbound', 'outbound', 'unrouted', 'retry', 'requeue', PARKING, REQUESTS, REPLIES],
    queues: ['agent.in.*', 'retry.*', 'unrouted', PARKING, 'tools', 'tools.reply.*', 'skills', 'skills.*'],
  },
  'ingress-web': {
    configure: [LOGS, 'outbound.ingress-web.*'],
    publish: ['inbound', 'retry', PARKING, LOGS],
    bindFrom: ['outbound'],
    queues: ['outbound.ingress-web.*'],
    // Its own platforms' messages in, its own platforms' replies out: never another platform's.
    topics: {
      inbound: { write: '^in\\.[0-9]+\\.(web|api|openai)$', read: '^$' },
      outbound: { write: '^$', read: '^out\\.(web|api|openai)\\.' },
    },
  },
  'ingress-telegram': connector('telegram'),
  'ingress-slack': connector('slack'),
  'ingress-discord': connector('discord'),
  'ingress-wecom': connector('wecom'),
  'ingress-dingtalk': connector('dingtalk'),
  // Workflows: message triggers read a copy of the inbound traffic; steps call tools and skills.
  scheduler: {
    configure: [LOGS, 'scheduler.messages', 'tools', 'tools.reply.*', 'skills', 'skills.*'],
    publish: ['inbound', 'outbound', 'retry', PARKING, LOGS, REQUESTS],
    bindFrom: ['inbound', 'requeue', REQUESTS, REPLIES],
    queues: ['scheduler.messages', 'tools', 'tools.reply.*', 'skills', 'skills.*'],
  },
  // Serves `<prefix>.tools`; send_message publishes replies; answers go to the caller's reply queue.
  // Its browser tool asks tool-browser to render (RENDER) and reads the answers on its reply queue.
  'tool-runner': {
    configure: [LOGS, 'tools', 'tools.browser.reply.*'],
    publish: ['outbound', 'retry', PARKING, LOGS, REPLIES, RENDER],
    bindFrom: ['requeue', REQUESTS, REPLIES],
    queues: ['tools', 'tools.browser.reply.*'],
  },
  // Renders pages for the tool-runner, on `<prefix>.tools.browser`, which only RENDER reaches: it
  // reaches nothing but its queue and the answers.
  'tool-browser': {
    configure: [LOGS, 'tools.browser'],
    publish: [PARKING, LOGS, REPLIES],
    bindFrom: ['requeue', RENDER],
    queues: ['tools.browser'],
  },
  // The console: the live log tail (a server-named queue on the log exchange), parked messages
  // read and replayed through the requeue exchange, queue figures over the management API.
  admin: {
    configure: [LOGS, 'amq.gen-*'],
    publish: ['requeue', LOGS],
    bindFrom: [LOGS],
    queues: ['amq.gen-*', PARKING],
    tags: ['monitoring'],
  },
  // NOTE: GET /api/definitions (the backup's broker export) needs the administrator tag; it gets
  // no vhost permissions, so it cannot publish or consume over AMQP.
  backup: { configure: [], publish: [], bindFrom: [], queues: [], tags: ['administrator'] },
};

/** The operator's account (rabbitmq_password): the management UI behind the admin login. */
export const OPERATOR_USER = 'switchboard';

export interface Permission {
  configure: string;
  write: string;
  read: string;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

/** `agent.in.*` → `sb\.agent\.in\..+`; absolute names (amq.*) are not prefixed. */
function pattern(prefix: string, name: string): string {
  const absolute = name.startsWith('amq.');
  const full = absolute ? name : `${prefix}.${name}`;
  return full.endsWith('*') ? `${escapeRegex(full.slice(0, -1))}.+` : escapeRegex(full);
}

/** Anchored alternation; RabbitMQ's `^$` matches no name at all (the empty resource aside). */
function anyOf(prefix: string, names: string[]): string {
  const unique = [...new Set(names)];
  return unique.length === 0 ? '^$' : `^(${unique.map((n) => pattern(prefix, n)).join('|')})$`;
}

export function permissionsOf(role: Role, prefix: string): Permission {
  return {
    configure: anyOf(prefix, role.configure),
    write: anyOf(prefix, [...role.publish, ...role.queues]),
    read: anyOf(prefix, [...role.bindFrom, ...role.queues]),
  };
}

/**
 * RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)), 4-byte salt.
 * The salt is derived from the user and password, so an unchanged password gives an unchanged
 * file (init-secrets rewrites definitions only when they differ); passwords are 256 random bits,
 * so a predictable salt gives a guesser nothing.
 */
export function rabbitPasswordHash(user: string, password: string): string {
  const salt = createHash('sha256').update(`switchboard-salt\0${user}\0${password}`).digest().subarray(0, 4);
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export interface DefinitionsOptions {
  /** BROKER_PREFIX of the services. */
  prefix: string;
  vhost?: string;
  /** Each service's broker password. */
  passwords: Readonly<Record<string, string>>;
  operatorPassword: string;
  /** User name of a service (tests give theirs a unique prefix). */
  userName?: (service: string) => string;
  operatorName?: string;
}

/**
 * The definitions RabbitMQ imports at every boot (load_definitions): the vhost, one user per
 * service with its permissions, the operator, and the exchanges everyone publishes to — so a
 * service that declares nothing finds them, whichever starts first. Queues stay with their owners
 * (their arguments follow BROKER_* settings the owners read).
 */
export function brokerDefinitions(o: DefinitionsOptions): Record<string, unknown> {
  const vhost = o.vhost ?? '/';
  const name = o.userName ?? ((s: string) => s);
  const operator = o.operatorName ?? OPERATOR_USER;
  const services = Object.keys(BROKER_ROLES).sort();
  const user = (n: string, password: string, tags: string[]) => ({
    name: n,
    password_hash: rabbitPasswordHash(n, password),
    hashing_algorithm: 'rabbit_password_hashing_sha256',
    tags,
    limits: {},
  });
  const missing = services.filter((s) => !o.passwords[s]);
  if (missing.length > 0) throw new Error(`no broker password for ${missing.join(', ')}`);
  const exchange = (n: string, type: string, args: Record<string, unknown> = {}) => ({
    name: `${o.prefix}.${n}`,
    vhost,
    type,
    durable: true,
    auto_delete: false,
    internal: false,
    arguments: args,
  });
  return {
    users: [
      user(operator, o.operatorPassword, ['administrator']),
      ...services.map((s) => user(name(s), o.passwords[s] ?? '', BROKER_ROLES[s]?.tags ?? [])),
    ],
    vhosts: [{ name: vhost }],
    topic_permissions: services.flatMap((s) =>
      Object.entries(BROKER_ROLES[s]?.topics ?? {}).map(([x, t]) => ({
        user: name(s),
        vhost,
        exchange: `${o.prefix}.${x}`,
        write: t.write,
        read: t.read,
      })),
    ),
    permissions: [
      { user: operator, vhost, configure: '.*', write: '.*', read: '.*' },
      ...services
        .filter((s) => s !== 'backup')
        .map((s) => ({ user: name(s), vhost, ...permissionsOf(BROKER_ROLES[s] as Role, o.prefix) })),
    ],
    // NOTE: exactly as declareTopology and declareLogExchange declare them, or a redeclaration fails.
    exchanges: [
      exchange('inbound', 'topic'),
      exchange('unrouted', 'fanout'),
      exchange('outbound', 'topic', { 'alternate-exchange': `${o.prefix}.unrouted` }),
      exchange('retry', 'headers'),
      exchange('requeue', 'direct'),
      exchange('parking', 'fanout'),
      exchange('logs', 'topic'),
      exchange(REQUESTS, 'direct'),
      exchange(REPLIES, 'direct'),
      exchange(RENDER, 'direct'),
    ],
  };
}
