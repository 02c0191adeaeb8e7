import { randomUUID } from 'node:crypto';
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
  serveTools,
  startLogShipper,
} from '@switchboard/core';
import { EgressPolicy } from '@switchboard/egress';
import { ToolAttachmentStore } from './attachments.ts';
import type { Renderer } from './browser/protocol.ts';
import { RemoteRenderer } from './browser/remote.ts';
import { BrowserRenderer } from './browser/renderer.ts';
import { loadToolRunnerConfig } from './config.ts';
import { ToolDispatcher } from './dispatcher.ts';
import { GrantResolver } from './grants/resolver.ts';
import { toolRunnerMetrics } from './metrics.ts';
import { EgressProxy } from './net/egress-proxy.ts';
import { createGuardedAgent } from './net/guarded-agent.ts';
import { sandboxCall } from './sandbox/protocol.ts';
import { setUpShellSandbox } from './sandbox/start.ts';
import { BrowserTool } from './tools/browser.ts';
import { FilesTool } from './tools/files.ts';
import { HttpFetchTool } from './tools/http-fetch.ts';
import { SendMessageTool } from './tools/send-message.ts';
import { ShellTool } from './tools/shell.ts';
import { Workspace } from './tools/workspace.ts';

runMain('tool-runner', async () => {
  const registry = createMetricsRegistry('tool-runner');
  const secrets = await bootstrapSecrets({ service: 'tool-runner', defaultHttpPort: 9102, registry });
  const cfg = loadToolRunnerConfig(secrets.env);
  const runnerId = `tool-runner-${randomUUID().slice(0, 8)}`;
  const log = createLogger('tool-runner', cfg.LOG_LEVEL);
  // Every line also to the broker's log exchange, for the console's live tail (stdout stays the record).
  const shipper = startLogShipper(cfg, 'tool-runner', registry);
  const enabled = cfg.TOOLS_ENABLED;

  const workspace = await Workspace.open(cfg.WORKSPACE_DIR);
  const pool = createPool(cfg.DATABASE_URL, log, { max: cfg.DB_POOL_SIZE, applicationName: runnerId });
  await migrate(pool, log);
  const topology = brokerOptions(cfg, { connectionName: runnerId });
  const broker = new Broker(topology, log);
  await broker.start();

  const shell = enabled.has('shell')
    ? await setUpShellSandbox(cfg, workspace.root, log)
    : { socketPath: cfg.SANDBOX_SOCKET, supervisor: undefined, off: undefined };
  const sandbox = shell.supervisor;
  const socketPath = shell.socketPath;
  const policy = new EgressPolicy(cfg.EGRESS_ALLOWLIST);
  const proxy = new EgressProxy(policy, log);
  // Chromium runs here only when pages are rendered locally (process mode).
  const renderLocally = enabled.has('browser') && cfg.BROWSER_RENDER === 'local';
  if (renderLocally) await proxy.start();
  const agent = createGuardedAgent(policy, { connectTimeoutMs: Math.min(10_000, cfg.HTTP_FETCH_TIMEOUT_MS) });
  const attachments = new ToolAttachmentStore(pool);
  // Grants come from the routing and workflow tables, never from a request; cached until they change.
  let grantListener: PgListener | undefined;
  const grants = new GrantResolver({
    pool,
    defaultTools: cfg.DEFAULT_PROFILE_TOOLS,
    workflowsDir: cfg.WORKFLOWS_DIR,
    log,
    listening: () => grantListener?.connected ?? false,
  });
  // Whatever changed while nobody listened is unknown: every (re)connect and loss starts afresh.
  grantListener = new PgListener({
    databaseUrl: cfg.DATABASE_URL,
    channels: ['sb_routing_changed', 'sb_workflows_changed'],
    what: 'grant changes',
    log,
    applicationName: `${runnerId}-grants`,
    onNotify: () => grants.invalidate(),
    onConnected: () => grants.invalidate(),
    onLost: () => grants.invalidate(),
  });
  await grantListener.start();
  const renderLimits = {
    maxTextBytes: cfg.BROWSER_MAX_TEXT_BYTES,
    maxScreenshotBytes: cfg.BROWSER_MAX_SCREENSHOT_BYTES,
  };
  let renderer: Renderer;
  if (cfg.BROWSER_RENDER === 'remote') {
    const remote = new RemoteRenderer(broker, topology, log, renderLimits);
    if (enabled.has('browser')) await remote.start();
    renderer = remote;
  } else {
    renderer = new BrowserRenderer(
      { executablePath: cfg.BROWSER_EXECUTABLE, timeoutMs: cfg.BROWSER_TIMEOUT_MS, ...renderLimits },
      policy,
      proxy,
      log,
    );
  }
  const browser = new BrowserTool(renderer, attachments);
  const dispatcher = new ToolDispatcher(
    [
      new ShellTool({
        socketPath,
        workspace: workspace.root,
        off: shell.off,
        allowlist: cfg.SHELL_ALLOWLIST,
        timeoutMs: cfg.SHELL_TIMEOUT_MS,
        maxOutputBytes: cfg.SHELL_MAX_OUTPUT_BYTES,
        maxConcurrent: cfg.SHELL_MAX_CONCURRENT,
      }),
      new HttpFetchTool(agent, {
        timeoutMs: cfg.HTTP_FETCH_TIMEOUT_MS,
        maxBytes: cfg.HTTP_FETCH_MAX_BYTES,
        maxRedirects: cfg.HTTP_FETCH_MAX_REDIRECTS,
      }),
      new FilesTool({
        maxReadBytes: cfg.FILES_MAX_READ_BYTES,
        maxWriteBytes: cfg.FILES_MAX_WRITE_BYTES,
        maxListEntries: cfg.FILES_MAX_LIST_ENTRIES,
        maxSearchFiles: cfg.FILES_SEARCH_MAX_FILES,
        maxSearchFileBytes: cfg.FILES_SEARCH_MAX_FILE_BYTES,
        timeoutMs: cfg.FILES_TIMEOUT_MS,
      }),
      browser,
      new SendMessageTool(
        broker,
        cfg.CHANNELS_JSON,
        {
          maxChars: cfg.SEND_MESSAGE_MAX_CHARS,
          maxFileBytes: cfg.SEND_MESSAGE_MAX_FILE_BYTES,
          maxTotalBytes: cfg.SEND_MESSAGE_MAX_TOTAL_BYTES,
        },
        attachments,
      ),
    ],
    { enabled, grants, workspace, log, metrics: toolRunnerMetrics(registry) },
  );

  const server = await serveTools(broker, topology, dispatcher.handle, log, {
    concurrency: cfg.TOOL_CONCURRENCY,
    drainTimeoutMs: Math.floor(cfg.SHUTDOWN_TIMEOUT_MS * 0.7),
  });
  const http = createServiceHttp({
    log,
    registry,
    readiness: {
      ...secrets.readiness,
      broker: broker.readiness,
      database: () => pingDatabase(pool),
      ...(enabled.has('shell') && !shell.off
        ? {
            sandbox: async () => {
              const res = await sandboxCall(socketPath, { op: 'ping' }, AbortSignal.timeout(2_000));
              if (res.status !== 'pong') throw new Error(`unexpected answer ${res.status}`);
            },
          }
        : {}),
    },
  });
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('tool-runner started', {
    labels: {
      runner: runnerId,
      address,
      tools: dispatcher.names.join(','),
      workspace: workspace.root,
      sandbox: shell.off
        ? 'none (shell off)'
        : sandbox
          ? `child process as uid ${cfg.SHELL_SANDBOX_UID} (no network isolation)`
          : socketPath,
    },
  });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(http)],
    ['finish tool calls', () => server.stop()],
    ['close browser', () => browser.close()],
    ['stop egress proxy', () => proxy.close()],
    ['stop shell sandbox', async () => sandbox?.stop()],
    ['close broker', () => broker.close()],
    ['close http agent', () => agent.close()],
    ['close http', () => http.close()],
    ['stop grant listener', async () => grantListener?.stop()],
    ['close database', () => pool.end()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
