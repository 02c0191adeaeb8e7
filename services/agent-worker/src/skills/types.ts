import type { BuiltinToolName, ToolCaller } from '@switchboard/core';
import type { ModelSpec } from '@switchboard/models';
import type { Passage } from '../knowledge/types.ts';
import type { LocalTool } from '../tools/types.ts';

// The tool loop's contract for in-process tools; skills supply them, the tool loop runs them.
export type { LocalTool, LocalToolContext } from '../tools/types.ts';

/** What a module skill's `handler` is given for one message. */
export interface SkillContext {
  /** The user's message, as received. */
  text: string;
  /** The result of the trigger that selected this skill: regex groups are in it. */
  match: RegExpExecArray | null;
  caller: ToolCaller;
  /** Searches the knowledge base; absent when none is configured. */
  searchKnowledge?: (query: string, opts?: { limit?: number }) => Promise<Passage[]>;
  signal: AbortSignal;
  log: {
    debug(msg: string, meta?: object): void;
    info(msg: string, meta?: object): void;
    warn(msg: string, meta?: object): void;
  };
}

/** A trigger as written in a skill file: a regex source (matched case-insensitively) or a keyword. */
export type TriggerInput = string | RegExp | { regex: string; flags?: string } | { keyword: string };

/**
 * The interface a JavaScript/TypeScript skill module default-exports (docs/agents.md, "Skills").
 *
 * ```js
 * export default {
 *   name: 'oncall',
 *   description: 'Says who is on call this week',
 *   triggers: ['^who is on ?call', { keyword: '值班' }],
 *   async handler(ctx) { return 'Alice is on call.'; },
 * };
 * ```
 */
export interface SkillModule {
  name: string;
  description: string;
  triggers: TriggerInput[];
  /** Higher runs first; files of the same priority in file-name order. Default 0. */
  priority?: number;
  systemPrompt?: string;
  /** Built-in tools the skill wants: shell, http_fetch, files, browser, send_message. */
  tools?: BuiltinToolName[];
  /** Tools the skill adds, run in the worker. */
  localTools?: LocalTool[];
  /** MODEL_CHAIN syntax, e.g. `ollama/qwen2.5:7b,openai/gpt-4o-mini`. */
  model?: string;
  /** Put the best knowledge-base passages in the prompt. */
  knowledge?: boolean;
  /** Answers without the model when it returns a string; `undefined` hands the turn to the model. */
  handler?: (ctx: SkillContext) => Promise<string | undefined>;
}

/** A loaded skill, the same shape whichever format it came from. */
export interface Skill {
  name: string;
  description: string;
  /** The file it came from, relative to the skills folder. */
  file: string;
  format: 'yaml' | 'module';
  triggers: RegExp[];
  priority: number;
  systemPrompt?: string;
  tools: BuiltinToolName[];
  localTools: LocalTool[];
  /** The model chain the skill asks for; absent means the route's. */
  model?: ModelSpec[];
  knowledge: boolean;
  handler?: (ctx: SkillContext) => Promise<string | undefined>;
}

export interface SkillMatch {
  skill: Skill;
  match: RegExpExecArray;
}

export const SkillErrorCode = {
  /** Not parseable as YAML. */
  yamlInvalid: 'SB_ERR_SKILL_YAML_INVALID',
  /** Parsed, but a field is missing or wrong. */
  invalid: 'SB_ERR_SKILL_INVALID',
  /** A trigger that does not compile or could backtrack without end. */
  triggerInvalid: 'SB_ERR_SKILL_TRIGGER_INVALID',
  /** The module failed to import (syntax error, throwing top level, missing dependency). */
  moduleFailed: 'SB_ERR_SKILL_MODULE_FAILED',
  /** Module skills are turned off (SKILLS_ALLOW_MODULES=false). */
  modulesDisabled: 'SB_ERR_SKILL_MODULES_DISABLED',
  /** Another file already holds this skill name. */
  duplicateName: 'SB_ERR_SKILL_DUPLICATE_NAME',
  /** The file could not be read. */
  unreadable: 'SB_ERR_SKILL_UNREADABLE',
} as const;
export type SkillErrorCode = (typeof SkillErrorCode)[keyof typeof SkillErrorCode];

export class SkillLoadError extends Error {
  constructor(
    readonly code: SkillErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'SkillLoadError';
  }
}

/** One file that did not load, as /status and the logs show it. */
export interface SkillFileError {
  file: string;
  code: SkillErrorCode;
  message: string;
}
