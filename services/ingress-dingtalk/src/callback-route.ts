import { type InboundSink, SignatureError } from '@switchboard/connector';
import { ErrorCodes, type Logger } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { handleRobotMessage } from './inbound.ts';
import type { NormalizeOptions } from './normalize.ts';
import { CallbackReplayGuard } from './replay-guard.ts';
import { verifyCallback } from './signature.ts';

export const CALLBACK_PATH = '/dingtalk/callback';

export interface CallbackRouteOptions {
  /** Read per request, so a secret rotated in Vault verifies the next callback. */
  appSecret: () => string;
  normalize: NormalizeOptions;
  sink: InboundSink;
  log: Logger;
  /** Binds each signed (timestamp, sign) pair to the body it first came with. */
  replays: CallbackReplayGuard;
}

/**
 * The robot's HTTP callback ("消息接收地址"). DingTalk signs the timestamp header with the AppSecret;
 * the check runs before the body is even parsed, so unsigned requests cost us nothing. The
 * signature does not cover the body, so once the body is parsed the (timestamp, sign) pair is bound
 * to it: the same pair with another body is a replay of a captured signature and is refused. The
 * answer is sent only once the message is safely published: a 5xx makes DingTalk deliver it again.
 */
export function registerCallbackRoute(http: FastifyInstance, o: CallbackRouteOptions): void {
  http.post(
    CALLBACK_PATH,
    {
      config: {
        access: { verifiedBy: "DingTalk's timestamp+HMAC signature, checked before the body is read" },
      },
      onRequest: async (req, reply) => {
        try {
          verifyCallback(req.headers, o.appSecret());
        } catch (err) {
          if (!(err instanceof SignatureError)) throw err;
          o.log.warn('dingtalk callback refused', { labels: { platform: 'dingtalk' }, reason: err.message });
          return reply.code(401).send({ code: err.code, error: err.message });
        }
      },
      preHandler: async (req, reply) => {
        const timestamp = String(req.headers.timestamp);
        const sign = String(req.headers.sign);
        const use = await o.replays.use(timestamp, sign, CallbackReplayGuard.digest(req.body));
        if (use === 'other-body') {
          const reason = 'sign was already used with another body (replayed signature)';
          o.log.warn('dingtalk callback refused', { labels: { platform: 'dingtalk' }, reason });
          return reply.code(401).send({ code: ErrorCodes.SIGNATURE_INVALID, error: reason });
        }
      },
    },
    async (req, reply) => {
      const result = await handleRobotMessage(req.body, o);
      if (result.kind === 'invalid') {
        return reply.code(400).send({ code: ErrorCodes.BAD_REQUEST, error: result.reason });
      }
      if (result.kind === 'failed') {
        return reply
          .code(503)
          .send({ code: ErrorCodes.PUBLISH_FAILED, error: 'message not taken, retry later' });
      }
      // NOTE: an empty body: a JSON message here would be posted to the chat as a synchronous reply.
      return reply.code(200).send();
    },
  );
  o.log.info('dingtalk callback ready', { labels: { platform: 'dingtalk' }, path: CALLBACK_PATH });
}
