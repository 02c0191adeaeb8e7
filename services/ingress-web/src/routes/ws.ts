import { errorMessage, isSwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import type { Principal, TokenAuth } from '../auth.ts';
import { clientIdSchema, conversationIdSchema, type Intake } from '../intake.ts';
import type { ReplyStore } from '../replies.ts';
import type { ReplyHub } from '../reply-hub.ts';

const authMsg = z.object({
  type: z.literal('auth'),
  token: z.string(),
  conversationId: conversationIdSchema,
  user: z.object({ id: z.string().min(1).max(128), name: z.string().max(256).optional() }).optional(),
  /** createdAt of the last reply the client has; replies after it are sent again. */
  since: z.iso.datetime().optional(),
});
const chatMsg = z.object({ type: z.literal('message'), text: z.string(), id: clientIdSchema.optional() });

const AUTH_TIMEOUT_MS = 10_000;
/** Close code of a socket whose JWT expired (4000-4999: the application's own). */
export const TOKEN_EXPIRED_CLOSE = 4401;

function closeAtExpiry(socket: WebSocket, expiresAt: number, fail: (code: string, message: string) => void) {
  const timer = setTimeout(
    () => {
      fail('SB_ERR_UNAUTHORIZED', 'JWT expired; reconnect with a fresh token');
      socket.close(TOKEN_EXPIRED_CLOSE, 'token expired');
    },
    Math.max(0, expiresAt - Date.now()),
  );
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Web chat over one WebSocket: the first frame authenticates (browsers cannot set headers on a
 * WebSocket, and a token in the URL ends up in access logs), later frames are messages; replies of
 * the conversation are pushed as they arrive.
 */
export function wsRoutes(
  app: FastifyInstance,
  d: {
    auth: TokenAuth;
    intake: Intake;
    hub: ReplyHub;
    replies: ReplyStore;
    botId: string;
    sockets: Set<WebSocket>;
  },
) {
  app.get(
    '/v1/ws',
    {
      websocket: true,
      config: {
        access: {
          verifiedBy: 'the first frame carries the token; nothing is read or sent before it is verified',
        },
      },
    },
    (socket) => {
      d.sockets.add(socket);
      const send = (m: unknown) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
      };
      const fail = (code: string, message: string) => send({ type: 'error', code, message });
      let session:
        | { conversationId: string; userId: string; userName?: string; claims: Principal['claims'] }
        | undefined;
      let unsubscribe: (() => void) | undefined;
      const authTimer = setTimeout(() => socket.close(4401, 'authentication timeout'), AUTH_TIMEOUT_MS);

      socket.on('close', () => {
        clearTimeout(authTimer);
        unsubscribe?.();
        d.sockets.delete(socket);
      });
      // Frames are handled one at a time, in order: authenticating a JWT is asynchronous, and a
      // message sent right behind the auth frame must find the session in place.
      let frames = Promise.resolve();
      socket.on('message', (raw, isBinary) => {
        frames = frames
          .then(() => onFrame(raw, isBinary))
          .catch(() => fail('SB_ERR_INTERNAL', 'internal error'));
      });
      const onFrame = async (raw: RawData, isBinary: boolean) => {
        let data: unknown;
        try {
          if (isBinary) throw new Error('binary frames are not supported');
          data = JSON.parse(raw.toString());
        } catch (err) {
          return fail('SB_ERR_BAD_REQUEST', `frame is not JSON: ${errorMessage(err)}`);
        }
        if (!session) {
          const a = authMsg.safeParse(data);
          if (!a.success)
            return fail(
              'SB_ERR_BAD_REQUEST',
              `first frame must be {type:"auth", token, conversationId}: ${z.prettifyError(a.error)}`,
            );
          let principal: Principal;
          try {
            principal = await d.auth.authenticate(a.data.token);
          } catch (err) {
            fail('SB_ERR_UNAUTHORIZED', isSwitchboardError(err) ? err.message : 'invalid API token');
            return socket.close(4401, 'unauthorized');
          }
          clearTimeout(authTimer);
          // A socket must not outlive the credential that opened it: at the JWT's expiry it is told
          // why and closed; the client reconnects with a fresh token.
          if (principal.kind === 'jwt') closeAtExpiry(socket, principal.expiresAt, fail);
          session = {
            conversationId: a.data.conversationId,
            userId: a.data.user?.id ?? principal.subject ?? 'web',
            userName: a.data.user?.name,
            claims: principal.claims,
          };
          const cursor = a.data.since ?? new Date().toISOString();
          unsubscribe = d.hub.subscribe('web', d.botId, session.conversationId, cursor, (r) =>
            send({ type: 'reply', ...r }),
          );
          send({ type: 'ready', conversationId: session.conversationId });
          if (a.data.since) {
            for (const r of await d.replies.since('web', d.botId, session.conversationId, a.data.since))
              send({ type: 'reply', ...r });
          }
          return;
        }
        const m = chatMsg.safeParse(data);
        if (!m.success)
          return fail('SB_ERR_BAD_REQUEST', `expected {type:"message", text}: ${z.prettifyError(m.error)}`);
        try {
          const env = d.intake.build({
            platform: 'web',
            conversationId: session.conversationId,
            userId: session.userId,
            userName: session.userName,
            text: m.data.text,
            clientId: m.data.id,
            claims: session.claims,
          });
          await d.intake.publish(env);
          send({ type: 'accepted', id: env.id, clientId: m.data.id, traceId: env.traceId });
        } catch (err) {
          if (isSwitchboardError(err))
            return send({ type: 'error', code: err.code, message: err.message, clientId: m.data.id });
          fail('SB_ERR_INTERNAL', 'internal error');
        }
      };
    },
  );
}
