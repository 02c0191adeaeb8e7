import {
  type Broker,
  errorMessage,
  type Logger,
  rpcExchanges,
  serveTools,
  TOOL_PROTOCOL_VERSION,
  type ToolServer,
  type TopologyOptions,
  toolFailure,
  toolQueueName,
} from '@switchboard/core';
import { z } from 'zod';
import { ToolError } from '../tool.ts';
import { type Renderer, renderRequestSchema } from './protocol.ts';

/**
 * tool-browser's side of the render RPC: renders what the tool-runner asks on
 * `<prefix>.tools.browser`. It checks no grant: only the tool-runner's broker user may publish to
 * the render exchange that reaches this queue, and the tool-runner checked the grant first.
 */
export function serveRenders(
  broker: Broker,
  topo: TopologyOptions,
  renderer: Renderer,
  log: Logger,
  o: { concurrency: number; drainTimeoutMs?: number },
): Promise<ToolServer> {
  return serveTools(
    broker,
    topo,
    async (request, ctx) => {
      const started = Date.now();
      const parsed = renderRequestSchema.safeParse(request.arguments);
      if (request.tool !== 'browser' || !parsed.success) {
        const why = parsed.success ? `tool ${request.tool}` : z.prettifyError(parsed.error);
        return toolFailure(request.id, 'TOOL_BAD_ARGUMENTS', `not a render request: ${why}`);
      }
      try {
        const answer = await renderer.render(parsed.data, {
          signal: ctx.signal,
          deadline: ctx.deadline,
          caller: request.caller,
        });
        return {
          v: TOOL_PROTOCOL_VERSION,
          id: request.id,
          ok: true,
          output: JSON.stringify(answer),
          truncated: answer.truncated,
          attachments: [],
          durationMs: Date.now() - started,
        };
      } catch (err) {
        if (err instanceof ToolError)
          return toolFailure(request.id, err.code, err.message, Date.now() - started);
        return toolFailure(request.id, 'TOOL_FAILED', `the browser failed: ${errorMessage(err)}`);
      }
    },
    log,
    {
      queue: toolQueueName(topo.prefix, 'browser'),
      exchange: rpcExchanges(topo.prefix).render,
      concurrency: o.concurrency,
      drainTimeoutMs: o.drainTimeoutMs,
    },
  );
}
