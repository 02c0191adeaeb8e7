import {
  bootstrapSecrets,
  createLogger,
  createMetricsRegistry,
  createServiceHttp,
  handleShutdown,
  markShuttingDown,
  runMain,
} from '@switchboard/core';
import { registerAlertsRoute } from './alerts-route.ts';
import { loadAlertRelayConfig } from './config.ts';
import { signedDingtalkUrl } from './dingtalk-sign.ts';
import { relayMetrics } from './metrics.ts';
import { SlidingWindowLimiter } from './rate-limiter.ts';
import { relayTokenAuthenticator } from './relay-token.ts';
import { RobotClient, type RobotName } from './robot-client.ts';

runMain('alert-relay', async () => {
  const registry = createMetricsRegistry('alert-relay');
  const secrets = await bootstrapSecrets({ service: 'alert-relay', defaultHttpPort: 9103, registry });
  const cfg = loadAlertRelayConfig(secrets.env);
  const log = createLogger('alert-relay', cfg.LOG_LEVEL);
  const metrics = relayMetrics(registry);

  const robots = new Map<RobotName, RobotClient>();
  const robot = (name: RobotName, url: () => string) =>
    new RobotClient({
      name,
      url,
      limiter: new SlidingWindowLimiter(cfg.ROBOT_MAX_PER_MINUTE),
      maxAttempts: cfg.ROBOT_MAX_ATTEMPTS,
      retryMinMs: cfg.ROBOT_RETRY_MIN_MS,
      timeoutMs: cfg.ROBOT_TIMEOUT_MS,
      log,
      onAttemptFailed: (reason) => metrics.attemptsFailed.inc({ target: name, reason }),
    });
  const wecomUrl = cfg.WECOM_ROBOT_URL;
  if (wecomUrl)
    robots.set(
      'wecom',
      robot('wecom', () => wecomUrl),
    );
  const dingtalkUrl = cfg.DINGTALK_ROBOT_URL;
  if (dingtalkUrl) {
    robots.set(
      'dingtalk',
      robot('dingtalk', () => signedDingtalkUrl(dingtalkUrl, cfg.DINGTALK_ROBOT_SECRET)),
    );
  }

  const http = createServiceHttp({
    log,
    registry,
    readiness: { ...secrets.readiness },
    access: { authenticators: [relayTokenAuthenticator(cfg.ALERT_RELAY_TOKEN)] },
  });
  registerAlertsRoute(http, robots, metrics, log);
  const address = await http.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('alert-relay started', {
    labels: {
      address,
      robots: [...robots.keys()].join(','),
      dingtalk_signed: String(Boolean(cfg.DINGTALK_ROBOT_SECRET)),
    },
  });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['mark not ready', async () => markShuttingDown(http)],
    // close() waits for in-flight requests, i.e. notifications still being retried.
    ['close http', () => http.close()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
