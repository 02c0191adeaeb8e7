import { builtinToolNames, platformSchema } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { z } from 'zod';
import { canMatchOn, parseQualifiedId } from './identity.ts';
import { MAX_PATTERN_CHARS } from './safe-regex.ts';

const id = z.string().min(1).max(256);
/** `<platform>:<id>` (or `internal:<uuid>` for users): an id means nothing without its platform. */
const qualifiedId = (what: 'user' | 'channel') =>
  z
    .string()
    .min(1)
    .max(300)
    .superRefine((v, ctx) => {
      const q = parseQualifiedId(v, what);
      if (typeof q === 'string') ctx.addIssue({ code: 'custom', message: q });
    });
/** One value, or a list of which any may match. */
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1).max(100)]);
const claimValue = z.union([z.string().max(1024), z.number(), z.boolean()]);

export const profileNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    'profile name: 1-64 of a-z, 0-9, _ and -, starting with a letter or digit',
  );

/** The worker's own profile, built from its settings; a rule may name it to stop at the defaults. */
export const DEFAULT_PROFILE = 'default';

/**
 * What a rule matches. Every condition given must hold; a list means any of its values. An empty
 * match matches every message (a catch-all at the end of the list).
 */
export const ruleMatchSchema = z
  .strictObject({
    platform: oneOrMany(platformSchema).optional(),
    botId: oneOrMany(id).optional(),
    /**
     * The group / channel id, or the conversation id, with its platform: `slack:C456`,
     * `telegram:-1001234`. A web or API conversation id (`web:conv-1`) is chosen by the client.
     */
    channel: oneOrMany(qualifiedId('channel')).optional(),
    /**
     * The sender, with its platform: `slack:U123` (verified by the platform), `web:alice` (a claim
     * of a web client), or `internal:<uuid>` (our own user id, known only on verified platforms).
     */
    user: oneOrMany(qualifiedId('user')).optional(),
    group: z.enum(['direct', 'group']).optional(),
    /** A regular expression tested against the message text, e.g. `^#(urgent|important)`. */
    text: z.string().min(1).max(MAX_PATTERN_CHARS).optional(),
    textFlags: z.string().max(4).optional(),
    /** Bounds on the text length, e.g. to send long requests to a model with a larger context. */
    minChars: z.number().int().min(0).optional(),
    maxChars: z.number().int().min(0).optional(),
    /** A label the intent classifier must return for this message. */
    intent: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,39}$/, 'intent label: 1-40 of a-z, 0-9, _ and -, starting with a letter')
      .optional(),
    /** Claims of the API client's verified JWT (envelope `claims`); a list means any of its values. */
    claims: z.record(z.string().min(1).max(64), oneOrMany(claimValue)).optional(),
  })
  .refine((m) => m.textFlags === undefined || m.text !== undefined, {
    message: 'textFlags needs a text pattern',
    path: ['textFlags'],
  })
  .refine((m) => m.minChars === undefined || m.maxChars === undefined || m.minChars <= m.maxChars, {
    message: 'minChars must not exceed maxChars',
    path: ['minChars'],
  })
  .superRefine((m, ctx) => {
    // A condition that can never hold is a mistake, not a rule: say so instead of storing it.
    const platforms = m.platform === undefined ? undefined : [m.platform].flat();
    for (const what of ['user', 'channel'] as const) {
      for (const v of [m[what] ?? []].flat()) {
        const q = parseQualifiedId(v, what);
        if (typeof q !== 'string' && !canMatchOn(q, platforms)) {
          ctx.addIssue({
            code: 'custom',
            path: [what],
            message: `${what} "${v}" can never match: the rule is limited to platform ${platforms?.join(', ')}`,
          });
        }
      }
    }
  });
export type RuleMatch = z.infer<typeof ruleMatchSchema>;

/** Where a matched message goes: an agent profile, or a fixed action that never calls a model. */
export const ruleTargetSchema = z.union([
  z.strictObject({ profile: z.union([profileNameSchema, z.literal(DEFAULT_PROFILE)]) }),
  z.strictObject({ action: z.literal('reply'), text: z.string().min(1).max(4_000) }),
  z.strictObject({ action: z.literal('ignore') }),
]);
export type RuleTarget = z.infer<typeof ruleTargetSchema>;

const ruleFields = {
  name: z.string().trim().min(1).max(128),
  enabled: z.boolean(),
  /** 1-based place in the list; omitted: after the last rule. A taken place shifts the rules below it. */
  position: z.number().int().min(1).max(1_000_000),
  match: ruleMatchSchema,
  target: ruleTargetSchema,
};

export const ruleInputSchema = z.strictObject({
  ...ruleFields,
  enabled: ruleFields.enabled.default(true),
  position: ruleFields.position.optional(),
  match: ruleFields.match.default({}),
});
export type RuleInput = z.input<typeof ruleInputSchema>;
// NOTE: built from the fields without defaults: zod's partial() would fill absent keys with them.
export const rulePatchSchema = z.strictObject(ruleFields).partial();
export type RulePatch = z.input<typeof rulePatchSchema>;

export interface RoutingRule {
  id: string;
  position: number;
  enabled: boolean;
  name: string;
  match: RuleMatch;
  target: RuleTarget;
  updatedAt: Date;
}

const modelChainSpec = z
  .string()
  .trim()
  .min(1)
  .max(2_000)
  .superRefine((s, ctx) => {
    try {
      parseModelChain(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `model chain: ${(err as Error).message}` });
    }
  });

const profileFields = {
  description: z.string().max(1_000),
  /** null: the worker's SYSTEM_PROMPT. */
  systemPrompt: z.string().min(1).max(20_000).nullable(),
  /** MODEL_CHAIN syntax; null: the worker's MODEL_CHAIN. */
  modelChain: modelChainSpec.nullable(),
  tools: z
    .array(z.enum(builtinToolNames))
    .max(builtinToolNames.length)
    .refine((t) => new Set(t).size === t.length, 'tools: each tool once'),
  skill: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'skill: a skill name (letters, digits, _ . -)')
    .nullable(),
  /**
   * Skills this profile allows: only these are matched by their triggers here, and only they
   * bring their handler and local tools. `skill`, when set, is allowed too. None by default.
   */
  skills: z
    .array(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'skills: skill names (letters, digits, _ . -)'),
    )
    .max(100)
    .refine((t) => new Set(t).size === t.length, 'skills: each skill once'),
  knowledge: z.boolean(),
  /** Seconds a cached answer is served for identical prompts; null or 0: no cache. */
  cacheTtlSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .nullable(),
};

export const profileInputSchema = z.strictObject({
  name: profileNameSchema.refine((n) => n !== DEFAULT_PROFILE, {
    message: `"${DEFAULT_PROFILE}" is the worker's built-in profile`,
  }),
  description: profileFields.description.default(''),
  systemPrompt: profileFields.systemPrompt.default(null),
  modelChain: profileFields.modelChain.default(null),
  tools: profileFields.tools.default([]),
  skill: profileFields.skill.default(null),
  skills: profileFields.skills.default([]),
  knowledge: profileFields.knowledge.default(false),
  cacheTtlSeconds: profileFields.cacheTtlSeconds.default(null),
});
export type ProfileInput = z.input<typeof profileInputSchema>;
export const profilePatchSchema = z.strictObject(profileFields).partial();
export type ProfilePatch = z.input<typeof profilePatchSchema>;

/** A profile as stored; null fields fall back to the worker's settings when resolved. */
export type StoredProfile = z.output<typeof profileInputSchema> & { updatedAt: Date };
