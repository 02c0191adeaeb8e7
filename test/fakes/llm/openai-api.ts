import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
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

const SSE_TYPE = 'text/event-stream; charset=utf-8';
const FINGERPRINT = 'fp_fakellm0';
const ARGUMENT_PIECE = 12;

// Unique across fakes in one process without paying for randomness on every request.
const ID_BASE = randomBytes(4).toString('hex');
let seq = 0;
function nextId(prefix: string): string {
  seq++;
  return `${prefix}${ID_BASE}${seq.toString(36).padStart(8, '0')}`;
}

export function sendOpenAiError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  headers?: OutgoingHttpHeaders,
): void {
  sendJson(res, status, { error: { message, type, param, code } }, headers);
}

/** False (and the 401 already sent) when the fake has a key and the request does not carry it. */
export function checkOpenAiAuth(state: FakeState, req: IncomingMessage, res: ServerResponse): boolean {
  const key = state.apiKey;
  if (key === undefined) return true;
  const auth = req.headers.authorization;
  if (auth === `Bearer ${key}`) return true;
  const given = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
  const message =
    given === ''
      ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
      : `Incorrect API key provided: ${redactKey(given)}. You can find your API key at https://platform.openai.com/account/api-keys.`;
  sendOpenAiError(res, 401, message, 'invalid_request_error', 'invalid_api_key');
  return false;
}

function redactKey(key: string): string {
  return key.length <= 8 ? '***' : `${key.slice(0, 3)}***${key.slice(-4)}`;
}

function modelObject(id: string, created: number): Record<string, unknown> {
  return { id, object: 'model', created, owned_by: 'fake-llm' };
}

export function openAiModelsBody(models: readonly string[]): string {
  const created = Math.floor(Date.now() / 1000);
  return JSON.stringify({ object: 'list', data: models.map((m) => modelObject(m, created)) });
}

export function openAiModel(state: FakeState, res: ServerResponse, id: string): void {
  if (id === '' || !state.hasModel(id)) modelNotFound(res, id);
  else sendJson(res, 200, modelObject(id, Math.floor(Date.now() / 1000)));
}

function modelNotFound(res: ServerResponse, model: string): void {
  sendOpenAiError(
    res,
    404,
    `The model \`${model}\` does not exist or you do not have access to it.`,
    'invalid_request_error',
    'model_not_found',
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export async function openAiChat(state: FakeState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const parsed = await readJson(req);
  if (!parsed.ok || !isRecord(parsed.value)) {
    return sendOpenAiError(
      res,
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      'invalid_request_error',
      null,
    );
  }
  const body = parsed.value;
  const { model, messages } = body;
  if (typeof model !== 'string' || model === '') {
    return sendOpenAiError(res, 400, 'you must provide a model parameter', 'invalid_request_error', null);
  }
  if (messages === undefined) {
    return sendOpenAiError(
      res,
      400,
      "Missing required parameter: 'messages'.",
      'invalid_request_error',
      'missing_required_parameter',
      'messages',
    );
  }
  if (!Array.isArray(messages)) {
    return sendOpenAiError(
      res,
      400,
      "Invalid type for 'messages': expected an array of objects.",
      'invalid_request_error',
      'invalid_type',
      'messages',
    );
  }
  if (messages.length === 0) {
    return sendOpenAiError(
      res,
      400,
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'invalid_request_error',
      'empty_array',
      'messages',
    );
  }
  const stream = body.stream === true;
  state.record({
    api: 'openai',
    model,
    messages: messages as RecordedMessage[],
    tools: Array.isArray(body.tools) ? body.tools : undefined,
    stream,
    at: Date.now(),
    body,
  });
  if (!state.hasModel(model)) return modelNotFound(res, model);

  const outcome = state.decide('openai', model, messages);
  if (outcome.latencyMs > 0 && !(await waitFor(res, outcome.latencyMs))) return;
  const requestId = nextId('req_');
  const includeUsage = stream && isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const reply = new OpenAiReply(model, messages, includeUsage);

  if (outcome.kind === 'fault') {
    const headers = { 'x-request-id': requestId };
    switch (outcome.fault) {
      case 'hang':
        return;
      case '429':
        return sendOpenAiError(
          res,
          429,
          `Rate limit reached for requests. Please try again in ${outcome.retryAfterSeconds}s.`,
          'requests',
          'rate_limit_exceeded',
          null,
          { ...headers, 'retry-after': String(outcome.retryAfterSeconds) },
        );
      case '500':
        return sendOpenAiError(
          res,
          500,
          'The server had an error while processing your request. Sorry about that!',
          'server_error',
          null,
          null,
          headers,
        );
      case 'malformed': {
        if (stream) {
          res.writeHead(200, { ...headers, 'content-type': SSE_TYPE });
          const broken = reply.event(contentDelta('broken'));
          res.end(`${reply.event(roleDelta())}${broken.slice(0, Math.floor(broken.length / 2))}\n\n`);
          return;
        }
        const full = reply.completion('fake broken reply', []);
        const text = full.slice(0, Math.floor(full.length / 2));
        res.writeHead(200, {
          ...headers,
          'content-type': JSON_TYPE,
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
        return;
      }
      case 'disconnect': {
        if (stream) {
          res.writeHead(200, { ...headers, 'content-type': SSE_TYPE });
          writeThenDestroy(res, reply.event(roleDelta()));
          return;
        }
        const full = reply.completion('fake disconnected reply', []);
        res.writeHead(200, {
          ...headers,
          'content-type': JSON_TYPE,
          'content-length': Buffer.byteLength(full),
        });
        writeThenDestroy(res, full.slice(0, Math.floor(full.length / 2)));
        return;
      }
    }
  }

  if (!stream) {
    const text = reply.completion(outcome.content, outcome.toolCalls);
    res.writeHead(200, {
      'x-request-id': requestId,
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
    return;
  }
  res.writeHead(200, { 'x-request-id': requestId, 'content-type': SSE_TYPE, 'cache-control': 'no-cache' });
  await writeStream(res, reply.streamParts(outcome), outcome.chunkDelayMs);
}

function roleDelta(): string {
  return '{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}';
}

function contentDelta(token: string): string {
  return `{"index":0,"delta":{"content":${JSON.stringify(token)}},"logprobs":null,"finish_reason":null}`;
}

class OpenAiReply {
  readonly #head: string;
  readonly #tail: string;
  readonly #id: string;
  readonly #created: number;
  readonly #model: string;
  readonly #promptTokens: number;
  readonly #includeUsage: boolean;

  constructor(model: string, messages: readonly unknown[], includeUsage: boolean) {
    this.#id = nextId('chatcmpl-');
    this.#created = Math.floor(Date.now() / 1000);
    this.#model = model;
    this.#includeUsage = includeUsage;
    // Every chunk of one stream shares these fields; build them once.
    this.#head =
      `data: {"id":"${this.#id}","object":"chat.completion.chunk","created":${this.#created},` +
      `"model":${JSON.stringify(model)},"service_tier":"default","system_fingerprint":"${FINGERPRINT}","choices":[`;
    // With include_usage OpenAI sends `usage: null` on every chunk but the last.
    this.#tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
    let chars = 0;
    for (const m of messages) chars += contentText((m as { content?: unknown } | null)?.content).length;
    this.#promptTokens = estimateTokens(chars);
  }

  event(choice: string): string {
    return this.#head + choice + this.#tail;
  }

  #usage(completionTokens: number): Record<string, unknown> {
    return {
      prompt_tokens: this.#promptTokens,
      completion_tokens: completionTokens,
      total_tokens: this.#promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
  }

  completion(content: string, toolCalls: readonly ToolCallSpec[]): string {
    const message: Record<string, unknown> = {
      role: 'assistant',
      // OpenAI sends null, not "", when the model only calls tools.
      content: content === '' && toolCalls.length > 0 ? null : content,
      refusal: null,
      annotations: [],
    };
    if (toolCalls.length > 0) {
      message.tool_calls = toolCalls.map((c) => ({
        id: nextId('call_'),
        type: 'function',
        function: { name: c.name, arguments: c.rawArguments ?? JSON.stringify(c.arguments) },
      }));
    }
    return JSON.stringify({
      id: this.#id,
      object: 'chat.completion',
      created: this.#created,
      model: this.#model,
      choices: [
        {
          index: 0,
          message,
          logprobs: null,
          finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
        },
      ],
      usage: this.#usage(Math.max(1, splitTokens(content).length)),
      service_tier: 'default',
      system_fingerprint: FINGERPRINT,
    });
  }

  streamParts(outcome: Extract<Outcome, { kind: 'reply' }>): string[] {
    const { content, toolCalls } = outcome;
    const parts: string[] = [];
    const tokens = splitTokens(content);
    const hasText = content !== '' || toolCalls.length === 0;
    if (hasText) {
      parts.push(this.event(roleDelta()));
      for (const t of tokens) parts.push(this.event(contentDelta(t)));
    }
    toolCalls.forEach((call, index) => {
      const role = !hasText && index === 0 ? '"role":"assistant","content":null,"refusal":null,' : '';
      const header = {
        index,
        id: nextId('call_'),
        type: 'function',
        function: { name: call.name, arguments: '' },
      };
      parts.push(
        this.event(
          `{"index":0,"delta":{${role}"tool_calls":[${JSON.stringify(header)}]},"logprobs":null,"finish_reason":null}`,
        ),
      );
      const args = call.rawArguments ?? JSON.stringify(call.arguments);
      for (let i = 0; i < args.length; i += ARGUMENT_PIECE) {
        const piece = { index, function: { arguments: args.slice(i, i + ARGUMENT_PIECE) } };
        parts.push(
          this.event(
            `{"index":0,"delta":{"tool_calls":[${JSON.stringify(piece)}]},"logprobs":null,"finish_reason":null}`,
          ),
        );
      }
    });
    const finish = toolCalls.length > 0 ? 'tool_calls' : 'stop';
    parts.push(this.event(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}`));
    if (this.#includeUsage) {
      const usage = JSON.stringify(this.#usage(Math.max(1, tokens.length)));
      parts.push(`${this.#head}],"usage":${usage}}\n\n`);
    }
    parts.push('data: [DONE]\n\n');
    return parts;
  }
}
