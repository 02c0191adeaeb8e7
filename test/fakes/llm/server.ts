import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ollamaEmbed, openAiEmbed, type RecordedEmbedding } from './embeddings.ts';
import { BodyTooLargeError, JSON_TYPE, readJson, sendJson, sendText } from './http.ts';
import { OLLAMA_VERSION, ollamaChat, ollamaTagsBody } from './ollama-api.ts';
import { checkOpenAiAuth, openAiChat, openAiModel, openAiModelsBody, sendOpenAiError } from './openai-api.ts';
import type { Rule } from './rules.ts';
import type { RecordedCall } from './state.ts';
import { FakeState } from './state.ts';

export { FAKE_EMBEDDING_DIMENSIONS, fakeEmbedding, type RecordedEmbedding } from './embeddings.ts';
export type { Api, Fault, Rule, ToolCallSpec } from './rules.ts';
export { parseRules, ruleSchema, rulesSchema } from './rules.ts';
export type { RecordedCall, RecordedMessage } from './state.ts';

export interface FakeLlmOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Delay before the first byte of every chat reply. */
  latencyMs?: number;
  rules?: Rule[];
  models?: string[];
  /** Serve any model name on the chat endpoints, not only `models`. */
  acceptAnyModel?: boolean;
  /** When set, every `/v1/*` request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Default true; the benchmark turns it off so memory stays flat. */
  recordCalls?: boolean;
}

export interface FakeLlm {
  url: string;
  port: number;
  /** Chat requests seen, oldest first. The same array for the fake's whole life. */
  calls: RecordedCall[];
  /** Embedding requests seen (`/api/embed`, `/api/embeddings`, `/v1/embeddings`), oldest first. */
  embeddingCalls: RecordedEmbedding[];
  /** Replaces the rules and their `times` counters. Throws on an invalid rule. */
  setRules(rules: Rule[]): void;
  setLatency(ms: number): void;
  /** Empties `calls` and restores the rules and latency given to {@link startFakeLlm}. */
  reset(): void;
  /** Stops listening and cuts every open connection, hanging requests included. */
  close(): Promise<void>;
}

export const DEFAULT_MODELS = ['fake-small', 'fake-large'];

function checkLatency(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new Error(`latency must be a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
  return ms;
}

export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const host = opts.host ?? '127.0.0.1';
  const models = opts.models ?? DEFAULT_MODELS;
  const state = new FakeState({
    latencyMs: checkLatency(opts.latencyMs ?? 0),
    rules: opts.rules ?? [],
    models,
    acceptAnyModel: opts.acceptAnyModel ?? false,
    apiKey: opts.apiKey,
    recordCalls: opts.recordCalls ?? true,
  });
  const tagsBody = ollamaTagsBody(models);
  const modelsBody = openAiModelsBody(models);
  const versionBody = JSON.stringify({ version: OLLAMA_VERSION });

  async function control(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (path === '/_fake/calls' && req.method === 'GET') return sendJson(res, 200, state.calls);
    if (req.method !== 'POST') return sendJson(res, 405, { error: `${req.method} not allowed on ${path}` });
    if (path === '/_fake/reset') {
      state.reset();
      return sendJson(res, 200, { ok: true });
    }
    const body = await readJson(req);
    if (!body.ok) return sendJson(res, 400, { error: `invalid JSON: ${body.error}` });
    try {
      if (path === '/_fake/rules') {
        state.setRules(body.value as Rule[]);
        return sendJson(res, 200, { ok: true });
      }
      if (path === '/_fake/latency') {
        state.latencyMs = checkLatency((body.value as { ms?: unknown } | null)?.ms);
        return sendJson(res, 200, { ok: true });
      }
    } catch (err) {
      return sendJson(res, 400, { error: (err as Error).message });
    }
    sendJson(res, 404, { error: `unknown control endpoint ${path}` });
  }

  async function route(req: IncomingMessage, res: ServerResponse, startedAt: number): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path.startsWith('/v1/')) {
      if (!checkOpenAiAuth(state, req, res)) return;
      if (path === '/v1/chat/completions' && method === 'POST') return openAiChat(state, req, res);
      if (path === '/v1/embeddings' && method === 'POST') return openAiEmbed(state, req, res);
      if (path === '/v1/models' && method === 'GET') return sendText(res, 200, modelsBody, JSON_TYPE);
      if (path.startsWith('/v1/models/') && method === 'GET') {
        return openAiModel(state, res, decodeURIComponent(path.slice('/v1/models/'.length)));
      }
      return sendOpenAiError(res, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error', null);
    }
    if (path === '/api/chat' && method === 'POST') return ollamaChat(state, req, res, startedAt);
    if (path === '/api/embed' && method === 'POST') return ollamaEmbed(state, req, res, false);
    if (path === '/api/embeddings' && method === 'POST') return ollamaEmbed(state, req, res, true);
    if (path === '/api/tags' && method === 'GET') return sendText(res, 200, tagsBody, JSON_TYPE);
    if (path === '/api/version' && method === 'GET') return sendText(res, 200, versionBody, JSON_TYPE);
    // Health checks written for a real Ollama probe its root.
    if (path === '/' && (method === 'GET' || method === 'HEAD')) {
      return sendText(res, 200, 'Ollama is running', 'text/plain; charset=utf-8');
    }
    if (path.startsWith('/_fake/')) return control(path, req, res);
    // Ollama's router answers unknown routes in plain text.
    sendText(res, 404, '404 page not found', 'text/plain');
  }

  const server = createServer({ noDelay: true }, (req, res) => {
    route(req, res, performance.now()).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = err instanceof BodyTooLargeError ? 413 : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (req.url?.startsWith('/v1/')) {
        const type = status === 413 ? 'invalid_request_error' : 'server_error';
        sendOpenAiError(res, status, message, type, null, null, { connection: 'close' });
        return;
      }
      sendJson(res, status, { error: message }, { connection: 'close' });
    });
  });

  // Hanging requests would keep server.close() waiting forever, so every socket is tracked
  // and cut on close.
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    calls: state.calls,
    embeddingCalls: state.embeddingCalls,
    setRules: (rules) => state.setRules(rules),
    setLatency: (ms) => {
      state.latencyMs = checkLatency(ms);
    },
    reset: () => state.reset(),
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
