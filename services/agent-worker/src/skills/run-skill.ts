import {
  type BuiltinToolName,
  ErrorCodes,
  errorMessage,
  isSwitchboardError,
  type Logger,
  traceFields,
} from '@switchboard/core';
import type { ModelSpec } from '@switchboard/models';
import type { ChainFactory } from '../agent/chains.ts';
import type { KnowledgeBase } from '../knowledge/knowledge-base.ts';
import { citedSources, promptContext } from '../knowledge/prompt-context.ts';
import type { TokenUsage } from '../limits/token-usage.ts';
import type { ChatMessage } from '../models/provider.ts';
import { runToolLoop, type ToolLoopDeps } from '../tools/loop.ts';
import type { SkillRegistry } from './registry.ts';
import { type SkillRunContext, SkillRunError } from './rpc.ts';

export interface SkillRunnerDeps {
  skills: Pick<SkillRegistry, 'get'>;
  kb?: Pick<KnowledgeBase, 'search'>;
  chains: Pick<ChainFactory, 'get'>;
  loop: Omit<ToolLoopDeps, 'chain'>;
  usage?: Pick<TokenUsage, 'record'>;
  log: Logger;
  /** What a skill without a handler answer uses when it names none: the worker's defaults. */
  defaults: {
    systemPrompt: string;
    modelChain: ModelSpec[];
    /** The built-in tools of the default route; a skill narrows them, never widens them. */
    tools: readonly BuiltinToolName[];
  };
  knowledge: { searchLimit: number; contextMaxChars: number };
}

/**
 * Runs one skill on one text outside any conversation (a workflow's `skill` step): what the worker
 * does when that skill is selected for a message — its handler's answer when it gives one,
 * otherwise one model turn (through the tool loop) with the skill's system prompt, model chain,
 * tools and knowledge passages. No history is read and nothing is stored as a conversation; tool
 * calls are recorded (ToolCallStore) under the caller, e.g. `workflow:<name>`.
 *
 * Unlike a chat turn, a handler that throws fails the run (TOOL_FAILED, with its message) rather
 * than handing the text to the model: a workflow wants the error, not a different answer.
 */
export class SkillRunner {
  constructor(private readonly d: SkillRunnerDeps) {}

  run = async (name: string, text: string, ctx: SkillRunContext): Promise<string> => {
    const skill = this.d.skills.get(name);
    if (!skill)
      throw new SkillRunError('TOOL_UNKNOWN', `there is no skill "${name}" loaded on the agent-worker`);
    const { caller } = ctx;
    const fields = traceFields(caller.traceId, { skill: name, route: caller.route ?? '' });

    if (skill.handler) {
      let handled: string | undefined;
      try {
        handled = await skill.handler({
          text,
          match: null,
          caller,
          searchKnowledge: this.d.kb ? (q, o) => this.d.kb!.search(q, o) : undefined,
          signal: ctx.signal,
          log: this.d.log,
        });
      } catch (err) {
        throw new SkillRunError('TOOL_FAILED', `skill ${name}: the handler failed: ${errorMessage(err)}`);
      }
      if (typeof handled === 'string') {
        this.d.log.info('skill run answered by its handler', fields);
        return handled;
      }
    }

    const builtin = this.d.defaults.tools.filter((t) => skill.tools.includes(t));
    const allowedTools = [...builtin, ...skill.localTools.map((t) => t.spec.name)];
    const passages =
      skill.knowledge && this.d.kb
        ? await this.d.kb.search(text, { limit: this.d.knowledge.searchLimit }).catch((err) => {
            this.d.log.warn('knowledge search failed; running the skill without it', {
              ...fields,
              error: { message: errorMessage(err) },
            });
            return [];
          })
        : [];
    const system = [skill.systemPrompt ?? this.d.defaults.systemPrompt];
    if (passages.length > 0) {
      system.push(promptContext(passages, { maxChars: this.d.knowledge.contextMaxChars }));
    }
    const messages: ChatMessage[] = [
      { role: 'system', content: system.join('\n\n') },
      { role: 'user', content: text },
    ];
    const chain = this.d.chains.get(skill.model ?? this.d.defaults.modelChain);
    try {
      const r = await runToolLoop({ ...this.d.loop, chain }, { messages, caller, allowedTools });
      await this.d.usage
        ?.record({
          userId: caller.userId,
          route: caller.route ?? `skill:${name}`,
          model: r.model,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          requests: r.modelCalls,
        })
        .catch((err) =>
          this.d.log.warn('token usage not recorded', { ...fields, error: { message: errorMessage(err) } }),
        );
      this.d.log.info('skill run answered by the model', {
        ...fields,
        labels: { ...fields.labels, model: r.model },
      });
      const sources = passages.length > 0 ? citedSources(r.content, passages) : '';
      return sources ? `${r.content}\n\n${sources}` : r.content;
    } catch (err) {
      if (isSwitchboardError(err) && err.code === ErrorCodes.ALL_MODELS_FAILED) {
        throw new SkillRunError('TOOL_FAILED', `skill ${name}: every model failed: ${err.message}`);
      }
      throw err;
    }
  };
}
