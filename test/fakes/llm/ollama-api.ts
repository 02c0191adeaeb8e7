import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  estimateTokens,
  JSON_TYPE,
  readJson,
  sendJson,
  splitTokens,
  waitFor,
  writeStream,
  writeThenDestroy,
} from './http.ts';
import type { ToolCallSpec } from './rules.ts';
import { contentText } from './rules.ts';
import type { FakeState, Outcome, RecordedMessage } from './state.ts';

export const OLLAMA_VERSION = '0.12.6';
const NDJSON_TYPE = 'application/x-ndjson';

function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error }, headers);
}

/** `GET /api/tags` never changes for one fake, so its body is built once. */
export function ollamaTagsBody(models: readonly string[]): string {
  const modifiedAt = new Date().toISOString();
  return JSON.stringify({
    models: models.map((name) => {
      // Ollama always lists a tag; `fake-small` is served as `fake-small:latest`.
      const tagged = name.includes(':') ? name : `${name}:latest`;
      return {
        name: tagged,
        model: tagged,
        modified_at: modifiedAt,
        size: 1_000_000_000,
        digest: createHash('sha256').update(tagged).digest('hex'),
        details: {
          parent_model: '',
          format: 'gguf',
          family: 'fake',
          families: ['fake'],
          parameter_size: '1B',
          quantization_level: 'Q4_K_M',
        },
      };
    }),
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export async function ollamaChat(
  state: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
  startedAt: number,
): Promise<void> {
  const parsed = await readJson(req);
  if (!parsed.ok) return sendError(res, 400, parsed.error);
  const body = parsed.value;
  if (!isRecord(body))
    return sendError(res, 400, 'json: cannot unmarshal into Go value of type api.ChatRequest');
  const model = typeof body.model === 'string' ? body.model : '';
  if (model === '') return sendError(res, 400, 'model is required');
  const messages = body.messages ?? [];
  if (!Array.isArray(messages)) {
    return sendError(
      res,
      400,
      'json: cannot unmarshal into Go struct field ChatRequest.messages of type []api.Message',
    );
  }
  // Ollama's `stream` is a *bool: only an explicit false turns streaming off.
  const stream = body.stream !== false;
  state.record({
    api: 'ollama',
    model,
    messages: messages as RecordedMessage[],
    tools: Array.isArray(body.tools) ? body.tools : undefined,
    stream,
    at: Date.now(),
    body,
  });
  if (!state.hasModel(model)) return sendError(res, 404, `model "${model}" not found, try pulling it first`);

  const outcome = state.decide('ollama', model, messages);
  if (outcome.latencyMs > 0 && !(await waitFor(res, outcome.latencyMs))) return;
  const reply = new OllamaReply(model, messages, startedAt);

  if (outcome.kind === 'fault') {
    switch (outcome.fault) {
      case 'hang':
        return;
      case '429':
        return sendError(res, 429, 'rate limit exceeded, please retry later', {
          'retry-after': String(outcome.retryAfterSeconds),
        });
      case '500':
        return sendError(res, 500, 'an error was encountered while running the model: unexpected EOF');
      case 'malformed':
        if (stream) {
          res.writeHead(200, { 'content-type': NDJSON_TYPE });
          res.end(reply.chunk('fake') + truncate(reply.chunk(' broken')));
          return;
        }
        return sendBroken(res, reply.final('fake broken reply', []));
      case 'disconnect':
        if (stream) {
          res.writeHead(200, { 'content-type': NDJSON_TYPE });
          writeThenDestroy(res, reply.chunk('fake'));
          return;
        }
        {
          const full = reply.final('fake disconnected reply', []);
          res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(full) });
          writeThenDestroy(res, truncate(full));
        }
        return;
    }
  }

  if (!stream) {
    const text = reply.final(outcome.content, outcome.toolCalls);
    res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.writeHead(200, { 'content-type': NDJSON_TYPE });
  await writeStream(res, reply.streamParts(outcome), outcome.kind === 'reply' ? outcome.chunkDelayMs : 0);
}

/** Half of a JSON document: valid UTF-8, invalid JSON. */
function truncate(json: string): string {
  return `${json.slice(0, Math.max(1, Math.floor(json.length / 2)))}\n`;
}

function sendBroken(res: ServerResponse, json: string): void {
  const text = truncate(json);
  res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

class OllamaReply {
  readonly #prefix: string;
  readonly #promptChars: number;
  readonly #startedAt: number;

  constructor(model: string, messages: readonly unknown[], startedAt: number) {
    this.#startedAt = startedAt;
    // Every line of a reply starts the same way; building it once keeps chunks cheap.
    this.#prefix = `{"model":${JSON.stringify(model)},"created_at":"${new Date().toISOString()}","message":{"role":"assistant","content":`;
    let chars = 0;
    for (const m of messages) chars += contentText((m as { content?: unknown } | null)?.content).length;
    this.#promptChars = chars;
  }

  chunk(content: string): string {
    return `${this.#prefix}${JSON.stringify(content)}},"done":false}\n`;
  }

  streamParts(outcome: Extract<Outcome, { kind: 'reply' }>): string[] {
    const tokens = splitTokens(outcome.content);
    const parts = tokens.map((t) => this.chunk(t));
    if (outcome.toolCalls.length > 0) {
      parts.push(`${this.#prefix}"","tool_calls":${toolCallsJson(outcome.toolCalls)}},"done":false}\n`);
    }
    parts.push(`${this.#done('', [], tokens.length)}\n`);
    return parts;
  }

  final(content: string, toolCalls: readonly ToolCallSpec[]): string {
    return this.#done(content, toolCalls, splitTokens(content).length);
  }

  #done(content: string, toolCalls: readonly ToolCallSpec[], evalCount: number): string {
    const total = Math.max(1, Math.round((performance.now() - this.#startedAt) * 1e6));
    const load = Math.round(total * 0.1);
    const promptEval = Math.round(total * 0.2);
    const calls = toolCalls.length > 0 ? `,"tool_calls":${toolCallsJson(toolCalls)}` : '';
    return (
      `${this.#prefix}${JSON.stringify(content)}${calls}},"done_reason":"stop","done":true,` +
      `"total_duration":${total},"load_duration":${load},` +
      `"prompt_eval_count":${estimateTokens(this.#promptChars)},"prompt_eval_duration":${promptEval},` +
      `"eval_count":${Math.max(1, evalCount)},"eval_duration":${total - load - promptEval}}`
    );
  }
}

function toolCallsJson(toolCalls: readonly ToolCallSpec[]): string {
  return JSON.stringify(
    toolCalls.map((c) => ({ function: { name: c.name, arguments: c.rawArguments ?? c.arguments } })),
  );
}
