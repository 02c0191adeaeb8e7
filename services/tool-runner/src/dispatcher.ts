import {
  errorMessage,
  type Logger,
  TOOL_PROTOCOL_VERSION,
  type ToolCallContext,
  type ToolErrorCode,
  type ToolRequest,
  type ToolResult,
  traceFields,
} from '@switchboard/core';
import { z } from 'zod';
import type { GrantResolver } from './grants/resolver.ts';
import type { ToolRunnerMetrics } from './metrics.ts';
import { type Tool, ToolError, type ToolOutput } from './tool.ts';
import type { Workspace } from './tools/workspace.ts';

/** Codes that mean "we said no" rather than "it went wrong": logged as refusals. */
const REFUSALS = new Set<ToolErrorCode>([
  'TOOL_UNKNOWN',
  'TOOL_NOT_ALLOWED',
  'TOOL_BAD_ARGUMENTS',
  'TOOL_REFUSED',
]);

export interface DispatcherOptions {
  /** Tools this installation serves at all (TOOLS_ENABLED). */
  enabled: ReadonlySet<string>;
  /** What the caller's route or workflow grants, read from PostgreSQL by the runner itself. */
  grants: Pick<GrantResolver, 'resolve'>;
  /** The workspace root; each call works in its caller's own folder under it. */
  workspace: Workspace;
  log: Logger;
  metrics?: ToolRunnerMetrics;
}

/**
 * Runs one tool request the way the runner trusts it: not at all. The tool must exist, be enabled
 * here, be granted to the caller's route or workflow as stored in PostgreSQL (the request's own
 * list can only narrow that), and get arguments its schema accepts; then it runs against the
 * request's deadline in the caller's own workspace folder. Whatever happens becomes a ToolResult
 * whose message the model can read, and refusals are logged with the caller.
 */
export class ToolDispatcher {
  private readonly tools = new Map<string, Tool>();
  private readonly enabled: ReadonlySet<string>;
  private readonly log: Logger;
  private readonly metrics: ToolRunnerMetrics | undefined;

  constructor(
    tools: Tool[],
    private readonly o: DispatcherOptions,
  ) {
    this.enabled = o.enabled;
    this.log = o.log;
    this.metrics = o.metrics;
    for (const t of tools) this.tools.set(t.name, t);
  }

  /** Tools this runner serves (enabled and built). */
  get names(): string[] {
    return [...this.tools.keys()].filter((n) => this.enabled.has(n));
  }

  handle = async (request: ToolRequest, call: ToolCallContext): Promise<ToolResult> => {
    const started = Date.now();
    const tool = this.tools.get(request.tool);
    let out: ToolOutput;
    try {
      if (!tool || !this.enabled.has(request.tool)) {
        throw new ToolError(
          'TOOL_UNKNOWN',
          `there is no tool "${request.tool.slice(0, 64)}"; available tools: ${this.names.join(', ') || 'none'}`,
        );
      }
      await this.checkGrant(request);
      if (!request.allowedTools.includes(request.tool)) {
        throw new ToolError(
          'TOOL_NOT_ALLOWED',
          `the tool "${request.tool}" is not allowed in this conversation`,
        );
      }
      const parsed = tool.args.safeParse(request.arguments);
      if (!parsed.success) {
        throw new ToolError(
          'TOOL_BAD_ARGUMENTS',
          `invalid arguments for ${request.tool}: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`,
        );
      }
      let workspace: Promise<Workspace> | undefined;
      out = await tool.run(parsed.data, {
        request,
        signal: call.signal,
        deadline: call.deadline,
        log: this.log,
        workspace: () => {
          workspace ??= this.o.workspace.forCaller(request.caller);
          return workspace;
        },
      });
    } catch (err) {
      out = this.failure(err, request, call);
    }
    return this.finish(request, out, started, tool !== undefined);
  };

  /** Refuses unless the grant the runner reads for this caller includes the tool. */
  private async checkGrant(request: ToolRequest): Promise<void> {
    let decision: Awaited<ReturnType<GrantResolver['resolve']>>;
    try {
      decision = await this.o.grants.resolve(request.caller);
    } catch (err) {
      this.log.error('grant lookup failed', {
        ...traceFields(request.caller.traceId, { tool: request.tool, call_id: request.id }),
        error: { message: errorMessage(err) },
      });
      throw new ToolError('TOOL_UNAVAILABLE', 'the tool service cannot check permissions right now');
    }
    if (!decision.ok) {
      throw new ToolError(
        'TOOL_NOT_ALLOWED',
        `the tool "${request.tool}" is not allowed: ${decision.reason}`,
      );
    }
    if (!decision.tools.has(request.tool)) {
      throw new ToolError(
        'TOOL_NOT_ALLOWED',
        `the tool "${request.tool}" is not granted to this ${request.caller.grant?.kind ?? 'caller'}`,
      );
    }
  }

  private failure(err: unknown, request: ToolRequest, call: ToolCallContext): ToolOutput {
    if (err instanceof ToolError) {
      return {
        output: err.partial ? `${err.partial.output}\n${err.message}` : err.message,
        truncated: err.partial?.truncated ?? false,
        error: { code: err.code, message: err.message },
      };
    }
    if (call.signal.aborted) {
      const message = `${request.tool} was stopped at the call's deadline (${request.timeoutMs} ms)`;
      return { output: message, error: { code: 'TOOL_TIMEOUT', message } };
    }
    this.log.error('tool crashed', {
      ...traceFields(request.caller.traceId, { tool: request.tool, call_id: request.id }),
      error: { message: errorMessage(err), stack_trace: (err as Error)?.stack },
    });
    const message = `${request.tool} failed: ${errorMessage(err)}`;
    return { output: message, error: { code: 'TOOL_FAILED', message } };
  }

  private finish(request: ToolRequest, out: ToolOutput, started: number, known: boolean): ToolResult {
    const durationMs = Date.now() - started;
    const { caller } = request;
    const fields = {
      ...traceFields(caller.traceId, {
        platform: caller.platform,
        conversation: caller.conversationId,
        tool: request.tool.slice(0, 64),
        call_id: request.id,
        route: caller.route,
      }),
      user: { id: caller.userId },
      event: { duration: durationMs * 1e6 },
    };
    const code = out.error?.code;
    if (!code)
      this.log.info('tool call done', {
        ...fields,
        labels: { ...fields.labels, output_bytes: String(out.output.length) },
      });
    else if (REFUSALS.has(code)) this.log.warn('tool call refused', { ...fields, error: out.error });
    else this.log.warn('tool call failed', { ...fields, error: out.error });
    const label = known ? request.tool : 'unknown';
    this.metrics?.calls.inc({ tool: label, outcome: code ?? 'ok' });
    this.metrics?.duration.observe({ tool: label }, durationMs / 1000);
    return {
      v: TOOL_PROTOCOL_VERSION,
      id: request.id,
      ok: !code,
      output: out.output,
      truncated: out.truncated ?? false,
      error: out.error,
      attachments: out.attachments ?? [],
      durationMs,
    };
  }
}
