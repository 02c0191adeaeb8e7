import { randomUUID } from 'node:crypto';
import {
  Broker,
  bootstrapSecrets,
  brokerOptions,
  createLogger,
  createMetricsRegistry,
  createServiceHttp,
  handleShutdown,
  markShuttingDown,
  runMain,
  startLogShipper,
} from '@switchboard/core';
import { EgressPolicy } from '@switchboard/egress';
import { EgressProxy } from '../net/egress-proxy.ts';
import { loadToolBrowserConfig } from './config.ts';
import { BrowserRenderer } from './renderer.ts';
import { serveRenders } from './serve.ts';

/**
 * tool-browser: Chromium renders untrusted pages here, without its own sandbox, so this process
 * holds nothing but its broker password — no database URL, no token, no workspace. It serves the
 * render RPC alone; the tool-runner checks grants and stores screenshots (docs/threat-model/compose.md).
 */
runMain('tool-browser', async () => {
  const registry = createMetricsRegistry('tool-browser');
  const secrets = await bootstrapSecrets({ service: 'tool-browser', defaultHttpPort: 9102, registry });
  const cfg = loadToolBrowserConfig(secrets.env);
  const id = `tool-browser-${randomUUID().slice(0, 8)}`;
  const log = createLogger('tool-browser', cfg.LOG_LEVEL);
  const shipper = startLogShipper(cfg, 'tool-browser', registry);
  const topology = brokerOptions(cfg, { connectionName: id });
  const broker = new Broker(topology, log);
  await broker.start();
  const policy = new EgressPolicy(cfg.EGRESS_ALLOWLIST);
  const proxy = new EgressProxy(policy, log);
  await proxy.start();
  const renderer = new BrowserRenderer(
    {
      executablePath: cfg.BROWSER_EXECUTABLE,
      timeoutMs: cfg.BROWSER_TIMEOUT_MS,
      maxTextBytes: cfg.BROWSER_MAX_TEXT_BYTES,
      maxScreenshotBytes: cfg.BROWSER_MAX_SCREENSHOT_BYTES,
    },
    policy,
    proxy,
    log,
  );
  const server = await serveRenders(broker, topology, renderer, log, {
    concurrency: cfg.TOOL_CONCURRENCY,
    drainTimeoutMs: Math.floor(cfg.SHUTDOWN_TIMEOUT_MS * 0.7),
  });
  const http = createServiceHttp({
    log,
    registry,
    readiness: { ...secrets.readiness, broker: broker.readiness },
  });
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('tool-browser started', { labels: { id, address } });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(http)],
    ['finish renders', () => server.stop()],
    ['close browser', () => renderer.close()],
    ['stop egress proxy', () => proxy.close()],
    ['close broker', () => broker.close()],
    ['close http', () => http.close()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
