import { randomUUID } from 'node:crypto';
import {
  Broker,
  bootstrapSecrets,
  brokerOptions,
  counter,
  createLogger,
  createMetricsRegistry,
  createPool,
  createServiceHttp,
  errorMessage,
  handleShutdown,
  markShuttingDown,
  migrate,
  pingDatabase,
  runMain,
  startLogShipper,
} from '@switchboard/core';
import { AttachmentStore } from './attachments.ts';
import { ChannelPolicy } from './channel-policy.ts';
import { type ConnectorConfig, connectorConfigShape } from './config.ts';
import { IdentityStore } from './identities.ts';
import { InboundPipeline } from './inbound.ts';
import { OutboundConsumer } from './outbound.ts';
import { OutboundParts } from './outbound-parts.ts';
import { StrangerGate } from './pairing.ts';
import { PairingStore } from './pairing-store.ts';
import { ReplyContexts } from './reply-contexts.ts';
import type { ConnectorDefinition } from './run-types.ts';

const DEFAULT_HTTP_PORT = connectorConfigShape.HTTP_PORT.parse(undefined);

/**
 * Runs one connector service: config, broker, database, HTTP (health, metrics, webhooks), the
 * adapter, and the shared inbound and outbound halves. A missing credential stops the start with
 * exit code 78 and the key named, before anything connects. With SECRETS_BACKEND=vault the
 * credentials come from Vault first, and those the adapter lists in `liveSecrets` are handed to it
 * when they rotate.
 */
export function runConnector<C extends ConnectorConfig>(def: ConnectorDefinition<C>): void {
  runMain(def.service, async () => {
    const registry = createMetricsRegistry(def.service);
    const secrets = await bootstrapSecrets({
      service: def.service,
      defaultHttpPort: DEFAULT_HTTP_PORT,
      registry,
    });
    const cfg = def.loadConfig(secrets.env);
    const instanceId = randomUUID().slice(0, 8);
    const log = createLogger(def.service, cfg.LOG_LEVEL);
    // Every line also to the broker's log exchange, for the console's live tail (stdout stays the record).
    const shipper = startLogShipper(cfg, def.service, registry);
    const adapter = await def.createAdapter(cfg, { log, registry });
    const platform = adapter.platform;
    if (adapter.liveSecrets && adapter.onSecretsChanged) {
      const apply = adapter.onSecretsChanged.bind(adapter);
      secrets.onRotate(adapter.liveSecrets, apply);
    }

    const pool = createPool(cfg.DATABASE_URL, log, {
      max: cfg.DB_POOL_SIZE,
      applicationName: `${def.service}-${instanceId}`,
    });
    await migrate(pool, log);
    const broker = new Broker(
      brokerOptions(cfg, {
        publishTimeoutMs: cfg.PUBLISH_TIMEOUT_MS,
        connectionName: `${def.service}-${instanceId}`,
      }),
      log,
    );
    await broker.start();

    const app = createServiceHttp({
      log,
      registry,
      readiness: {
        ...secrets.readiness,
        broker: broker.readiness,
        database: () => pingDatabase(pool),
        platform: () => {
          if (adapter.isReady && !adapter.isReady()) throw new Error(`${platform} not connected`);
        },
      },
      fastify: { bodyLimit: cfg.BODY_LIMIT_BYTES, trustProxy: true },
    });

    const inboundTotal = counter(registry, 'connector_inbound_total', 'Platform messages by outcome', [
      'platform',
      'outcome',
    ]);
    const sendsTotal = counter(registry, 'connector_sends_total', 'Platform API sends by outcome', [
      'platform',
      'outcome',
    ]);
    const repliesTotal = counter(registry, 'connector_replies_total', 'Replies by final outcome', [
      'platform',
      'outcome',
    ]);
    const pairingTotal = counter(
      registry,
      'connector_pairing_total',
      'Stranger-mode events: requested, reminded, paired, wrong_code, blocked, expired, refused',
      ['platform', 'event'],
    );
    const gate = new StrangerGate(
      {
        platform,
        mode: cfg.STRANGER_MODE,
        allowedUsers: cfg.ALLOWED_USERS,
        codeTtlSeconds: cfg.PAIRING_CODE_TTL_S,
        maxAttempts: cfg.PAIRING_MAX_ATTEMPTS,
        blockSeconds: cfg.PAIRING_BLOCK_S,
      },
      { store: new PairingStore(pool), log, onEvent: (event) => pairingTotal.inc({ platform, event }) },
    );
    const mode = gate.describe();
    log[mode.level](mode.message, { labels: { platform, stranger_mode: cfg.STRANGER_MODE } });
    const contexts = new ReplyContexts(pool, platform);
    const attachments = new AttachmentStore(pool, platform, cfg.ATTACHMENT_MAX_BYTES);
    const inbound = new InboundPipeline(
      {
        platform,
        botId: () => adapter.botId,
        maxChars: cfg.MAX_MESSAGE_CHARS,
        publishTimeoutMs: cfg.PUBLISH_TIMEOUT_MS,
      },
      {
        broker,
        pool,
        log,
        identities: new IdentityStore(pool),
        policy: new ChannelPolicy(pool, { platform, defaultPolicy: cfg.GROUP_POLICY }),
        gate,
        contexts,
        attachments,
        onOutcome: (outcome) => inboundTotal.inc({ platform, outcome }),
        onPublished: (id, msg) => {
          if (!cfg.TYPING_INDICATOR || !adapter.sendTyping) return;
          // Best effort and not awaited: the platform's ack must not wait on a cosmetic call.
          adapter
            .sendTyping({ conversationId: msg.conversationId, inReplyTo: id, context: msg.replyContext })
            .catch((err) => log.debug('typing indicator failed', { error: { message: errorMessage(err) } }));
        },
      },
    );

    // Webhook routes must exist before listen(); polling and gateways start here too.
    await adapter.start({ sink: inbound.sink, http: app, pool });
    const outbound = new OutboundConsumer(
      {
        topology: brokerOptions(cfg),
        sendAttempts: cfg.SEND_ATTEMPTS,
        sendRatePerSec: cfg.SEND_RATE_PER_SEC,
        maxRetryAfterMs: cfg.MAX_RETRY_AFTER_MS,
        typingIndicator: cfg.TYPING_INDICATOR,
        prefetch: Math.min(cfg.BROKER_PREFETCH, 32),
      },
      {
        broker,
        adapter,
        log,
        contexts,
        parts: new OutboundParts(pool),
        attachments,
        onSend: (outcome) => sendsTotal.inc({ platform, outcome }),
        onSettled: (outcome) => repliesTotal.inc({ platform, outcome }),
      },
    );
    await outbound.start();
    const address = await app.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
    log.info(`${def.service} listening`, {
      labels: { address, bot_id: adapter.botId, reply_queue: outbound.queue },
    });

    handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
      ['mark not ready', async () => markShuttingDown(app)],
      ['stop platform intake', () => adapter.stop()],
      // Webhook requests in flight finish (and are acknowledged) before the server closes.
      ['close http', () => app.close()],
      ['finish replies being sent', () => outbound.stop()],
      ['close broker', () => broker.close()],
      ['close database', () => pool.end()],
      ['stop log shipper', () => shipper.close()],
      ['stop secrets refresh', () => secrets.close()],
    ]);
  });
}
