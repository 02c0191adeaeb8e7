import { ErrorCodes, errorBody, errorMessage, type Logger, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { alertmanagerPayloadSchema, describeIssue } from './alertmanager-payload.ts';
import type { RelayMetrics } from './metrics.ts';
import { describeGroup, renderDingtalk, renderWecom } from './render.ts';
import type { RobotClient, RobotName } from './robot-client.ts';

const renderers: Record<RobotName, (r: ReturnType<typeof describeGroup>) => unknown> = {
  wecom: renderWecom,
  dingtalk: renderDingtalk,
};

/**
 * POST /alerts/:target, Alertmanager's webhook receiver. Answers only once the robot accepted the
 * message: a 502 makes Alertmanager try again on its next flush, on top of our own retries.
 */
export function registerAlertsRoute(
  app: FastifyInstance,
  robots: Map<RobotName, RobotClient>,
  metrics: RelayMetrics,
  log: Logger,
): void {
  if (robots.size === 0) {
    log.warn(
      'no robot configured: alerts are only visible in Alertmanager until WECOM_ROBOT_URL or DINGTALK_ROBOT_URL is set',
    );
  }
  app.post<{ Params: { target: string } }>(
    '/alerts/:target',
    // Alertmanager presents ALERT_RELAY_TOKEN (relay-token.ts): a forged alert pages nobody.
    { config: { access: { caller: ['service'] } } },
    async (req, reply) => {
      const target = req.params.target as RobotName;
      const robot = robots.get(target);
      if (!robot && target in renderers) {
        // Alertmanager's config names both robots; one the operator has not set up is not an error
        // worth retrying forever, but it must not look like a delivery either.
        metrics.skipped.inc({ target });
        log.warn(`alert notification skipped: no ${target} robot configured`, {
          labels: { robot: target },
        });
        return reply.status(200).send({ status: 'skipped', target, reason: `no ${target} robot configured` });
      }
      if (!robot) {
        return reply
          .status(404)
          .send(
            errorBody(
              ErrorCodes.NOT_FOUND,
              `no robot configured for "${req.params.target}" (configured: ${[...robots.keys()].join(', ')})`,
            ),
          );
      }
      const parsed = alertmanagerPayloadSchema.safeParse(req.body);
      if (!parsed.success) {
        throw new SwitchboardError(
          ErrorCodes.BAD_REQUEST,
          `not an Alertmanager webhook payload: ${describeIssue(parsed.error)}`,
          {
            statusCode: 400,
          },
        );
      }
      const payload = parsed.data;
      for (const a of payload.alerts) metrics.received.inc({ target, status: a.status });
      const rendered = describeGroup(payload);
      try {
        await robot.send(renderers[target](rendered));
      } catch (err) {
        metrics.failed.inc({ target });
        log.error('alert notification given up', {
          error: { message: errorMessage(err) },
          labels: { robot: target, alert_title: rendered.title, group_key: payload.groupKey },
        });
        return reply
          .status(502)
          .send(errorBody(ErrorCodes.PLATFORM_API_FAILED, `${target} robot did not accept the notification`));
      }
      metrics.sent.inc({ target });
      log.info('alert notification sent', { labels: { robot: target, alert_title: rendered.title } });
      return reply.status(200).send({ status: 'sent', target });
    },
  );
}
