import websocket from '@fastify/websocket';
import {
  type Broker,
  counter,
  createServiceHttp,
  type Logger,
  type MetricsRegistry,
  type Pool,
  pingDatabase,
  type ReadinessCheck,
} from '@switchboard/core';
import type { WebSocket } from 'ws';
import { apiClientAuthenticator, TokenAuth } from './auth.ts';
import type { WebConfig } from './config.ts';
import { Intake } from './intake.ts';
import { JwtVerifier } from './jwt.ts';
import { ReplyStore } from './replies.ts';
import { ReplyHub } from './reply-hub.ts';
import { chatPageRoutes } from './routes/chat-page.ts';
import { messageRoutes } from './routes/messages.ts';
import { openAiRoutes } from './routes/openai.ts';
import { wsRoutes } from './routes/ws.ts';

/** Builds the HTTP app; main.ts owns connecting and starting. */
export async function buildApp(
  cfg: WebConfig,
  d: {
    broker: Broker;
    pool: Pool;
    log: Logger;
    registry: MetricsRegistry;
    instanceId: string;
    /** Further checks for /readyz, e.g. the secrets backend's. */
    readiness?: Record<string, ReadinessCheck>;
  },
) {
  const auth = new TokenAuth(cfg.API_TOKENS, JwtVerifier.fromConfig(cfg));
  const app = createServiceHttp({
    access: { authenticators: [apiClientAuthenticator(auth)] },
    log: d.log,
    registry: d.registry,
    readiness: {
      ...d.readiness,
      broker: d.broker.readiness,
      database: () => pingDatabase(d.pool),
    },
    fastify: { bodyLimit: cfg.BODY_LIMIT_BYTES, trustProxy: true },
  });
  await app.register(websocket, { options: { maxPayload: cfg.BODY_LIMIT_BYTES } });

  const published = counter(d.registry, 'ingress_messages_total', 'Inbound messages offered to the broker', [
    'platform',
    'outcome',
  ]);
  const intake = new Intake(
    d.broker,
    d.log,
    { botId: cfg.WEB_BOT_ID, maxChars: cfg.MAX_MESSAGE_CHARS, publishTimeoutMs: cfg.PUBLISH_TIMEOUT_MS },
    (platform, outcome) => published.inc({ platform, outcome }),
  );
  const replies = new ReplyStore(d.pool);
  const hub = new ReplyHub(d.broker, replies, d.log, {
    instanceId: d.instanceId,
    platforms: ['web', 'openai'],
  });
  await hub.start();
  const sockets = new Set<WebSocket>();

  messageRoutes(app, { auth, intake, replies, botId: cfg.WEB_BOT_ID });
  wsRoutes(app, { auth, intake, hub, replies, botId: cfg.WEB_BOT_ID, sockets });
  openAiRoutes(app, {
    auth,
    intake,
    hub,
    modelName: cfg.ASSISTANT_MODEL_NAME,
    timeoutMs: cfg.CHAT_COMPLETIONS_TIMEOUT_MS,
  });
  chatPageRoutes(app);

  app.addHook('preClose', async () => hub.releaseWaiters());
  app.addHook('onClose', async () => {
    // 1001 "going away": the page reconnects (to another instance) and resyncs from `since`.
    for (const s of sockets) s.close(1001, 'server shutting down');
  });
  return app;
}
