import { builtinToolNames } from '@switchboard/core';
import { z } from 'zod';

/** Routing settings of the agent-worker; merged into its config schema. */
export const routingConfigShape = {
  /**
   * How often each worker re-reads the routing rules even without a notification: a safety net for
   * a NOTIFY lost while its listening connection was down (it re-reads on reconnect, too).
   */
  ROUTING_RELOAD_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** Time budget of one rule's text pattern against one message; past it the rule is skipped. */
  ROUTING_REGEX_BUDGET_MS: z.coerce.number().int().min(1).max(1_000).default(25),
  /** How long the intent classifier may take before the message is treated as having no intent. */
  ROUTING_CLASSIFY_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /** Built-in tools of the default profile (no rule matched), comma-separated; none by default. */
  DEFAULT_PROFILE_TOOLS: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const tools = s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const unknown = tools.filter((t) => !(builtinToolNames as readonly string[]).includes(t));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown tools ${unknown.join(', ')}; known: ${builtinToolNames.join(', ')}`,
        });
        return z.NEVER;
      }
      return tools as Array<(typeof builtinToolNames)[number]>;
    }),
  /** Whether the default profile answers from the knowledge base. */
  DEFAULT_PROFILE_KNOWLEDGE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
};
