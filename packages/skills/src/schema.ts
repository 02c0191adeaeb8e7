import { builtinToolNames } from '@switchboard/core';
import { z } from 'zod';

/** The same names routing profiles use to point at a skill. */
export const skillNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, _ . - (at most 64)');

const yamlTriggerSchema = z.union([
  z.string().min(1),
  z.strictObject({ regex: z.string().min(1), flags: z.string().optional() }),
  z.strictObject({ keyword: z.string().min(1) }),
]);
const triggerSchema = z.union([yamlTriggerSchema, z.instanceof(RegExp)]);

const toolsSchema = z
  .array(z.enum(builtinToolNames))
  .refine((t) => new Set(t).size === t.length, 'each tool once');

const fn = <T>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `${what} must be a function` });

const localToolSchema = z.object({
  spec: z.object({
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{1,64}$/,
        'a tool name of letters, digits, _ and - (at most 64), as the APIs require',
      ),
    description: z.string().min(1).max(2_000),
    parameters: z.record(z.string(), z.unknown()),
  }),
  run: fn<(args: Record<string, unknown>, ctx: unknown) => Promise<string>>('run'),
});

/** A skill written in YAML: snake_case keys, unknown keys refused so a typo is an error, not a no-op. */
export const yamlSkillSchema = z.strictObject({
  name: skillNameSchema,
  description: z.string().min(1).max(2_000),
  triggers: z.array(yamlTriggerSchema).min(1).max(50),
  priority: z.number().int().min(-1_000).max(1_000).default(0),
  system_prompt: z.string().min(1).max(20_000),
  tools: toolsSchema.default([]),
  model: z.string().min(1).optional(),
  knowledge: z.boolean().default(false),
});

/** What a module's default export must look like (the `SkillModule` interface). */
export const moduleSkillSchema = z
  .object({
    name: skillNameSchema,
    description: z.string().min(1).max(2_000),
    triggers: z.array(triggerSchema).min(1).max(50),
    priority: z.number().int().min(-1_000).max(1_000).default(0),
    systemPrompt: z.string().min(1).max(20_000).optional(),
    tools: toolsSchema.default([]),
    localTools: z.array(localToolSchema).max(32).default([]),
    model: z.string().min(1).optional(),
    knowledge: z.boolean().default(false),
    handler: fn<(ctx: unknown) => Promise<string | undefined>>('handler').optional(),
  })
  .refine((s) => new Set(s.localTools.map((t) => t.spec.name)).size === s.localTools.length, {
    message: 'each local tool name once',
    path: ['localTools'],
  })
  .refine((s) => !s.localTools.some((t) => (builtinToolNames as readonly string[]).includes(t.spec.name)), {
    message: `local tools cannot take a built-in tool's name (${builtinToolNames.join(', ')})`,
    path: ['localTools'],
  });

/** `triggers[0]: …; system_prompt: …` — every problem of one file on one line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? formatPath(i.path) : '(file)'}: ${i.message}`)
    .join('; ');
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}
