import { randomUUID } from 'node:crypto';
import {
  type Broker,
  type Logger,
  rpcExchanges,
  TOOL_PROTOCOL_VERSION,
  ToolRpcClient,
  type TopologyOptions,
  toolQueueName,
} from '@switchboard/core';
import { z } from 'zod';
import { ToolError } from '../tool.ts';
import {
  type RenderAnswer,
  type RenderContext,
  type Renderer,
  type RenderLimits,
  type RenderRequest,
  renderAnswerSchema,
} from './protocol.ts';

/**
 * The tool-runner's side of the render RPC: asks tool-browser to render and checks its answer
 * against the BROWSER_MAX_* limits before anything of it is stored. The request goes through the
 * render exchange, which only the tool-runner's broker user may publish to (broker-users.ts).
 */
export class RemoteRenderer implements Renderer {
  private readonly client: ToolRpcClient;
  private readonly answer: ReturnType<typeof renderAnswerSchema>;

  constructor(broker: Broker, topo: TopologyOptions, log: Logger, limits: RenderLimits) {
    this.client = new ToolRpcClient(broker, topo, log, {
      queue: toolQueueName(topo.prefix, 'browser'),
      exchange: rpcExchanges(topo.prefix).render,
      // tool-browser declares its queue; this user may only publish to it.
      declareQueue: false,
    });
    this.answer = renderAnswerSchema(limits);
  }

  start(): Promise<void> {
    return this.client.start();
  }

  close(): Promise<void> {
    return this.client.close();
  }

  async render(req: RenderRequest, ctx: RenderContext): Promise<RenderAnswer> {
    const timeoutMs = ctx.deadline - Date.now();
    if (timeoutMs < 100) throw new ToolError('TOOL_TIMEOUT', 'no time left to open the page');
    const result = await this.client.invoke({
      v: TOOL_PROTOCOL_VERSION,
      id: `render-${randomUUID()}`,
      tool: 'browser',
      arguments: req,
      // For the record on both sides; tool-browser grants nothing, it renders for whoever may ask.
      caller: ctx.caller,
      allowedTools: ['browser'],
      timeoutMs: Math.min(timeoutMs, 600_000),
    });
    if (!result.ok) {
      throw new ToolError(result.error?.code ?? 'TOOL_FAILED', result.error?.message ?? result.output);
    }
    let parsed: ReturnType<typeof this.answer.safeParse>;
    try {
      parsed = this.answer.safeParse(JSON.parse(result.output));
    } catch (err) {
      throw new ToolError(
        'TOOL_FAILED',
        `the browser service answered with no JSON: ${(err as Error).message}`,
      );
    }
    if (!parsed.success) {
      throw new ToolError(
        'TOOL_FAILED',
        `the browser service's answer was refused: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`,
      );
    }
    return parsed.data;
  }
}
