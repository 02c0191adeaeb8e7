import { randomUUID } from 'node:crypto';
import {
  Broker,
  bootstrapSecrets,
  brokerOptions,
  createLogger,
  createMetricsRegistry,
  createPool,
  handleShutdown,
  markShuttingDown,
  migrate,
  runMain,
  startLogShipper,
} from '@switchboard/core';
import { buildApp } from './app.ts';
import { loadWebConfig } from './config.ts';

runMain('ingress-web', async () => {
  const registry = createMetricsRegistry('ingress-web');
  const secrets = await bootstrapSecrets({ service: 'ingress-web', defaultHttpPort: 8080, registry });
  const cfg = loadWebConfig(secrets.env);
  const instanceId = randomUUID().slice(0, 8);
  const log = createLogger('ingress-web', cfg.LOG_LEVEL);
  // Every line also to the broker's log exchange, for the console's live tail (stdout stays the record).
  const shipper = startLogShipper(cfg, 'ingress-web', registry);
  const pool = createPool(cfg.DATABASE_URL, log, {
    max: cfg.DB_POOL_SIZE,
    applicationName: `ingress-web-${instanceId}`,
  });
  await migrate(pool, log);
  const broker = new Broker(
    brokerOptions(cfg, {
      publishTimeoutMs: cfg.PUBLISH_TIMEOUT_MS,
      connectionName: `ingress-web-${instanceId}`,
    }),
    log,
  );
  await broker.start();
  const app = await buildApp(cfg, {
    broker,
    pool,
    log,
    registry,
    instanceId,
    readiness: secrets.readiness,
  });
  const address = await app.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('ingress-web listening', { labels: { address } });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(app)],
    // close() stops accepting, lets in-flight requests (and their confirms) finish, then closes sockets.
    ['close http', () => app.close()],
    ['close broker', () => broker.close()],
    ['close database', () => pool.end()],
    ['stop log shipper', () => shipper.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
