/** A tool the model asked to call, with its arguments already parsed from JSON. */
export interface ToolCall {
  /** The provider's id for the call (OpenAI); generated where the provider has none (Ollama). */
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** A tool offered to the model: name, what it does, and its parameters as JSON Schema. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string; toolCallId: string; name: string };

export interface ChatOptions {
  /** Offered to the model with native tool calling (OpenAI `tools`, Ollama `tools`). */
  tools?: ToolSpec[];
}

export interface ChatResult {
  content: string;
  /** Set when the model answered with tool calls instead of (or besides) text. */
  toolCalls?: ToolCall[];
  promptTokens?: number;
  completionTokens?: number;
}

/** What every model backend offers the worker. One behaviour suite runs against each implementation. */
export interface ChatModel {
  readonly provider: 'ollama' | 'openai';
  readonly model: string;
  /** `provider/model`, used in logs, metrics and stored turns. */
  readonly label: string;
  chat(messages: ChatMessage[], signal: AbortSignal, options?: ChatOptions): Promise<ChatResult>;
}

/** A failed model call, classified so the chain knows whether to retry the same model. */
export class ModelCallError extends Error {
  constructor(
    message: string,
    readonly reason:
      | 'rate_limited'
      | 'server_error'
      | 'timeout'
      | 'network'
      | 'bad_response'
      | 'client_error',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ModelCallError';
  }

  get retryable(): boolean {
    return this.reason !== 'client_error';
  }
}

export function classifyStatus(status: number | undefined): ModelCallError['reason'] {
  if (status === 429) return 'rate_limited';
  if (status !== undefined && status >= 500) return 'server_error';
  if (status === 408) return 'timeout';
  return 'client_error';
}
