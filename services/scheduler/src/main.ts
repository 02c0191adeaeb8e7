import { randomUUID } from 'node:crypto';
import { PairingStore } from '@switchboard/connector';
import {
  Broker,
  bootstrapSecrets,
  brokerOptions,
  createLogger,
  createMetricsRegistry,
  createPool,
  createServiceHttp,
  handleShutdown,
  markShuttingDown,
  migrate,
  PgListener,
  pingDatabase,
  runMain,
  startLogShipper,
  ToolRpcClient,
} from '@switchboard/core';
import { createGuardedAgent, EgressPolicy } from '@switchboard/egress';
import { WorkflowStore } from '@switchboard/workflows';
import { buildModels, ModelChain } from '../../agent-worker/src/models/chain.ts';
import { watchFolder } from '../../agent-worker/src/skills/folder-watch.ts';
import { SkillRpcClient } from '../../agent-worker/src/skills/rpc.ts';
import { loadSchedulerConfig } from './config.ts';
import { schedulerMetrics } from './metrics.ts';
import { WorkflowRunner } from './run/executor.ts';
import { createReloader } from './run/reloader.ts';
import { WorkflowQueue } from './run/workflow-queue.ts';
import { RunStore } from './store/run-store.ts';
import { registerWorkflowRoutes, workflowAuthenticator } from './triggers/http-routes.ts';
import { MessageTrigger } from './triggers/message-trigger.ts';
import { RunRequests } from './triggers/run-requests.ts';
import { WorkflowRegistry } from './workflow/registry.ts';

runMain('scheduler', async () => {
  const registry = createMetricsRegistry('scheduler');
  const secrets = await bootstrapSecrets({ service: 'scheduler', defaultHttpPort: 9105, registry });
  const cfg = loadSchedulerConfig(secrets.env);
  const id = `scheduler-${randomUUID().slice(0, 8)}`;
  const log = createLogger('scheduler', cfg.LOG_LEVEL);
  // Every line also to the broker's log exchange, for the console's live tail (stdout stays the record).
  const shipper = startLogShipper(cfg, 'scheduler', registry);
  const metrics = schedulerMetrics(registry);

  const pool = createPool(cfg.DATABASE_URL, log, { max: cfg.DB_POOL_SIZE, applicationName: id });
  await migrate(pool, log);
  const topology = brokerOptions(cfg, { connectionName: id });
  const broker = new Broker(topology, log);
  await broker.start();
  const tools = new ToolRpcClient(broker, topology, log);
  await tools.start();
  // `skill` steps run on the agent-workers, over `<prefix>.skills`.
  const skills = new SkillRpcClient(broker, topology, log);
  await skills.start();
  const models = cfg.MODEL_CHAIN
    ? new ModelChain(
        buildModels(cfg.MODEL_CHAIN, {
          ollamaUrl: cfg.OLLAMA_URL,
          openaiBaseUrl: cfg.OPENAI_BASE_URL,
          openaiApiKey: cfg.OPENAI_API_KEY ?? 'unused',
          defaultTimeoutMs: cfg.MODEL_TIMEOUT_MS,
        }),
        { retries: cfg.MODEL_RETRIES, log },
      )
    : undefined;

  const store = new WorkflowStore(pool);
  const runs = new RunStore(pool);
  const workflows = new WorkflowRegistry({
    dir: cfg.WORKFLOWS_DIR,
    limits: { tools: cfg.WORKFLOW_TOOLS, models: models !== undefined },
    log,
    stored: () => store.list(),
  });
  const queue = new WorkflowQueue(
    {
      redisUrl: cfg.REDIS_URL,
      prefix: cfg.BULLMQ_PREFIX,
      name: `${cfg.BROKER_PREFIX}-workflows`,
      connectionName: id,
    },
    log,
  );
  const reload = createReloader(workflows, queue, metrics, log);
  await reload();

  // The tool-runner's egress policy and guarded agent: http steps reach what http_fetch may reach.
  const egress = new EgressPolicy(cfg.EGRESS_ALLOWLIST, 5_000, 'workflow http steps');
  const agent = createGuardedAgent(egress, { connectTimeoutMs: Math.min(10_000, cfg.STEP_TIMEOUT_MS) });
  const runner = new WorkflowRunner({
    registry: workflows,
    runs,
    deps: {
      tools,
      models,
      skills,
      http: { agent, maxBytes: cfg.HTTP_STEP_MAX_BYTES, maxRedirects: cfg.HTTP_STEP_MAX_REDIRECTS },
    },
    log,
    metrics,
    stepTimeoutMs: cfg.STEP_TIMEOUT_MS,
    outputMaxChars: cfg.STEP_OUTPUT_MAX_CHARS,
  });
  const worker = queue.startWorker(runner.process, cfg.WORKFLOW_CONCURRENCY);
  const requests = new RunRequests(runs, queue, metrics);
  // Who is paired: the connectors' own store, so a stranger to them is a stranger here.
  const messages = new MessageTrigger(broker, workflows, requests, new PairingStore(pool), log, {
    prefix: cfg.BROKER_PREFIX,
    queueType: cfg.BROKER_QUEUE_TYPE,
    ttlMs: cfg.MESSAGE_TRIGGER_TTL_MS,
    maxQueued: cfg.MESSAGE_TRIGGER_MAX_QUEUED,
    patternBudgetMs: cfg.MESSAGE_PATTERN_BUDGET_MS,
  });
  await messages.start();

  const listener = new PgListener({
    databaseUrl: cfg.DATABASE_URL,
    channels: [WorkflowStore.channel],
    what: 'workflow changes',
    log,
    applicationName: `${id}-listen`,
    onNotify: () => void reload(),
    onConnected: () => void reload(),
  });
  await listener.start();
  const watch = watchFolder(cfg.WORKFLOWS_DIR, () => void reload(), {
    debounceMs: 200,
    log,
    what: 'workflows',
  });
  const timer = setInterval(() => void reload(), cfg.WORKFLOW_RELOAD_MS);
  timer.unref();

  const http = createServiceHttp({
    log,
    registry,
    readiness: {
      ...secrets.readiness,
      broker: broker.readiness,
      database: () => pingDatabase(pool),
      redis: queue.readiness,
    },
    access: {
      authenticators: [workflowAuthenticator({ token: cfg.WORKFLOW_WEBHOOK_TOKEN, registry: workflows })],
    },
  });
  registerWorkflowRoutes(http, {
    registry: workflows,
    runs,
    requests,
    token: cfg.WORKFLOW_WEBHOOK_TOKEN,
    bodyLimit: cfg.WEBHOOK_BODY_MAX_BYTES,
  });
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('scheduler started', {
    labels: {
      scheduler: id,
      address,
      queue: queue.settings.name,
      workflows: workflows
        .list()
        .map((w) => w.workflow.name)
        .join(','),
      invalid_workflows: String(workflows.problems.length),
      api: cfg.WORKFLOW_WEBHOOK_TOKEN ? 'on' : 'off (WORKFLOW_WEBHOOK_TOKEN unset)',
    },
  });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(http)],
    [
      'stop triggers',
      async () => {
        clearInterval(timer);
        watch.close();
        await listener.stop();
        await messages.stop();
      },
    ],
    // Running attempts finish; runs with steps left are retried by BullMQ and resume there.
    [
      'finish running steps',
      async () => {
        runner.stop();
        await worker.close();
      },
    ],
    ['close queue', () => queue.close()],
    ['close tool client', () => tools.close()],
    ['close skill client', () => skills.close()],
    ['close broker', () => broker.close()],
    ['close http', () => http.close()],
    ['close egress agent', () => agent.close()],
    ['close database', () => pool.end()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
