import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type {
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { bufferedFetch } from './http-fetch.ts';
import {
  type ChatMessage,
  type ChatModel,
  type ChatOptions,
  type ChatResult,
  classifyStatus,
  ModelCallError,
  type ToolCall,
  type ToolSpec,
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

  async chat(messages: ChatMessage[], signal: AbortSignal, options?: ChatOptions): Promise<ChatResult> {
    try {
      // OpenAI rejects an empty `tools` array, so no tools means no field at all.
      const tools = options?.tools?.length ? options.tools.map(toOpenAiTool) : undefined;
      const res = await this.client.chat.completions.create(
        { model: this.model, messages: messages.map(toOpenAiMessage), ...(tools ? { tools } : {}) },
        { signal },
      );
      const message = res.choices?.[0]?.message;
      const toolCalls = message?.tool_calls?.length ? message.tool_calls.map(fromOpenAiCall) : undefined;
      // A reply that only calls tools carries `content: null`.
      const content = message?.content ?? (toolCalls ? '' : undefined);
      if (typeof content !== 'string') throw new ModelCallError('no message in response', 'bad_response');
      return {
        content,
        ...(toolCalls ? { toolCalls } : {}),
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

function toOpenAiTool(spec: ToolSpec): ChatCompletionTool {
  return {
    type: 'function',
    function: { name: spec.name, description: spec.description, parameters: spec.parameters },
  };
}

function toOpenAiMessage(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'assistant':
      if (!m.toolCalls?.length) return { role: 'assistant', content: m.content };
      return {
        role: 'assistant',
        // OpenAI's own replies that only call tools carry null; some compatible servers refuse "".
        content: m.content === '' ? null : m.content,
        tool_calls: m.toolCalls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.name, arguments: JSON.stringify(c.arguments) },
        })),
      };
    case 'tool':
      return { role: 'tool', content: m.content, tool_call_id: m.toolCallId };
    default:
      return { role: m.role, content: m.content };
  }
}

/**
 * OpenAI sends arguments as a JSON string the model wrote. One that does not parse to an object is a
 * bad response: the chain retries the call (sampling often fixes it), then falls back to the next
 * model, the same as for any other unusable reply.
 */
function fromOpenAiCall(call: ChatCompletionMessageToolCall): ToolCall {
  if (call.type !== 'function' || typeof call.function?.name !== 'string' || call.function.name === '')
    throw new ModelCallError('tool call is not a named function call', 'bad_response');
  const name = call.function.name;
  const raw = call.function.arguments ?? '';
  let args: unknown;
  // Some compatible servers send "" for a function without parameters.
  if (raw.trim() === '') args = {};
  else {
    try {
      args = JSON.parse(raw);
    } catch {
      args = undefined;
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    // NOTE: the arguments themselves stay out of the message: it is logged, and they may hold secrets.
    throw new ModelCallError(`tool call ${name}: arguments are not a JSON object`, 'bad_response');
  }
  // Compatible servers that omit the id still need one so the result can be paired with its call.
  return { id: call.id || `call_${randomUUID()}`, name, arguments: args as Record<string, unknown> };
}
