import { randomUUID } from 'node:crypto';
import type { Logger, ToolCaller, ToolErrorCode } from '@switchboard/core';
import type { ChainResult, ModelChain } from '../models/chain.ts';
import type { ChatMessage, ToolCall, ToolSpec } from '../models/provider.ts';
import type {
  ToolAttachment,
  ToolCallRecord,
  ToolCallStart,
  ToolCallStatus,
  ToolExecutor,
  ToolOutcome,
} from './types.ts';

export interface ToolLoopSettings {
  /** Model replies whose tool calls are run for one message; then the model must answer without tools. */
  maxRounds: number;
  /** Calls of one reply beyond this are refused, not run. */
  maxCallsPerRound: number;
  defaultTimeoutMs: number;
  /** Per tool name, replacing the default. */
  timeoutsMs: Readonly<Record<string, number>>;
  /** Longer tool output is cut before the model reads it. */
  outputMaxChars: number;
}

export interface ToolLoopDeps {
  chain: Pick<ModelChain, 'complete'>;
  tools: ToolExecutor;
  settings: ToolLoopSettings;
  log: Logger;
  /**
   * Stores a round's calls before the loop goes on (ToolCallStore.record). A failure ends the loop
   * with that error: no tool runs that could not be recorded.
   */
  record?: (caller: ToolCaller, calls: ToolCallRecord[]) => Promise<void>;
  /**
   * Writes a call as started just before it runs (ToolCallStore.start), so a crash mid-call leaves
   * a visible row. A failure ends the loop with that error and the call does not run.
   */
  start?: (caller: ToolCaller, call: ToolCallStart) => Promise<void>;
  hooks?: { onToolCall?(tool: string, status: ToolCallStatus, seconds: number): void };
}

export interface ToolLoopInput {
  /** The prompt: system, history and the user's message. Not modified. */
  messages: ChatMessage[];
  caller: ToolCaller;
  /** Names of the tools the route allows; only those that exist are offered. */
  allowedTools: readonly string[];
}

export interface ToolLoopResult {
  content: string;
  /** The model that gave the final answer. */
  model: string;
  /** Summed over every model call; undefined when no call reported them. */
  promptTokens?: number;
  completionTokens?: number;
  toolCalls: ToolCallRecord[];
  /** Files the tools produced (a screenshot…), to send with the reply. */
  attachments: ToolAttachment[];
  modelCalls: number;
  /** The model still wanted tools after `maxRounds` and was made to answer without them. */
  hitStepLimit: boolean;
}

/** Told to the model when it has used its rounds. */
export function stepLimitNote(maxRounds: number): string {
  return (
    `You have used all ${maxRounds} rounds of tool calls allowed for one message. Do not call tools ` +
    'any more: answer the user now with what you have found, and say what is still unknown.'
  );
}

/** The reply when even the answer without tools came back empty. */
export function stepLimitReply(maxRounds: number): string {
  return (
    `I stopped after ${maxRounds} rounds of tool calls without reaching an answer. ` +
    'Please narrow the request and ask again.'
  );
}

/**
 * Answers one message, letting the model call tools: each round the model is offered the allowed
 * tools, every call it makes is run (unknown or disallowed names are answered with an error, not
 * run) and the results go back as tool messages, until it answers in text or the step limit makes
 * it answer without tools. Model failures propagate as the chain throws them.
 */
export async function runToolLoop(deps: ToolLoopDeps, input: ToolLoopInput): Promise<ToolLoopResult> {
  const { chain, tools, settings } = deps;
  const offered = tools.specs(input.allowedTools);
  const offeredNames = offered.map((s) => s.name);
  const messages = [...input.messages];
  const records: ToolCallRecord[] = [];
  const attachments: ToolAttachment[] = [];
  const usage = new UsageSum();

  const finish = (reply: ChainResult, modelCalls: number, hitStepLimit: boolean): ToolLoopResult => ({
    content: reply.content,
    model: reply.model,
    ...usage.totals(),
    toolCalls: records,
    attachments,
    modelCalls,
    hitStepLimit,
  });

  if (offered.length === 0) {
    const reply = await chain.complete(messages, input.caller.traceId);
    usage.add(reply.promptTokens, reply.completionTokens);
    return finish(reply, 1, false);
  }

  for (let round = 1; round <= settings.maxRounds; round++) {
    const reply = await chain.complete(messages, input.caller.traceId, { tools: offered });
    usage.add(reply.promptTokens, reply.completionTokens);
    const calls = reply.toolCalls ?? [];
    if (calls.length === 0) return finish(reply, round, false);

    messages.push({ role: 'assistant', content: reply.content, toolCalls: calls });
    const done = await Promise.all(
      calls.map((call, position) => runCall(deps, input, offered, offeredNames, call, round, position)),
    );
    await deps.record?.(
      input.caller,
      done.map((d) => d.record),
    );
    for (const d of done) {
      records.push(d.record);
      attachments.push(...d.attachments);
      messages.push(d.message);
    }
  }

  // The step limit: one more call, offering no tools, so the model has to answer with what it has.
  // Calls a server invents anyway are ignored.
  messages.push({ role: 'system', content: stepLimitNote(settings.maxRounds) });
  const last = await chain.complete(messages, input.caller.traceId);
  usage.add(last.promptTokens, last.completionTokens);
  const result = finish(last, settings.maxRounds + 1, true);
  if (result.content.trim() === '') result.content = stepLimitReply(settings.maxRounds);
  return result;
}

async function runCall(
  deps: ToolLoopDeps,
  input: ToolLoopInput,
  offered: ToolSpec[],
  offeredNames: string[],
  call: ToolCall,
  round: number,
  position: number,
): Promise<{ record: ToolCallRecord; message: ChatMessage; attachments: ToolAttachment[] }> {
  const { settings } = deps;
  // The name is the model's text: keep what is stored and echoed bounded.
  const name = call.name.slice(0, 128);
  const id = randomUUID();
  let outcome: ToolOutcome;
  if (position >= settings.maxCallsPerRound) {
    outcome = refusal(
      'TOOL_REFUSED',
      `too many tool calls in one reply (at most ${settings.maxCallsPerRound}); call fewer at once`,
    );
  } else if (!offered.some((s) => s.name === name)) {
    const available = offeredNames.length > 0 ? offeredNames.join(', ') : 'none';
    outcome = deps.tools.has(name)
      ? refusal('TOOL_NOT_ALLOWED', `the tool "${name}" is not available here. Available tools: ${available}`)
      : refusal('TOOL_UNKNOWN', `there is no tool named "${name}". Available tools: ${available}`);
  } else {
    await deps.start?.(input.caller, {
      id,
      callId: call.id,
      round,
      position,
      tool: name,
      arguments: call.arguments,
    });
    outcome = await deps.tools.execute(name, call.arguments, {
      requestId: id,
      caller: input.caller,
      allowedTools: offeredNames,
      timeoutMs: settings.timeoutsMs[name] ?? settings.defaultTimeoutMs,
    });
  }

  const { text, truncated } = modelText(outcome, settings.outputMaxChars);
  const status = statusOf(outcome);
  const record: ToolCallRecord = {
    id,
    callId: call.id,
    round,
    position,
    tool: name,
    arguments: call.arguments,
    status,
    ...(outcome.error ? { errorCode: outcome.error.code } : {}),
    durationMs: Math.max(0, Math.round(outcome.durationMs)),
    outputBytes: Buffer.byteLength(text),
    truncated,
  };
  deps.hooks?.onToolCall?.(name, status, record.durationMs / 1000);
  // NOTE: arguments and output stay out of the log: either may hold what a user typed, secrets included.
  deps.log[status === 'ok' ? 'info' : 'warn']('tool call', {
    trace: { id: input.caller.traceId },
    labels: {
      platform: input.caller.platform,
      conversation: input.caller.conversationId,
      route: input.caller.route,
      tool: name,
    },
    event: { outcome: status, duration: record.durationMs * 1e6 },
    ...(outcome.error ? { error: { code: outcome.error.code } } : {}),
    tool_call: { id, round, output_bytes: record.outputBytes, truncated },
  });
  return {
    record,
    message: { role: 'tool', toolCallId: call.id, name, content: text },
    attachments: outcome.attachments,
  };
}

function refusal(code: ToolErrorCode, message: string): ToolOutcome {
  return {
    ok: false,
    output: '',
    truncated: false,
    error: { code, message },
    attachments: [],
    durationMs: 0,
  };
}

const REFUSED: ReadonlySet<ToolErrorCode> = new Set([
  'TOOL_UNKNOWN',
  'TOOL_NOT_ALLOWED',
  'TOOL_BAD_ARGUMENTS',
  'TOOL_REFUSED',
]);

function statusOf(outcome: ToolOutcome): ToolCallStatus {
  if (outcome.ok) return 'ok';
  const code = outcome.error?.code;
  if (code === 'TOOL_TIMEOUT') return 'timeout';
  if (code !== undefined && REFUSED.has(code)) return 'refused';
  return 'error';
}

/** What the model reads of a result: the output, or the error with its code, capped. */
function modelText(outcome: ToolOutcome, maxChars: number): { text: string; truncated: boolean } {
  const output = outcome.output;
  const cut = output.length > maxChars;
  const body = cut ? output.slice(0, maxChars) : output;
  const truncated = cut || outcome.truncated;
  const note = truncated ? '\n[output truncated]' : '';
  if (outcome.ok) return { text: body + note, truncated };
  const code = outcome.error?.code ?? 'TOOL_FAILED';
  const reason = outcome.error?.message || 'the tool failed';
  const head = `Error ${code}: ${reason}`;
  // The tool-runner may put the reason in both places; say it once.
  return { text: body && body !== reason ? `${head}\n${body}${note}` : head, truncated };
}

class UsageSum {
  #prompt?: number;
  #completion?: number;

  add(prompt: number | undefined, completion: number | undefined): void {
    if (prompt !== undefined) this.#prompt = (this.#prompt ?? 0) + prompt;
    if (completion !== undefined) this.#completion = (this.#completion ?? 0) + completion;
  }

  totals(): { promptTokens?: number; completionTokens?: number } {
    return {
      ...(this.#prompt !== undefined ? { promptTokens: this.#prompt } : {}),
      ...(this.#completion !== undefined ? { completionTokens: this.#completion } : {}),
    };
  }
}
