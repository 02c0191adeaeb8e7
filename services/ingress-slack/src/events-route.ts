import { ErrorCodes, errorBody, errorMessage, type Logger, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { type EventCallback, eventCallbackSchema } from './normalise.ts';
import { verifySignature } from './signature.ts';

export interface EventsRouteOptions {
  path: string;
  signingSecret: string;
  log: Logger;
  /** Settles once the event is handed over (published and confirmed, or deliberately ignored). */
  onEvent(payload: EventCallback): Promise<unknown>;
}

/**
 * The Events API Request URL. Slack counts a delivery as done on any 2xx, so the answer waits for
 * `onEvent`: 200 once the message is safely on the broker, 503 when it is not (Slack retries, with
 * the same ids, which the runtime de-duplicates), 401 for anything not signed by Slack.
 */
export async function registerEventsRoute(http: FastifyInstance, o: EventsRouteOptions): Promise<void> {
  await http.register(async (scope) => {
    // The signature covers the exact bytes Slack sent, so this route (only) keeps the body raw.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    scope.post(
      o.path,
      { config: { access: { verifiedBy: "Slack's request signature over the raw body, checked first" } } },
      async (req, reply) => {
        const raw = typeof req.body === 'string' ? req.body : '';
        try {
          verifySignature(o.signingSecret, raw, req.headers);
        } catch (err) {
          o.log.warn('Slack request refused', {
            error: { message: errorMessage(err) },
            labels: { platform: 'slack' },
            client: { ip: req.ip },
          });
          throw err;
        }

        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'body is not JSON', { statusCode: 400 });
        }
        const type = (body as { type?: unknown } | null)?.type;
        if (type === 'url_verification') {
          const challenge = (body as { challenge?: unknown }).challenge;
          if (typeof challenge !== 'string') {
            throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'url_verification without a challenge', {
              statusCode: 400,
            });
          }
          o.log.info('Slack verified the events Request URL');
          return { challenge };
        }
        if (type === 'app_rate_limited') {
          // Slack stops sending events for a minute when the app answers too slowly or too rarely.
          o.log.warn('Slack is rate limiting event deliveries to this app', {
            labels: { platform: 'slack' },
          });
          return reply.status(200).send();
        }
        if (type !== 'event_callback') return reply.status(200).send();

        const parsed = eventCallbackSchema.safeParse(body);
        if (!parsed.success) {
          throw new SwitchboardError(
            ErrorCodes.BAD_REQUEST,
            `malformed event_callback: ${parsed.error.message}`,
            {
              statusCode: 400,
            },
          );
        }
        try {
          await o.onEvent(parsed.data);
        } catch (err) {
          o.log.warn('Slack event not taken; answering 503 so Slack redelivers', {
            error: { message: errorMessage(err) },
            labels: {
              platform: 'slack',
              event_id: parsed.data.event_id,
              retry_num: String(req.headers['x-slack-retry-num'] ?? 0),
            },
          });
          return reply
            .status(503)
            .send(errorBody(ErrorCodes.PROCESSING_FAILED, 'message not accepted yet; retry later'));
        }
        return reply.status(200).send();
      },
    );
  });
}
