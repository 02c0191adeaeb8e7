import { builtinToolNames, platformSchema } from '@switchboard/core';
import { compileRulePattern } from '@switchboard/routing';
import { Cron } from 'croner';
import { z } from 'zod';
import { hasTemplate, literalProblems } from './literals.ts';
import { templateRefs } from './template.ts';

/** Workflow names are ids: in URLs, BullMQ scheduler ids and metric labels. */
export const workflowNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    'lower-case letters, digits, _ and - (at most 64), starting with a letter or digit',
  );

const stepIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and - (at most 64), starting with a letter');

function cronProblem(schedule: string, timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return `unknown time zone "${timezone}" (use an IANA name such as Asia/Shanghai or UTC)`;
  }
  try {
    const next = new Cron(schedule, { timezone, paused: true }).nextRun();
    if (!next) return `"${schedule}" never fires`;
  } catch (err) {
    return `"${schedule}" is not a cron schedule: ${(err as Error).message}`;
  }
  return undefined;
}

const cronTriggerSchema = z
  .strictObject({
    /** 5 fields (minute…weekday) or 6 with seconds first. */
    schedule: z.string().min(1).max(128),
    timezone: z.string().min(1).max(64).default('UTC'),
  })
  .superRefine((c, ctx) => {
    const problem = cronProblem(c.schedule, c.timezone);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['schedule'] });
  });

const webhookTriggerSchema = z.preprocess(
  (v) => v ?? {},
  z.strictObject({
    /** SHA-256 (hex) of a token valid for this workflow only, besides WORKFLOW_WEBHOOK_TOKEN. */
    token_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the token as 64 lower-case hex digits')
      .optional(),
  }),
);

/** `slack:U024BE7LH`: a platform and that platform's own user id. */
const senderSchema = z
  .string()
  .max(300)
  .regex(/^[a-z]+:.+$/, 'a sender is "<platform>:<user id>", e.g. slack:U024BE7LH')
  .refine((u) => platformSchema.safeParse(u.slice(0, u.indexOf(':'))).success, {
    message: `a sender starts with a platform (${platformSchema.options.join(', ')})`,
  });

/** A message trigger's `channel` as a platform and an id; undefined when it names no platform. */
export function messageChannel(m: {
  channel?: string;
  platform?: string;
  platforms?: readonly string[];
}): { platform: string; id: string } | undefined {
  if (!m.channel) return undefined;
  const i = m.channel.indexOf(':');
  const prefix = i > 0 ? m.channel.slice(0, i) : '';
  if (platformSchema.safeParse(prefix).success) return { platform: prefix, id: m.channel.slice(i + 1) };
  const platforms = m.platforms ?? (m.platform ? [m.platform] : []);
  return platforms.length === 1 ? { platform: platforms[0]!, id: m.channel } : undefined;
}

const messageTriggerSchema = z
  .strictObject({
    /** A regular expression tested against the message text. */
    pattern: z.string().min(1).max(256),
    flags: z.string().max(4).optional(),
    /** One platform; `platforms` names several. */
    platform: platformSchema.optional(),
    platforms: z.array(platformSchema).min(1).max(16).optional(),
    /** Only these senders; without it, any sender who is not a stranger (see docs/workflows.md). */
    users: z.array(senderSchema).min(1).max(1_000).optional(),
    /**
     * The group/channel id, or the conversation id, with its platform (`slack:C123`); bare when
     * the trigger names exactly one platform. A web client picks its conversation id, so a bare
     * id alone could be matched from another platform.
     */
    channel: z.string().min(1).max(300).optional(),
  })
  .superRefine((m, ctx) => {
    try {
      compileRulePattern(m.pattern, m.flags ?? '');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, path: ['pattern'] });
    }
    if (m.platform && m.platforms) {
      ctx.addIssue({ code: 'custom', message: 'platform or platforms, not both', path: ['platforms'] });
    }
    const platforms = m.platforms ?? (m.platform ? [m.platform] : undefined);
    const channel = messageChannel(m);
    if (m.channel && !channel) {
      ctx.addIssue({
        code: 'custom',
        path: ['channel'],
        message: `a channel id means nothing without its platform: write "<platform>:${m.channel}" (e.g. slack:C123), or name exactly one platform`,
      });
    } else if (channel && platforms && !(platforms as string[]).includes(channel.platform)) {
      ctx.addIssue({
        code: 'custom',
        path: ['channel'],
        message: `"${m.channel}" is on ${channel.platform}, which this trigger does not listen to (${platforms.join(', ')})`,
      });
    }
    for (const [i, u] of (m.users ?? []).entries()) {
      const platform = u.slice(0, u.indexOf(':'));
      if (platforms && !(platforms as string[]).includes(platform)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', i],
          message: `"${u}" is on ${platform}, which this trigger does not listen to (${platforms.join(', ')})`,
        });
      }
    }
  });

const triggerSchema = z
  .strictObject({
    cron: cronTriggerSchema.optional(),
    webhook: webhookTriggerSchema.optional(),
    message: messageTriggerSchema.optional(),
  })
  .superRefine((t, ctx) => {
    const given = (['cron', 'webhook', 'message'] as const).filter((k) => t[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `exactly one of cron, webhook or message (got ${given.length ? given.join(' and ') : 'none'})`,
      });
    }
  });

const retrySchema = z.strictObject({
  /** Tries in all, the first included. */
  attempts: z.number().int().min(1).max(10).default(1),
  /** Wait before the second try; doubled before each further one. */
  backoff_ms: z.number().int().min(0).max(3_600_000).default(1_000),
});

const stepBase = {
  id: stepIdSchema,
  retry: retrySchema.default({ attempts: 1, backoff_ms: 1_000 }),
  /** Per attempt; STEP_TIMEOUT_MS when unset. */
  timeout_ms: z.number().int().min(100).max(600_000).optional(),
};

export const sendMessageWithSchema = z
  .strictObject({
    /** A channel name of the tool-runner's CHANNELS_JSON. */
    channel: z.string().min(1).max(128),
    text: z.string().max(16_000).default(''),
    /** Files of the tools' workspace to attach (send_message checks where they are and their size). */
    files: z.array(z.string().min(1).max(1024)).max(5).default([]),
  })
  .refine((w) => w.text.trim() !== '' || w.files.length > 0, {
    message: 'needs text, files or both',
    path: ['text'],
  });

const toolStepSchema = z.strictObject({
  ...stepBase,
  type: z.literal('tool'),
  with: z.strictObject({
    tool: z
      .string()
      .refine((t) => !hasTemplate(t), {
        message: 'the tool name must be written out, not filled from a {{ … }}',
        abort: true,
      })
      .pipe(z.enum(builtinToolNames)),
    arguments: z.record(z.string(), z.unknown()).default({}),
  }),
});

const sendMessageStepSchema = z.strictObject({
  ...stepBase,
  type: z.literal('send_message'),
  with: sendMessageWithSchema,
});

const httpStepSchema = z.strictObject({
  ...stepBase,
  type: z.literal('http'),
  with: z.strictObject({
    url: z.string().min(1).max(2048),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
    headers: z.record(z.string().max(128), z.string().max(4096)).default({}),
    /** A string is sent as it is; an object as JSON. */
    body: z.union([z.string().max(1_048_576), z.record(z.string(), z.unknown())]).optional(),
  }),
});

const promptStepSchema = z.strictObject({
  ...stepBase,
  type: z.literal('prompt'),
  with: z.strictObject({
    prompt: z.string().min(1).max(100_000),
    system: z.string().max(20_000).optional(),
  }),
});

const skillStepSchema = z.strictObject({
  ...stepBase,
  type: z.literal('skill'),
  with: z.strictObject({
    /** A skill loaded on the agent-workers (its `name`); run over `<prefix>.skills`. */
    skill: z.string().min(1).max(64),
    /** What the skill is given, as a user's message would be. */
    text: z.string().min(1).max(100_000),
  }),
});

const stepSchema = z.discriminatedUnion('type', [
  toolStepSchema,
  sendMessageStepSchema,
  httpStepSchema,
  promptStepSchema,
  skillStepSchema,
]);

export const workflowSchema = z
  .strictObject({
    name: workflowNameSchema,
    description: z.string().max(2_000).default(''),
    enabled: z.boolean().default(true),
    trigger: triggerSchema,
    steps: z.array(stepSchema).min(1).max(50),
    on_failure: z
      .strictObject({
        send_message: z.strictObject({
          channel: z.string().min(1).max(128),
          /** Default: "Workflow <name> failed at step <id>: <error>". */
          text: z.string().min(1).max(16_000).optional(),
        }),
      })
      .optional(),
  })
  .superRefine((wf, ctx) => {
    const seen = new Set<string>();
    for (const [i, step] of wf.steps.entries()) {
      if (seen.has(step.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'id'],
          message: `the id "${step.id}" is used twice`,
        });
      }
      checkRefs(step.with, ['steps', i, 'with'], seen, false, ctx);
      for (const p of literalProblems(step)) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, 'with', ...p.at], message: p.message });
      }
      seen.add(step.id);
    }
    if (wf.on_failure) {
      checkRefs(wf.on_failure, ['on_failure'], seen, true, ctx);
      if (hasTemplate(wf.on_failure.send_message.channel)) {
        ctx.addIssue({
          code: 'custom',
          path: ['on_failure', 'send_message', 'channel'],
          message: 'the channel must be written out, not filled from a {{ … }}',
        });
      }
    }
  });

function checkRefs(
  value: unknown,
  base: PropertyKey[],
  earlier: Set<string>,
  inOnFailure: boolean,
  ctx: z.RefinementCtx,
): void {
  let refs: ReturnType<typeof templateRefs>;
  try {
    refs = templateRefs(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: base, message: (err as Error).message });
    return;
  }
  for (const { at, ref } of refs) {
    const path = [...base, ...at];
    const [root, step] = ref.path;
    if (root === 'error' && !inOnFailure) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `{{ ${ref.source} }}: "error" exists only in on_failure`,
      });
    } else if (root === 'steps') {
      if (typeof step !== 'string') {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `{{ ${ref.source} }}: name a step, e.g. steps.report.output`,
        });
      } else if (!earlier.has(step)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `{{ ${ref.source} }}: no step "${step}" runs before this point${earlier.size ? ` (earlier steps: ${[...earlier].join(', ')})` : ''}`,
        });
      }
    }
  }
}

export type Workflow = z.infer<typeof workflowSchema>;
export type WorkflowStep = Workflow['steps'][number];
export type StepType = WorkflowStep['type'];
export type TriggerType = 'cron' | 'webhook' | 'message';

export function triggerType(wf: Workflow): TriggerType {
  if (wf.trigger.cron) return 'cron';
  if (wf.trigger.message) return 'message';
  return 'webhook';
}
