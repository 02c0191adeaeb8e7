import { randomUUID } from 'node:crypto';
import {
  AdminTokenStore,
  Broker,
  bootstrapSecrets,
  brokerOptions,
  consoleAuthenticator,
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
  startLogShipper,
  type ToolCaller,
  ToolRpcClient,
} from '@switchboard/core';
import { builtinToolSpecs } from '@switchboard/tools';
import { Agent } from './agent/agent.ts';
import { ChainFactory } from './agent/chains.ts';
import { ConversationSettings } from './agent/conversation-settings.ts';
import { loadWorkerConfig } from './config.ts';
import { ConversationStore } from './conversation-store.ts';
import { InboundConsumer } from './inbound-consumer.ts';
import { knowledgeRoutes } from './knowledge/routes.ts';
import { knowledgeBaseFromConfig } from './knowledge/setup.ts';
import { ModelLimiter } from './limits/model-limiter.ts';
import { createRedis } from './limits/redis.ts';
import { ResponseCache } from './limits/response-cache.ts';
import { TokenUsage } from './limits/token-usage.ts';
import { workerMetrics } from './metrics.ts';
import { PartitionLeases } from './partition-leases.ts';
import { modelIntentClassifier } from './routing/intent.ts';
import { Router } from './routing/router.ts';
import { serveSkills } from './skills/rpc.ts';
import { SkillRunner } from './skills/run-skill.ts';
import { skillRegistryFromConfig } from './skills/setup.ts';
import { toolLoopSettings } from './tools/config.ts';
import { toolCallRoutes } from './tools/routes.ts';
import { ToolCallStore } from './tools/tool-call-store.ts';
import { Toolbox } from './tools/toolbox.ts';
import type { ToolCallRecord, ToolCallStart, ToolCallStatus } from './tools/types.ts';
import { TurnProcessor } from './turn.ts';

runMain('agent-worker', async () => {
  const registry = createMetricsRegistry('agent-worker');
  const secrets = await bootstrapSecrets({ service: 'agent-worker', defaultHttpPort: 9101, registry });
  const cfg = loadWorkerConfig(secrets.env);
  const workerId = `agent-worker-${randomUUID().slice(0, 8)}`;
  const log = createLogger('agent-worker', cfg.LOG_LEVEL);
  // Every line also to the broker's log exchange, for the console's live tail (stdout stays the record).
  const shipper = startLogShipper(cfg, 'agent-worker', registry);
  const m = workerMetrics(registry);

  const pool = createPool(cfg.DATABASE_URL, log, { max: cfg.DB_POOL_SIZE, applicationName: workerId });
  await migrate(pool, log);
  const broker = new Broker(brokerOptions(cfg, { connectionName: workerId }), log);
  await broker.start();

  const relay = new OutboxRelay(pool, broker, log, {
    pollMs: cfg.OUTBOX_POLL_MS,
    onPublished: (n) => m.outboxPublished.inc(n),
  });
  const redis = createRedis(cfg.REDIS_URL, log, workerId);
  await redis.connect().catch(() => {
    // Not fatal: limits and the cache are bypassed (logged) until Redis is back.
  });
  const limiter = new ModelLimiter(redis, {
    prefix: cfg.BROKER_PREFIX,
    rules: cfg.MODEL_LIMITS,
    maxWaitMs: cfg.MODEL_LIMIT_MAX_WAIT_MS,
    leaseMs: cfg.MODEL_LIMIT_LEASE_MS,
    log,
  });
  const chains = new ChainFactory({
    models: {
      ollamaUrl: cfg.OLLAMA_URL,
      openaiBaseUrl: cfg.OPENAI_BASE_URL,
      openaiApiKey: cfg.OPENAI_API_KEY,
      defaultTimeoutMs: cfg.MODEL_TIMEOUT_MS,
    },
    retries: cfg.MODEL_RETRIES,
    log,
    limiter,
    hooks: {
      onCall: (model, outcome, seconds) => {
        m.modelCalls.inc({ model, outcome });
        m.modelDuration.observe({ model }, seconds);
      },
    },
  });
  const defaultChain = chains.get(cfg.MODEL_CHAIN);
  const router = new Router({
    pool,
    databaseUrl: cfg.DATABASE_URL,
    log,
    defaults: {
      systemPrompt: cfg.SYSTEM_PROMPT,
      modelChain: cfg.MODEL_CHAIN,
      tools: cfg.DEFAULT_PROFILE_TOOLS,
      skills: cfg.DEFAULT_PROFILE_SKILLS,
      knowledge: cfg.DEFAULT_PROFILE_KNOWLEDGE,
    },
    reloadIntervalMs: cfg.ROUTING_RELOAD_MS,
    regexBudgetMs: cfg.ROUTING_REGEX_BUDGET_MS,
    classifyTimeoutMs: cfg.ROUTING_CLASSIFY_TIMEOUT_MS,
    classify: modelIntentClassifier((messages) =>
      defaultChain.complete(messages, 'intent-classifier').then((r) => r.content),
    ),
    applicationName: `${workerId}-routing`,
  });
  await router.start();

  const toolClient = new ToolRpcClient(broker, brokerOptions(cfg), log);
  if (cfg.TOOLS_ENABLED) await toolClient.start();
  const toolbox = new Toolbox({ invoker: toolClient, builtin: [...builtinToolSpecs], log });
  const skills = skillRegistryFromConfig(cfg, log);
  const applyLocalTools = () => {
    const rejected = toolbox.setLocalTools(skills.list().flatMap((s) => s.localTools));
    for (const r of rejected)
      log.error('skill tool not loaded', { labels: { tool: r.name }, error: { message: r.reason } });
  };
  skills.on('change', applyLocalTools);
  await skills.start();
  applyLocalTools();

  const kb = knowledgeBaseFromConfig(pool, cfg, log);
  const kbWatch = await kb
    .ingestDirectory(cfg.KNOWLEDGE_DIR)
    .then((r) => {
      log.info('knowledge folder synced', {
        labels: {
          ...Object.fromEntries(
            Object.entries(r).map(([k, v]) => [k, String(Array.isArray(v) ? v.length : v)]),
          ),
        },
      });
      return cfg.KNOWLEDGE_WATCH ? kb.watchDirectory(cfg.KNOWLEDGE_DIR, 500) : undefined;
    })
    .catch((err) => {
      log.warn('knowledge folder not synced', { error: { message: (err as Error).message } });
      return undefined;
    });
  const toolCalls = new ToolCallStore(pool);
  const usage = new TokenUsage(pool);
  const agentLoop = {
    tools: toolbox,
    settings: toolLoopSettings(cfg),
    log,
    record: (caller: ToolCaller, calls: ToolCallRecord[]) => toolCalls.record(caller, calls),
    start: (caller: ToolCaller, call: ToolCallStart) => toolCalls.start(caller, call),
    hooks: {
      onToolCall: (tool: string, status: ToolCallStatus, seconds: number) =>
        m.toolCalls.observe({ tool, status }, seconds),
    },
  };
  const agent = new Agent({
    router,
    skills,
    kb,
    chains,
    loop: agentLoop,
    cache: new ResponseCache(redis, { prefix: cfg.BROKER_PREFIX, log }),
    usage,
    settings: new ConversationSettings(pool),
    log,
    knowledge: { searchLimit: cfg.KB_SEARCH_LIMIT, contextMaxChars: cfg.KB_CONTEXT_MAX_CHARS },
    toolsAvailable: () => (cfg.TOOLS_ENABLED ? builtinToolSpecs.map((t) => t.name) : []),
  });
  // Workflow `skill` steps: one skill on one text, outside any conversation (skills/rpc.ts).
  const skillRuns = new SkillRunner({
    skills,
    kb,
    chains,
    loop: agentLoop,
    usage,
    log,
    defaults: {
      systemPrompt: cfg.SYSTEM_PROMPT,
      modelChain: cfg.MODEL_CHAIN,
      tools: cfg.TOOLS_ENABLED ? cfg.DEFAULT_PROFILE_TOOLS : [],
    },
    knowledge: { searchLimit: cfg.KB_SEARCH_LIMIT, contextMaxChars: cfg.KB_CONTEXT_MAX_CHARS },
  });
  const turns = new TurnProcessor(
    new ConversationStore(pool),
    agent,
    (id, m) => relay.publishCommitted(id, m),
    broker.names,
    {
      contextMaxMessages: cfg.CONTEXT_MAX_MESSAGES,
      contextMaxChars: cfg.CONTEXT_MAX_CHARS,
      sessionIdleMs: cfg.SESSION_IDLE_MINUTES * 60_000,
    },
    log,
    {
      onOutcome: (outcome, env, latency) => {
        m.turns.inc({ platform: env.platform, outcome });
        if (outcome === 'apologised') m.allModelsFailed.inc();
        if (outcome !== 'duplicate' && outcome !== 'ignored')
          m.messageLatency.observe({ platform: env.platform }, latency);
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
      ...secrets.readiness,
      broker: broker.readiness,
      database: () => pingDatabase(pool),
    },
    // The console's tokens and roles: the same credentials and audit log as every other change.
    access: { authenticators: [consoleAuthenticator(new AdminTokenStore(pool))] },
  });
  await http.register(knowledgeRoutes, { kb, pool, maxDocumentBytes: cfg.KB_MAX_DOCUMENT_BYTES, log });
  await http.register(toolCallRoutes, { calls: toolCalls });
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  relay.start();
  const skillServer =
    cfg.SKILL_RUNS_CONCURRENCY > 0
      ? await serveSkills(broker, brokerOptions(cfg), skillRuns.run, log, {
          concurrency: cfg.SKILL_RUNS_CONCURRENCY,
          drainTimeoutMs: Math.max(1_000, cfg.SHUTDOWN_TIMEOUT_MS / 2),
        })
      : undefined;
  await leases.start();
  log.info('agent-worker started', {
    labels: { worker: workerId, address, models: defaultChain.labels.join(',') },
  });

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
    ['finish skill runs in hand', async () => void (await skillServer?.stop())],
    ['close tool client', () => toolClient.close()],
    [
      'stop watching skills and knowledge',
      async () => {
        skills.close();
        kbWatch?.close();
      },
    ],
    ['publish outbox', () => relay.flush()],
    ['stop outbox relay', () => relay.stop()],
    ['close broker', () => broker.close()],
    // Only now may another worker take the partitions: what was not started is back in the queue.
    ['release partitions', () => leases.close()],
    ['close http', () => http.close()],
    ['stop routing listener', () => router.stop()],
    ['close redis', async () => void (await redis.quit().catch(() => {}))],
    ['close database', () => pool.end()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
