import { randomUUID } from 'node:crypto';
import { type Message, Ollama, type ToolCall as OllamaToolCall, type Tool } from 'ollama';
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

  async chat(messages: ChatMessage[], signal: AbortSignal, options?: ChatOptions): Promise<ChatResult> {
    // The client's own abort() cancels every request it made; a per-call fetch carries the per-call signal.
    const client = new Ollama({
      host: this.host,
      fetch: (input, init) => bufferedFetch(input, { ...init, signal }),
    });
    try {
      const tools = options?.tools?.length ? options.tools.map(toOllamaTool) : undefined;
      const res = await client.chat({
        model: this.model,
        messages: messages.map(toOllamaMessage),
        ...(tools ? { tools } : {}),
        stream: false,
      });
      if (typeof res?.message?.content !== 'string')
        throw new ModelCallError('no message in response', 'bad_response');
      const toolCalls = res.message.tool_calls?.length
        ? res.message.tool_calls.map(fromOllamaCall)
        : undefined;
      return {
        content: res.message.content,
        ...(toolCalls ? { toolCalls } : {}),
        promptTokens: res.prompt_eval_count,
        completionTokens: res.eval_count,
      };
    } catch (err) {
      throw toModelError(err, signal);
    }
  }
}

function toOllamaTool(spec: ToolSpec): Tool {
  // The package types JSON Schema narrowly; the schema goes over the wire as given.
  return {
    type: 'function',
    function: {
      name: spec.name,
      description: spec.description,
      parameters: spec.parameters as Tool['function']['parameters'],
    },
  };
}

function toOllamaMessage(m: ChatMessage): Message {
  switch (m.role) {
    case 'assistant':
      return m.toolCalls?.length
        ? {
            role: 'assistant',
            content: m.content,
            tool_calls: m.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })),
          }
        : { role: 'assistant', content: m.content };
    case 'tool':
      // Ollama matches a result to its call by tool name; it has no call ids.
      return { role: 'tool', content: m.content, tool_name: m.name };
    default:
      return { role: m.role, content: m.content };
  }
}

function fromOllamaCall(call: OllamaToolCall): ToolCall {
  const fn = call?.function;
  if (typeof fn?.name !== 'string' || fn.name === '')
    throw new ModelCallError('tool call without a function name', 'bad_response');
  const args: unknown = fn.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    // NOTE: the arguments themselves stay out of the message: it is logged, and they may hold secrets.
    throw new ModelCallError(`tool call ${fn.name}: arguments are not a JSON object`, 'bad_response');
  }
  // Newer Ollama servers send an id; older ones do not, and the worker needs one to pair results.
  const id = (call as { id?: unknown }).id;
  return {
    id: typeof id === 'string' && id !== '' ? id : `call_${randomUUID()}`,
    name: fn.name,
    arguments: args as Record<string, unknown>,
  };
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
