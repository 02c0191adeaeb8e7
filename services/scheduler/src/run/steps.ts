import {
  TOOL_PROTOCOL_VERSION,
  type ToolErrorCode,
  type ToolInvoker,
  type ToolRequest,
  type ToolResult,
} from '@switchboard/core';
import type { WorkflowStep } from '@switchboard/workflows';
import { WorkflowError, WorkflowErrorCode } from '@switchboard/workflows';
import type { ModelChain } from '../../../agent-worker/src/models/chain.ts';
import type { SkillRpcClient } from '../../../agent-worker/src/skills/rpc.ts';
import { type HttpStepOptions, httpStep } from './http-step.ts';

/** Tool answers that will be the same on every try: the step fails at once. */
const FINAL_TOOL_CODES = new Set<ToolErrorCode>([
  'TOOL_UNKNOWN',
  'TOOL_NOT_ALLOWED',
  'TOOL_BAD_ARGUMENTS',
  'TOOL_REFUSED',
]);

export interface StepCall {
  workflow: string;
  runId: string;
  traceId: string;
  attempt: number;
  timeoutMs: number;
  /** Fires at the attempt's deadline. */
  signal: AbortSignal;
}

export interface StepDeps {
  tools: ToolInvoker;
  /** Absent when MODEL_CHAIN is unset; prompt steps are then refused at load. */
  models?: ModelChain;
  /** `http` steps: the guarded agent and their limits. */
  http: HttpStepOptions;
  /** Runs skills on the agent-workers (`<prefix>.skills`); absent: skill steps fail. */
  skills?: Pick<SkillRpcClient, 'run'>;
}

function failed(message: string, retryable = true): WorkflowError {
  return new WorkflowError(WorkflowErrorCode.stepFailed, message, { retryable });
}

/** Rejects when the attempt's deadline passes, whatever the work itself does. */
function withDeadline<T>(work: Promise<T>, call: StepCall, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(failed(`${what} did not finish within ${call.timeoutMs} ms`));
    if (call.signal.aborted) return onAbort();
    call.signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => call.signal.removeEventListener('abort', onAbort));
  });
}

/** Who a workflow's tool calls and skill runs are made as. */
function workflowCaller(call: StepCall) {
  return {
    platform: 'api' as const,
    botId: 'scheduler',
    conversationId: `workflow:${call.workflow}`,
    userId: `workflow:${call.workflow}`,
    route: `workflow:${call.workflow}`,
    messageId: call.runId,
    traceId: call.traceId,
    // The tool-runner grants what this workflow's definition names, in the workflow's own folder.
    grant: { kind: 'workflow' as const, workflow: call.workflow },
  };
}

/** Calls a tool of the tool-runner as the workflow, allowed that one tool only. */
export async function callTool(
  tools: ToolInvoker,
  stepId: string,
  tool: string,
  args: Record<string, unknown>,
  call: StepCall,
): Promise<ToolResult> {
  const req: ToolRequest = {
    v: TOOL_PROTOCOL_VERSION,
    id: `wf-${call.runId}-${stepId}-${call.attempt}`.slice(0, 256),
    tool,
    arguments: args,
    caller: workflowCaller(call),
    allowedTools: [tool],
    timeoutMs: call.timeoutMs,
  };
  const res = await withDeadline(tools.invoke(req), call, tool);
  if (!res.ok) {
    const code = res.error?.code ?? 'TOOL_FAILED';
    throw failed(`${tool}: ${code}: ${res.error?.message ?? res.output}`, !FINAL_TOOL_CODES.has(code));
  }
  return res;
}

/** `$ df -h\nexit code 0\n<output>`, the shell tool's answer, split into its parts. */
function toolOutput(tool: string, res: ToolResult): Record<string, unknown> {
  const out: Record<string, unknown> = { text: res.output, truncated: res.truncated };
  if (tool === 'shell') {
    const m = /^\$ [^\n]*\n(?:exit code (-?\d+)|killed by \S+)\n([\s\S]*)$/.exec(res.output);
    if (m) {
      out.stdout = m[2];
      out.exit_code = m[1] === undefined ? null : Number(m[1]);
    }
  }
  if (res.attachments.length) out.attachments = res.attachments;
  return out;
}

/**
 * Runs one attempt of a step whose `with` is already rendered; resolves with the step's output or
 * throws a WorkflowError saying whether another attempt may help.
 */
export async function runStep(step: WorkflowStep, call: StepCall, deps: StepDeps): Promise<unknown> {
  switch (step.type) {
    case 'tool': {
      const res = await callTool(deps.tools, step.id, step.with.tool, step.with.arguments, call);
      return toolOutput(step.with.tool, res);
    }
    case 'send_message': {
      const res = await callTool(deps.tools, step.id, 'send_message', step.with, call);
      return { text: res.output };
    }
    case 'http':
      return httpStep(step.with, call, deps.http);
    case 'prompt': {
      if (!deps.models) throw failed('prompt steps need MODEL_CHAIN on the scheduler', false);
      const messages = [
        ...(step.with.system ? [{ role: 'system' as const, content: step.with.system }] : []),
        { role: 'user' as const, content: step.with.prompt },
      ];
      const res = await withDeadline(deps.models.complete(messages, call.traceId), call, 'the model').catch(
        (err: unknown) => {
          throw err instanceof WorkflowError ? err : failed(`the model failed: ${(err as Error).message}`);
        },
      );
      return {
        text: res.content,
        model: res.model,
        prompt_tokens: res.promptTokens ?? null,
        completion_tokens: res.completionTokens ?? null,
      };
    }
    case 'skill': {
      if (!deps.skills) throw failed('skill steps need the skill client on the scheduler', false);
      const { skill, text } = step.with;
      const res = await withDeadline(
        deps.skills.run({
          id: `wf-${call.runId}-${step.id}-${call.attempt}`.slice(0, 256),
          skill,
          text,
          caller: workflowCaller(call),
          timeoutMs: call.timeoutMs,
        }),
        call,
        `skill ${skill}`,
      );
      if (!res.ok) {
        const code = res.error?.code ?? 'TOOL_FAILED';
        // An unknown skill stays unknown on the next try; a failing handler or a timeout may not.
        throw failed(
          `skill ${skill}: ${code}: ${res.error?.message ?? res.output}`,
          !FINAL_TOOL_CODES.has(code),
        );
      }
      return { text: res.output, skill: res.skill, duration_ms: res.durationMs };
    }
  }
}

/** Cuts every string inside an output at `max` characters, so storage and later steps see the same value. */
export function capOutput(value: unknown, max: number): unknown {
  if (typeof value === 'string') {
    return value.length > max ? `${value.slice(0, max)}\n[cut at ${max} characters]` : value;
  }
  if (Array.isArray(value)) return value.map((v) => capOutput(v, max));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, capOutput(v, max)]));
  }
  return value;
}
