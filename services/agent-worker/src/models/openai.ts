import OpenAI from 'openai';
import { bufferedFetch } from './http-fetch.ts';
import {
  type ChatMessage,
  type ChatModel,
  type ChatResult,
  classifyStatus,
  ModelCallError,
} from './provider.ts';

/** Any OpenAI-compatible endpoint (OpenAI, relay providers, vLLM, LM Studio) through the `openai` package. */
export class OpenAiModel implements ChatModel {
  readonly provider = 'openai' as const;
  readonly label: string;
  private readonly client: OpenAI;

  constructor(
    readonly model: string,
    baseURL: string,
    apiKey: string,
  ) {
    this.label = `openai/${model}`;
    // Retries and timeouts are the chain's job, applied the same way to every provider.
    this.client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 10 * 60_000, fetch: bufferedFetch });
  }

  async chat(messages: ChatMessage[], signal: AbortSignal): Promise<ChatResult> {
    try {
      const res = await this.client.chat.completions.create({ model: this.model, messages }, { signal });
      const content = res.choices?.[0]?.message?.content;
      if (typeof content !== 'string') throw new ModelCallError('no message in response', 'bad_response');
      return {
        content,
        promptTokens: res.usage?.prompt_tokens,
        completionTokens: res.usage?.completion_tokens,
      };
    } catch (err) {
      if (err instanceof ModelCallError) throw err;
      if (signal.aborted || err instanceof OpenAI.APIUserAbortError)
        throw new ModelCallError('timed out', 'timeout');
      if (err instanceof OpenAI.APIConnectionError) throw new ModelCallError(err.message, 'network');
      if (err instanceof OpenAI.APIError) {
        // The SDK reports an unparseable 200 body as an APIError without a status.
        if (err.status === undefined) throw new ModelCallError(err.message, 'bad_response');
        throw new ModelCallError(err.message, classifyStatus(err.status), err.status);
      }
      if (err instanceof SyntaxError)
        throw new ModelCallError(`malformed response: ${err.message}`, 'bad_response');
      throw new ModelCallError((err as Error)?.message ?? String(err), 'network');
    }
  }
}
