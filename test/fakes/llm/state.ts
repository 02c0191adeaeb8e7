import type { RecordedEmbedding } from './embeddings.ts';
import type { Api, Fault, Rule, ToolCallSpec } from './rules.ts';
import { lastUserText, normaliseModel, RuleBook } from './rules.ts';

export interface RecordedMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface RecordedCall {
  api: Api;
  model: string;
  messages: RecordedMessage[];
  tools: unknown[] | undefined;
  /** The effective mode: Ollama streams when `stream` is omitted, OpenAI does not. */
  stream: boolean;
  /** Epoch milliseconds when the request body had been read. */
  at: number;
  /** The whole parsed request body, for assertions on options such as temperature. */
  body: Record<string, unknown>;
}

export type Outcome =
  | {
      kind: 'reply';
      content: string;
      toolCalls: readonly ToolCallSpec[];
      latencyMs: number;
      chunkDelayMs: number;
    }
  | { kind: 'fault'; fault: Fault; retryAfterSeconds: number; latencyMs: number };

// A long-lived standalone fake driven with recording on must not grow without limit.
const MAX_RECORDED_CALLS = 10_000;

export interface StateOptions {
  latencyMs: number;
  rules: readonly Rule[];
  models: readonly string[];
  acceptAnyModel: boolean;
  apiKey: string | undefined;
  recordCalls: boolean;
}

export class FakeState {
  readonly calls: RecordedCall[] = [];
  /** Embedding requests seen, oldest first; kept apart from chat `calls`. */
  readonly embeddingCalls: RecordedEmbedding[] = [];
  readonly models: readonly string[];
  readonly acceptAnyModel: boolean;
  readonly apiKey: string | undefined;
  readonly recordCalls: boolean;
  latencyMs: number;
  readonly #rules = new RuleBook();
  readonly #served: ReadonlySet<string>;
  readonly #initial: StateOptions;

  constructor(opts: StateOptions) {
    this.#initial = opts;
    this.models = opts.models;
    this.acceptAnyModel = opts.acceptAnyModel;
    this.apiKey = opts.apiKey;
    this.recordCalls = opts.recordCalls;
    this.latencyMs = opts.latencyMs;
    this.#served = new Set(opts.models.map(normaliseModel));
    this.#rules.set(opts.rules);
  }

  setRules(rules: readonly Rule[]): void {
    this.#rules.set(rules);
  }

  /** Back to the configuration the fake started with; `calls` is emptied in place. */
  reset(): void {
    this.calls.length = 0;
    this.embeddingCalls.length = 0;
    this.latencyMs = this.#initial.latencyMs;
    this.#rules.set(this.#initial.rules);
  }

  hasModel(model: string): boolean {
    return this.acceptAnyModel || this.#served.has(normaliseModel(model));
  }

  record(call: RecordedCall): void {
    if (!this.recordCalls) return;
    if (this.calls.length >= MAX_RECORDED_CALLS) this.calls.shift();
    this.calls.push(call);
  }

  recordEmbedding(call: RecordedEmbedding): void {
    if (!this.recordCalls) return;
    if (this.embeddingCalls.length >= MAX_RECORDED_CALLS) this.embeddingCalls.shift();
    this.embeddingCalls.push(call);
  }

  decide(api: Api, model: string, messages: readonly unknown[]): Outcome {
    const userText = lastUserText(messages);
    const rule = this.#rules.take(api, model, userText);
    const latencyMs = rule?.latencyMs ?? this.latencyMs;
    if (rule?.fault !== undefined) {
      return { kind: 'fault', fault: rule.fault, retryAfterSeconds: rule.retryAfterSeconds ?? 1, latencyMs };
    }
    const toolCalls = rule?.toolCalls ?? [];
    // A rule that only asks for tool calls answers with no text, as models do.
    const content = rule?.reply ?? (toolCalls.length > 0 ? '' : `echo: ${userText}`);
    return { kind: 'reply', content, toolCalls, latencyMs, chunkDelayMs: rule?.chunkDelayMs ?? 0 };
  }
}
