export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatResult {
  content: string;
  promptTokens?: number;
  completionTokens?: number;
}

/** What every model backend offers the worker. One behaviour suite runs against each implementation. */
export interface ChatModel {
  readonly provider: 'ollama' | 'openai';
  readonly model: string;
  /** `provider/model`, used in logs, metrics and stored turns. */
  readonly label: string;
  chat(messages: ChatMessage[], signal: AbortSignal): Promise<ChatResult>;
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
