import {
  bootstrapSecrets,
  createLogger,
  createMetricsRegistry,
  handleShutdown,
  markShuttingDown,
  runMain,
  startLogShipper,
} from '@switchboard/core';
import { createAdminService } from './app.ts';
import { loadAdminConfig } from './config.ts';

runMain('admin', async () => {
  const registry = createMetricsRegistry('admin');
  const secrets = await bootstrapSecrets({ service: 'admin', defaultHttpPort: 8090, registry });
  const cfg = loadAdminConfig(secrets.env);
  const log = createLogger('admin', cfg.LOG_LEVEL);
  const shipper = startLogShipper(cfg, 'admin', registry);

  const svc = await createAdminService(cfg, log, registry);
  const address = await svc.http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('admin started', { labels: { address } });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(svc.http)],
    // SSE streams never end by themselves: close them with the server.
    ['close http', () => svc.http.close()],
    ['close dependencies', () => svc.closeDependencies()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
