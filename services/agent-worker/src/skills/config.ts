import { z } from 'zod';

/** `true`/`false` as environment variables spell them; z.coerce.boolean would read "false" as true. */
export const envFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');

const SKILL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Skills settings; merged into the worker's config. */
export const skillsConfigShape = {
  /**
   * Folder of skill files: `*.yaml`/`*.yml`, and `*.js`/`*.mjs` modules (`*.ts`/`*.mts` too when the
   * worker runs under tsx). Watched for changes. A missing folder means no skills.
   * NOTE: the worker runs module skills as its own code — mount this folder read-only, and never
   * inside the tool-runner's writable workspace.
   */
  SKILLS_DIR: z.string().min(1).default('./workspace/skills'),
  /** Quiet time after a change in SKILLS_DIR before the skills are reloaded. */
  SKILLS_RELOAD_DEBOUNCE_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  /** Load JavaScript/TypeScript skills; false loads YAML skills only. */
  SKILLS_ALLOW_MODULES: envFlag(true),
  /**
   * Skill runs (workflow `skill` steps, over `<prefix>.skills`) this worker executes at once;
   * 0 leaves the queue to other workers.
   */
  SKILL_RUNS_CONCURRENCY: z.coerce.number().int().min(0).max(256).default(4),
  /**
   * Skills the default route (no routing rule matched) allows, comma-separated; none by default.
   * Stored profiles list theirs in `skills`. A skill not allowed on a route is never matched there.
   */
  DEFAULT_PROFILE_SKILLS: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const names = [
        ...new Set(
          s
            .split(',')
            .map((n) => n.trim())
            .filter(Boolean),
        ),
      ];
      const bad = names.filter((n) => !SKILL_NAME.test(n));
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `not skill names: ${bad.join(', ')}` });
        return z.NEVER;
      }
      return names;
    }),
};

export const skillsConfigSchema = z.object(skillsConfigShape);
export type SkillsSettings = z.infer<typeof skillsConfigSchema>;
