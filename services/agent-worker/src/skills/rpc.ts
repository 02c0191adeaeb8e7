import {
  type Broker,
  type Logger,
  serveTools,
  TOOL_PROTOCOL_VERSION,
  type ToolCaller,
  type ToolErrorCode,
  type ToolResult,
  ToolRpcClient,
  type ToolServer,
  type TopologyOptions,
  toolFailure,
} from '@switchboard/core';

/**
 * Skill runs over RabbitMQ: the agent-worker serves `<prefix>.skills`, the scheduler's `skill`
 * steps call it. It is the tool RPC (packages/core/src/broker/rpc.ts) on another queue, so the
 * machinery is the same — correlation id, per-process reply queue, deadline header, one worker per
 * request, acknowledged after the reply — and so is the wire format:
 *
 * - request: a ToolRequest with `tool` = the skill's name, `arguments: {text}`, the caller, and
 *   `timeoutMs`;
 * - reply: a ToolResult with `output` = the skill's answer, or `ok: false` and `error.code`:
 *   `TOOL_UNKNOWN` (no such skill here: not worth retrying), `TOOL_FAILED` (the handler threw, every
 *   model failed), `TOOL_TIMEOUT` (the deadline passed), `TOOL_BAD_ARGUMENTS`, `TOOL_UNAVAILABLE`
 *   (no agent-worker answered or the broker is down).
 */
export function skillQueueName(prefix: string): string {
  return `${prefix}.skills`;
}

export interface SkillRunRequest {
  /** Unique per call (per attempt): the correlation id. */
  id: string;
  skill: string;
  text: string;
  caller: ToolCaller;
  timeoutMs: number;
}

export interface SkillRunReply {
  ok: boolean;
  /** The skill's answer, or the reason it has none. */
  output: string;
  skill: string;
  durationMs: number;
  error?: { code: ToolErrorCode; message: string };
}

/** Calls skills of the agent-workers. Never throws: failures come back as `ok: false` with a code. */
export class SkillRpcClient {
  private readonly rpc: ToolRpcClient;

  constructor(broker: Broker, topo: TopologyOptions, log: Logger, o: { replyGraceMs?: number } = {}) {
    this.rpc = new ToolRpcClient(broker, topo, log, { ...o, queue: skillQueueName(topo.prefix) });
  }

  start(): Promise<void> {
    return this.rpc.start();
  }

  close(): Promise<void> {
    return this.rpc.close();
  }

  get inFlight(): number {
    return this.rpc.inFlight;
  }

  async run(req: SkillRunRequest): Promise<SkillRunReply> {
    const res = await this.rpc.invoke({
      v: TOOL_PROTOCOL_VERSION,
      id: req.id,
      tool: req.skill,
      arguments: { text: req.text },
      caller: req.caller,
      allowedTools: [req.skill],
      timeoutMs: req.timeoutMs,
    });
    const reply: SkillRunReply = {
      ok: res.ok,
      output: res.output,
      skill: req.skill,
      durationMs: res.durationMs,
    };
    if (!res.ok) {
      // The generic client words its own failures for tools; say "skill" where it is one.
      reply.error = res.error ?? { code: 'TOOL_FAILED', message: res.output };
      if (res.error?.code === 'TOOL_UNAVAILABLE' || res.error?.code === 'TOOL_TIMEOUT') {
        reply.error = { ...res.error, message: res.error.message.replace(/\btool\b/g, 'skill') };
      }
    }
    return reply;
  }
}

export interface SkillRunContext {
  caller: ToolCaller;
  /** Epoch ms; the run is abandoned (TOOL_TIMEOUT) when it passes. */
  deadline: number;
  signal: AbortSignal;
}

/** Runs one skill on one text; throws SkillRunError for a typed failure, anything else is TOOL_FAILED. */
export type SkillRunHandler = (skill: string, text: string, ctx: SkillRunContext) => Promise<string>;

export class SkillRunError extends Error {
  constructor(
    readonly code: ToolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SkillRunError';
  }
}

/**
 * The agent-worker side: consumes `<prefix>.skills` and answers each request with the handler's
 * text. A run still going at the request's deadline is answered TOOL_TIMEOUT at the deadline (its
 * signal is aborted; the model call it may be in is not waited for).
 */
export function serveSkills(
  broker: Broker,
  topo: TopologyOptions,
  run: SkillRunHandler,
  log: Logger,
  o: { concurrency: number; drainTimeoutMs?: number },
): Promise<ToolServer> {
  return serveTools(
    broker,
    topo,
    async (req, ctx): Promise<ToolResult> => {
      const started = Date.now();
      const text = req.arguments.text;
      if (typeof text !== 'string') {
        return toolFailure(req.id, 'TOOL_BAD_ARGUMENTS', 'a skill run needs `text`, a string');
      }
      const timedOut = new Promise<never>((_, reject) => {
        const onAbort = () =>
          reject(
            new SkillRunError(
              'TOOL_TIMEOUT',
              `skill ${req.tool} did not finish within ${req.timeoutMs} ms (deadline reached)`,
            ),
          );
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const output = await Promise.race([
          run(req.tool, text, { caller: req.caller, deadline: ctx.deadline, signal: ctx.signal }),
          timedOut,
        ]);
        return {
          v: TOOL_PROTOCOL_VERSION,
          id: req.id,
          ok: true,
          output,
          truncated: false,
          attachments: [],
          durationMs: Date.now() - started,
        };
      } catch (err) {
        const e =
          err instanceof SkillRunError
            ? err
            : new SkillRunError('TOOL_FAILED', `skill ${req.tool} failed: ${(err as Error)?.message ?? err}`);
        return toolFailure(req.id, e.code, e.message, Date.now() - started);
      } finally {
        // The race's loser must not surface as an unhandled rejection.
        timedOut.catch(() => {});
      }
    },
    log,
    { ...o, queue: skillQueueName(topo.prefix) },
  );
}
