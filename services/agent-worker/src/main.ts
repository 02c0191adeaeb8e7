import { randomUUID } from 'node:crypto';
import {
  Broker,
  brokerOptions,
  createLogger,
  createMetricsRegistry,
  createPool,
  createServiceHttp,
  handleShutdown,
  markShuttingDown,
  migrate,
  OutboxRelay,
  pingDatabase,
  runMain,
} from '@switchboard/core';
import { loadWorkerConfig } from './config.ts';
import { ConversationStore } from './conversation-store.ts';
import { InboundConsumer } from './inbound-consumer.ts';
import { workerMetrics } from './metrics.ts';
import { buildModels, ModelChain } from './models/chain.ts';
import { PartitionLeases } from './partition-leases.ts';
import { TurnProcessor } from './turn.ts';

runMain('agent-worker', async () => {
  const cfg = loadWorkerConfig();
  const workerId = `agent-worker-${randomUUID().slice(0, 8)}`;
  const log = createLogger('agent-worker', cfg.LOG_LEVEL);
  const registry = createMetricsRegistry('agent-worker');
  const m = workerMetrics(registry);

  const pool = createPool(cfg.DATABASE_URL, log, { max: cfg.DB_POOL_SIZE, applicationName: workerId });
  await migrate(pool, log);
  const broker = new Broker(brokerOptions(cfg, { connectionName: workerId }), log);
  await broker.start();

  const relay = new OutboxRelay(pool, broker, log, {
    pollMs: cfg.OUTBOX_POLL_MS,
    onPublished: (n) => m.outboxPublished.inc(n),
  });
  const chain = new ModelChain(
    buildModels(cfg.MODEL_CHAIN, {
      ollamaUrl: cfg.OLLAMA_URL,
      openaiBaseUrl: cfg.OPENAI_BASE_URL,
      openaiApiKey: cfg.OPENAI_API_KEY,
      defaultTimeoutMs: cfg.MODEL_TIMEOUT_MS,
    }),
    {
      retries: cfg.MODEL_RETRIES,
      log,
      hooks: {
        onCall: (model, outcome, seconds) => {
          m.modelCalls.inc({ model, outcome });
          m.modelDuration.observe({ model }, seconds);
        },
      },
    },
  );
  const turns = new TurnProcessor(
    new ConversationStore(pool),
    chain,
    (id, m) => relay.publishCommitted(id, m),
    broker.names,
    {
      systemPrompt: cfg.SYSTEM_PROMPT,
      contextMaxMessages: cfg.CONTEXT_MAX_MESSAGES,
      contextMaxChars: cfg.CONTEXT_MAX_CHARS,
      sessionIdleMs: cfg.SESSION_IDLE_MINUTES * 60_000,
    },
    log,
    {
      onOutcome: (outcome, env, latency) => {
        m.turns.inc({ platform: env.platform, outcome });
        if (outcome === 'apologised') m.allModelsFailed.inc();
        if (outcome !== 'duplicate') m.messageLatency.observe({ platform: env.platform }, latency);
      },
    },
  );
  const consumer = new InboundConsumer(broker, turns, log, {
    onSettled: (result) => m.settled.inc({ result }),
  });
  const leases = new PartitionLeases({
    databaseUrl: cfg.DATABASE_URL,
    prefix: cfg.BROKER_PREFIX,
    partitions: cfg.BROKER_PARTITIONS,
    intervalMs: cfg.LEASE_INTERVAL_MS,
    workerId,
    log,
    callbacks: consumer,
    onChange: (held) => m.partitionsHeld.set(held),
  });

  const http = createServiceHttp({
    log,
    registry,
    readiness: {
      broker: () => {
        if (!broker.isConnected()) throw new Error('not connected');
      },
      database: () => pingDatabase(pool),
    },
  });
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  relay.start();
  await leases.start();
  log.info('agent-worker started', { labels: { worker: workerId, address, models: chain.labels.join(',') } });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(http)],
    [
      'finish turns in hand',
      async () => {
        consumer.beginShutdown();
        await leases.stop();
        await consumer.drain();
      },
    ],
    ['publish outbox', () => relay.flush()],
    ['stop outbox relay', () => relay.stop()],
    ['close broker', () => broker.close()],
    // Only now may another worker take the partitions: what was not started is back in the queue.
    ['release partitions', () => leases.close()],
    ['close http', () => http.close()],
    ['close database', () => pool.end()],
  ]);
});
