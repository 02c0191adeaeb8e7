import { type InboundSink, SignatureError } from '@switchboard/connector';
import { ErrorCodes, errorBody, errorMessage, isSwitchboardError, type Logger } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import type { CallbackCrypto, SignedQuery } from './callback-crypto.ts';
import { type NormalizeOptions, normalizeCallback } from './inbound-message.ts';
import { parseXmlFields } from './xml.ts';

export const CALLBACK_PATH = '/wecom/callback';

export interface CallbackDeps {
  crypto: CallbackCrypto;
  normalize: NormalizeOptions;
  sink: InboundSink;
  log: Logger;
}

/**
 * The app's 接收消息 URL. GET is WeCom's URL check (answer the decrypted echostr); POST is a message.
 * A POST is answered only once the runtime settled it: an empty 200 when taken, 503 when not, so
 * WeCom retries (it does so for any answer that is late or not 200).
 */
export async function callbackRoutes(app: FastifyInstance, d: CallbackDeps): Promise<void> {
  // WeCom posts text/xml; whatever the header says, the body is read as text and checked here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const access = {
    verifiedBy: "WeCom's msg_signature and AES with the CorpID check, before anything is used",
  };
  app.get<{ Querystring: SignedQuery & { echostr?: string } }>(
    CALLBACK_PATH,
    { config: { access } },
    async (req, reply) => {
      // A '+' WeCom (or a proxy) left unescaped arrives as a space; base64 never holds one.
      const echostr = (req.query.echostr ?? '').replaceAll(' ', '+');
      if (!echostr) return reply.status(400).send(errorBody(ErrorCodes.BAD_REQUEST, 'echostr is required'));
      const plain = open(d, req.query, echostr, req.ip);
      d.log.info('wecom callback URL verified');
      return reply.type('text/plain; charset=utf-8').send(plain);
    },
  );

  app.post<{ Querystring: SignedQuery; Body: string | undefined }>(
    CALLBACK_PATH,
    { config: { access } },
    async (req, reply) => {
      let outer: Record<string, string>;
      try {
        outer = parseXmlFields(req.body ?? '');
      } catch (err) {
        return reply
          .status(400)
          .send(errorBody(ErrorCodes.BAD_REQUEST, `body is not WeCom XML: ${errorMessage(err)}`));
      }
      if (!outer.Encrypt) {
        return reply.status(400).send(errorBody(ErrorCodes.BAD_REQUEST, 'body has no Encrypt element'));
      }
      const plain = open(d, req.query, outer.Encrypt, req.ip);

      let inner: Record<string, string>;
      try {
        inner = parseXmlFields(plain);
      } catch (err) {
        // Signed with our token and encrypted with our key, yet unreadable: WeCom will not send it better.
        d.log.warn('wecom callback message unreadable; acknowledged', {
          error: { message: errorMessage(err) },
        });
        return reply.status(200).send('');
      }
      const msg = normalizeCallback(inner, d.normalize);
      if ('skip' in msg) {
        d.log.debug('wecom callback not for the assistant', { labels: { reason: msg.skip } });
        return reply.status(200).send('');
      }
      try {
        await d.sink(msg);
      } catch (err) {
        // Not acknowledging makes WeCom retry; the MsgId keeps the retry to one answer.
        const code = isSwitchboardError(err) ? err.code : ErrorCodes.PROCESSING_FAILED;
        return reply.status(503).send(errorBody(code, `message not taken: ${errorMessage(err)}`));
      }
      return reply.status(200).send('');
    },
  );
}

function open(d: CallbackDeps, q: SignedQuery, ciphertext: string, ip: string): string {
  try {
    return d.crypto.open(q, ciphertext);
  } catch (err) {
    if (err instanceof SignatureError) {
      d.log.warn('wecom callback refused', { error: { message: err.message }, client: { ip } });
    }
    // The service's error handler answers a SignatureError with 401 and its reason.
    throw err;
  }
}
