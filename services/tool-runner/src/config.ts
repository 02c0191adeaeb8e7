import { builtinToolNames, commonConfigShape, loadConfig } from '@switchboard/core';
import { egressConfigShape } from '@switchboard/egress';
import { z } from 'zod';
import { browserConfigShape } from './browser/config.ts';
import { shellConfigShape } from './sandbox/config.ts';
import { channelsSchema } from './tools/send-message.ts';

const csv = (s: string) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

/** Settings of the tool-runner (the shell sandbox's own are in sandbox/config.ts and shared). */
export const toolRunnerConfigShape = {
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(9102),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(50).default(4),
  /** Tool calls this process runs at once (the tool queue's prefetch). */
  TOOL_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /**
   * Tools this installation serves at all; routes choose among them. Removing one here disables
   * it whatever a route says.
   */
  TOOLS_ENABLED: z
    .string()
    .default(builtinToolNames.join(','))
    .transform((s, ctx) => {
      const names = csv(s);
      const unknown = names.filter((n) => !(builtinToolNames as readonly string[]).includes(n));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown tool(s) ${unknown.join(', ')}; built-in tools: ${builtinToolNames.join(', ')}`,
        });
        return z.NEVER;
      }
      return new Set(names);
    }),
  /**
   * Built-in tools of the default route (no routing rule matched), comma-separated: the same
   * value as the agent-workers' DEFAULT_PROFILE_TOOLS. The runner grants the default route only
   * these, whatever a request lists; none by default.
   */
  DEFAULT_PROFILE_TOOLS: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const names = csv(s);
      const unknown = names.filter((n) => !(builtinToolNames as readonly string[]).includes(n));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown tool(s) ${unknown.join(', ')}; built-in tools: ${builtinToolNames.join(', ')}`,
        });
        return z.NEVER;
      }
      return names;
    }),
  /**
   * The scheduler's workflow folder (read-only here): a workflow's tool calls are granted the tools
   * its definition names, read from this folder or the workflows table. Unset: stored workflows only.
   */
  WORKFLOWS_DIR: z.string().startsWith('/', 'must be an absolute path').optional(),

  ...shellConfigShape,
  /**
   * `spawn`: the runner starts the sandbox as its child on a socket in a temp directory (process
   * mode; no network isolation). `socket`: connect to a sandbox container at SANDBOX_SOCKET.
   */
  SHELL_SANDBOX: z.enum(['spawn', 'socket']).default('spawn'),
  /**
   * spawn mode: the user and group the sandbox runs as (default nobody/nogroup). Never the
   * runner's own: a runner that is not root cannot switch, and then the shell tool is off.
   */
  SHELL_SANDBOX_UID: z.coerce.number().int().min(1).max(2_147_483_647).default(65534),
  SHELL_SANDBOX_GID: z.coerce.number().int().min(1).max(2_147_483_647).default(65534),
  SANDBOX_SOCKET: z.string().startsWith('/', 'must be an absolute path').default('/run/sandbox/shell.sock'),
  SHELL_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(4),

  ...egressConfigShape,
  HTTP_FETCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
  /** Response bytes read; the rest is cut with a marker. */
  HTTP_FETCH_MAX_BYTES: z.coerce.number().int().min(1024).max(16_777_216).default(262_144),
  HTTP_FETCH_MAX_REDIRECTS: z.coerce.number().int().min(0).max(10).default(5),

  FILES_MAX_READ_BYTES: z.coerce.number().int().min(1024).max(16_777_216).default(131_072),
  FILES_MAX_WRITE_BYTES: z.coerce.number().int().min(1024).max(67_108_864).default(1_048_576),
  FILES_MAX_LIST_ENTRIES: z.coerce.number().int().min(10).max(100_000).default(1_000),
  FILES_SEARCH_MAX_FILES: z.coerce.number().int().min(1).max(1_000_000).default(5_000),
  FILES_SEARCH_MAX_FILE_BYTES: z.coerce.number().int().min(1024).max(67_108_864).default(1_048_576),
  FILES_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),

  ...browserConfigShape,
  /**
   * Where pages are rendered. `local`: Chromium in this process (process mode). `remote`: by
   * tool-browser over the broker (compose), so Chromium never runs beside the database URL; this
   * runner still checks the grant and stores the screenshot.
   */
  BROWSER_RENDER: z.enum(['local', 'remote']).default('local'),

  /**
   * Channels send_message may post to, as JSON: `{"ops-alerts": {"platform": "slack", "botId":
   * "B0123", "conversationId": "C0456"}}`. The model names a channel; it never picks a conversation.
   */
  CHANNELS_JSON: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        const parsed = channelsSchema.safeParse(JSON.parse(s));
        if (parsed.success) return parsed.data;
        ctx.addIssue({ code: 'custom', message: z.prettifyError(parsed.error).replaceAll('\n', ' ') });
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not JSON: ${(err as Error).message}` });
      }
      return z.NEVER;
    }),
  SEND_MESSAGE_MAX_CHARS: z.coerce.number().int().min(1).max(16_000).default(4_000),
  /** One file send_message attaches (the connectors' ATTACHMENT_MAX_BYTES default, 20 MiB). */
  SEND_MESSAGE_MAX_FILE_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(104_857_600)
    .default(20 * 1024 * 1024),
  /** All files of one send_message call together. */
  SEND_MESSAGE_MAX_TOTAL_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(268_435_456)
    .default(50 * 1024 * 1024),
};

export const toolRunnerConfigSchema = z.object({ ...commonConfigShape, ...toolRunnerConfigShape });
export type ToolRunnerConfig = z.infer<typeof toolRunnerConfigSchema>;

export const loadToolRunnerConfig = (env: NodeJS.ProcessEnv = process.env): ToolRunnerConfig =>
  loadConfig(toolRunnerConfigSchema, env);
