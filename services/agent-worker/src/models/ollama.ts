import { Ollama } from 'ollama';
import { bufferedFetch } from './http-fetch.ts';
import {
  type ChatMessage,
  type ChatModel,
  type ChatResult,
  classifyStatus,
  ModelCallError,
} from './provider.ts';

/** Ollama's native /api/chat through the `ollama` package. */
export class OllamaModel implements ChatModel {
  readonly provider = 'ollama' as const;
  readonly label: string;

  constructor(
    readonly model: string,
    private readonly host: string,
  ) {
    this.label = `ollama/${model}`;
  }

  async chat(messages: ChatMessage[], signal: AbortSignal): Promise<ChatResult> {
    // The client's own abort() cancels every request it made; a per-call fetch carries the per-call signal.
    const client = new Ollama({
      host: this.host,
      fetch: (input, init) => bufferedFetch(input, { ...init, signal }),
    });
    try {
      const res = await client.chat({ model: this.model, messages, stream: false });
      if (typeof res?.message?.content !== 'string')
        throw new ModelCallError('no message in response', 'bad_response');
      return {
        content: res.message.content,
        promptTokens: res.prompt_eval_count,
        completionTokens: res.eval_count,
      };
    } catch (err) {
      throw toModelError(err, signal);
    }
  }
}

function toModelError(err: unknown, signal: AbortSignal): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (signal.aborted) return new ModelCallError('timed out', 'timeout');
  const e = err as { name?: string; status_code?: number; message?: string };
  if (e?.name === 'ResponseError')
    return new ModelCallError(e.message ?? 'error', classifyStatus(e.status_code), e.status_code);
  if (err instanceof SyntaxError)
    return new ModelCallError(`malformed response: ${err.message}`, 'bad_response');
  return new ModelCallError(e?.message ?? String(err), 'network');
}
