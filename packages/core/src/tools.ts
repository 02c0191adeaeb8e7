import { z } from 'zod';
import { attachmentSchema, platformSchema } from './envelope.ts';

/**
 * Tool calls travel over RabbitMQ as request/reply between agent-workers and the tool-runner, which
 * runs them isolated from the workers. The tool-runner re-checks everything a request claims (the
 * tool is granted to the route or workflow, as stored in PostgreSQL; the arguments are valid), so a
 * forged list in a request gains nothing.
 */
export const TOOL_PROTOCOL_VERSION = 1;

/** Names of the built-in tools. Skills may add tools of their own, which run in the worker. */
export const builtinToolNames = ['shell', 'http_fetch', 'files', 'browser', 'send_message'] as const;
export type BuiltinToolName = (typeof builtinToolNames)[number];

/**
 * Which grant a call claims: the routing rule that answered the message (null: no rule matched, the
 * default route) or the workflow that made it. The tool-runner reads what that rule's profile or
 * that workflow's definition allows from PostgreSQL itself; `allowedTools` can only narrow it. The
 * grant also picks the call's workspace folder (one per conversation, one per workflow).
 */
export const toolGrantSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('route'),
    ruleId: z
      .string()
      .regex(/^\d{1,18}$/)
      .nullable(),
  }),
  z.strictObject({
    kind: z.literal('workflow'),
    workflow: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  }),
]);
export type ToolGrant = z.infer<typeof toolGrantSchema>;

export const toolCallerSchema = z.object({
  platform: platformSchema,
  botId: z.string().min(1).max(256),
  conversationId: z.string().min(1).max(256),
  /** Platform user id and, when known, our own user id. */
  userId: z.string().min(1).max(256),
  internalUserId: z.string().optional(),
  /** The routing rule / agent profile that allowed the call, for the record. */
  route: z.string().max(256).optional(),
  /** The inbound message the tool loop is answering. */
  messageId: z.string().min(1).max(256),
  traceId: z.string().min(1).max(256),
  /** Absent only from a sender older than grants: the tool-runner refuses such a call. */
  grant: toolGrantSchema.optional(),
});
export type ToolCaller = z.infer<typeof toolCallerSchema>;

export const toolRequestSchema = z.object({
  v: z.literal(TOOL_PROTOCOL_VERSION),
  /** Unique per call; also the AMQP correlation id. */
  id: z.string().min(1).max(256),
  tool: z.string().min(1).max(64),
  arguments: z.record(z.string(), z.unknown()),
  caller: toolCallerSchema,
  /**
   * The tools offered for this turn. The tool-runner refuses anything not on it, and anything the
   * caller's grant does not allow whatever this list says: it narrows the grant, never widens it.
   */
  allowedTools: z.array(z.string().min(1).max(64)).max(64),
  /** The worker stops waiting after this; the tool-runner kills the work at the same deadline. */
  timeoutMs: z.number().int().min(100).max(600_000),
});
export type ToolRequest = z.infer<typeof toolRequestSchema>;

/** Stable reasons a call did not run or failed; the model is shown `message`, operators both. */
export const toolErrorCodes = [
  'TOOL_UNKNOWN',
  'TOOL_NOT_ALLOWED',
  'TOOL_BAD_ARGUMENTS',
  'TOOL_REFUSED',
  'TOOL_TIMEOUT',
  'TOOL_FAILED',
  'TOOL_UNAVAILABLE',
] as const;
export type ToolErrorCode = (typeof toolErrorCodes)[number];

export const toolResultSchema = z.object({
  v: z.literal(TOOL_PROTOCOL_VERSION),
  id: z.string().min(1).max(256),
  ok: z.boolean(),
  /** What the model reads: the tool's output, capped, or the reason it was refused. */
  output: z.string(),
  /** Whether output was cut at the tool's cap. */
  truncated: z.boolean().default(false),
  error: z.object({ code: z.enum(toolErrorCodes), message: z.string() }).optional(),
  /** Files the tool produced (a screenshot…), stored in the attachments table: attachment://<id>. */
  attachments: z.array(attachmentSchema).max(16).default([]),
  durationMs: z.number().int().nonnegative(),
});
export type ToolResult = z.infer<typeof toolResultSchema>;

/** How a worker calls a tool; implemented over the broker by the RPC client, faked in unit tests. */
export interface ToolInvoker {
  invoke(request: ToolRequest): Promise<ToolResult>;
}
