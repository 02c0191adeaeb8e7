import {
  type BuiltinToolName,
  ErrorCodes,
  errorMessage,
  type InboundEnvelope,
  isSwitchboardError,
  type Logger,
  messageLogFields,
  type OutboundEnvelope,
  type ToolCaller,
} from '@switchboard/core';
import type { ModelSpec } from '@switchboard/models';
import { isStranger } from '@switchboard/routing';
import type { KnowledgeBase } from '../knowledge/knowledge-base.ts';
import { citedSources, promptContext } from '../knowledge/prompt-context.ts';
import { ResponseCache } from '../limits/response-cache.ts';
import type { TokenUsage } from '../limits/token-usage.ts';
import { usageUserId } from '../limits/token-usage.ts';
import type { ChatMessage } from '../models/provider.ts';
import type { AgentProfile } from '../routing/profile.ts';
import type { RouteDecision, Router } from '../routing/router.ts';
import type { SkillRegistry } from '../skills/registry.ts';
import type { Skill } from '../skills/types.ts';
import { runToolLoop, type ToolLoopDeps } from '../tools/loop.ts';
import type { ChainFactory } from './chains.ts';
import { type COMMANDS, helpText, parseCommand } from './commands.ts';
import type { ConversationSettings } from './conversation-settings.ts';

export const APOLOGY =
  'Sorry — I could not get an answer from any of my models just now. Your message was received; please try again in a moment.';
export const RESET_REPLY = 'Conversation reset. I have forgotten our earlier messages in this chat.';
/** What a stranger hears instead of ids, routes, models or tools: nothing they could map the setup with. */
export const STRANGER_DETAILS_REPLY =
  'Sorry, I share details about this assistant only with approved users. Ask your administrator if you need them.';
/** Commands whose answer describes the setup (ids, routes, models, tools). */
const REVEALING: ReadonlySet<keyof typeof COMMANDS> = new Set(['status', 'whoami', 'model']);

export interface AgentReply {
  text: string;
  status: 'ok' | 'error';
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  attachments: OutboundEnvelope['attachments'];
  /** The route that answered, for logs and usage. */
  route: string;
  /** /reset: the conversation starts a new session with this turn. */
  reset?: boolean;
  /** A routing rule said to ignore the message: nothing is stored or sent. */
  ignore?: boolean;
  outcome: 'answered' | 'apologised' | 'command' | 'cached' | 'skill' | 'fixed';
}

export interface AgentDeps {
  router: Pick<Router, 'resolve'>;
  skills: Pick<SkillRegistry, 'match' | 'get' | 'list' | 'errors'>;
  kb?: Pick<KnowledgeBase, 'search' | 'listDocuments'>;
  chains: ChainFactory;
  loop: Omit<ToolLoopDeps, 'chain'>;
  cache?: ResponseCache;
  usage: TokenUsage;
  settings: ConversationSettings;
  log: Logger;
  knowledge: { searchLimit: number; contextMaxChars: number };
  /** What the tool-runner reports it can run, for /status. */
  toolsAvailable: () => string[];
}

export interface AgentInput {
  env: InboundEnvelope;
  /** Earlier turns of the session (or the client's own context), oldest first. */
  history: ChatMessage[];
  /** The user's message as the model reads it. */
  userContent: string;
}

/**
 * What answers one message: a chat command, a routing rule's fixed action, a skill's handler, the
 * response cache, or the model with the route's tools, skill prompt and knowledge passages. The
 * turn around it (history, the transaction, the outbox) is TurnProcessor's.
 */
export class Agent {
  constructor(private readonly d: AgentDeps) {}

  async answer(input: AgentInput): Promise<AgentReply> {
    const { env } = input;
    const decision = await this.d.router.resolve(env);
    const command = parseCommand(env.text);
    if (command) return this.command(command.name, command.args, env, decision);
    if (decision.action === 'ignore') {
      return {
        text: '',
        status: 'ok',
        attachments: [],
        route: decision.route,
        ignore: true,
        outcome: 'fixed',
      };
    }
    if (decision.action === 'reply') {
      return { text: decision.text, status: 'ok', attachments: [], route: decision.route, outcome: 'fixed' };
    }
    const profile = decision.profile;
    // Only skills this route's profile allows are matched, so a skill's handler and local tools
    // never reach a route that does not grant them.
    const found = profile.skill
      ? this.skillByName(profile.skill)
      : this.d.skills.match(env.text, profile.skills);
    const skill = found?.skill;
    const caller = this.caller(env, decision.route, decision.ruleId);

    if (skill?.handler) {
      const handled = await this.runHandler(skill, found?.match ?? null, env, caller);
      if (handled !== undefined) {
        return { text: handled, status: 'ok', attachments: [], route: decision.route, outcome: 'skill' };
      }
    }

    // A skill narrows what its route allows; it never widens it.
    const builtin: BuiltinToolName[] = skill
      ? profile.tools.filter((t) => skill.tools.includes(t))
      : profile.tools;
    const allowedTools = [...builtin, ...(skill?.localTools.map((t) => t.spec.name) ?? [])];
    const passages =
      (skill?.knowledge || profile.knowledge) && this.d.kb
        ? await this.d.kb.search(env.text, { limit: this.d.knowledge.searchLimit }).catch((err) => {
            this.d.log.warn('knowledge search failed; answering without it', {
              ...messageLogFields(env),
              error: { message: errorMessage(err) },
            });
            return [];
          })
        : [];
    // A stateless client (the OpenAI-compatible API) may bring its own system prompt: it wins.
    const clientSystem = input.history.filter((m) => m.role === 'system').map((m) => m.content);
    const system = clientSystem.length > 0 ? clientSystem : [skill?.systemPrompt ?? profile.systemPrompt];
    if (passages.length > 0) {
      system.push(promptContext(passages, { maxChars: this.d.knowledge.contextMaxChars }));
    }
    const messages: ChatMessage[] = [
      { role: 'system', content: system.join('\n\n') },
      ...input.history.filter((m) => m.role !== 'system'),
      { role: 'user', content: input.userContent },
    ];

    const chainSpec = await this.chainFor(env, profile, skill);
    const chain = this.d.chains.get(chainSpec.specs);
    const cacheKey =
      this.d.cache && profile.cacheTtlSeconds > 0 && allowedTools.length === 0
        ? ResponseCache.key({ modelChain: chainSpec.label, messages })
        : undefined;
    if (cacheKey && this.d.cache) {
      const hit = await this.d.cache.get(cacheKey);
      if (hit) {
        this.d.log.info('answered from the response cache', {
          ...messageLogFields(env),
          labels: { route: decision.route, model: hit.model },
        });
        return {
          text: hit.content,
          status: 'ok',
          model: hit.model,
          attachments: [],
          route: decision.route,
          outcome: 'cached',
        };
      }
    }

    try {
      const r = await runToolLoop({ ...this.d.loop, chain }, { messages, caller, allowedTools });
      await this.d.usage
        .record({
          userId: usageUserId(env),
          route: decision.route,
          model: r.model,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          requests: r.modelCalls,
        })
        .catch((err) =>
          this.d.log.warn('token usage not recorded', {
            ...messageLogFields(env),
            error: { message: errorMessage(err) },
          }),
        );
      if (cacheKey && this.d.cache && r.toolCalls.length === 0) {
        await this.d.cache.set(
          cacheKey,
          {
            content: r.content,
            model: r.model,
            promptTokens: r.promptTokens,
            completionTokens: r.completionTokens,
          },
          profile.cacheTtlSeconds,
        );
      }
      const sources = passages.length > 0 ? citedSources(r.content, passages) : '';
      return {
        text: sources ? `${r.content}\n\n${sources}` : r.content,
        status: 'ok',
        model: r.model,
        promptTokens: r.promptTokens,
        completionTokens: r.completionTokens,
        attachments: r.attachments,
        route: decision.route,
        outcome: 'answered',
      };
    } catch (err) {
      if (!isSwitchboardError(err) || err.code !== ErrorCodes.ALL_MODELS_FAILED) throw err;
      this.d.log.error('every model failed; sending the apology', {
        ...messageLogFields(env),
        error: { code: err.code, message: err.message },
      });
      return {
        text: APOLOGY,
        status: 'error',
        attachments: [],
        route: decision.route,
        outcome: 'apologised',
      };
    }
  }

  private skillByName(name: string): { skill: Skill; match: RegExpExecArray | null } | undefined {
    const skill = this.d.skills.get(name);
    if (!skill) this.d.log.warn('route names a skill that is not loaded', { labels: { skill: name } });
    return skill ? { skill, match: null } : undefined;
  }

  private async runHandler(
    skill: Skill,
    match: RegExpExecArray | null,
    env: InboundEnvelope,
    caller: ToolCaller,
  ) {
    try {
      return await skill.handler!({
        text: env.text,
        match,
        caller,
        searchKnowledge: this.d.kb ? (q, o) => this.d.kb!.search(q, o) : undefined,
        signal: AbortSignal.timeout(30_000),
        log: this.d.log,
      });
    } catch (err) {
      // A broken skill must not cost the user an answer: the model takes the turn.
      this.d.log.error('skill handler failed; the model answers instead', {
        ...messageLogFields(env),
        labels: { skill: skill.name },
        error: { message: errorMessage(err) },
      });
      return undefined;
    }
  }

  /** The route's chain, the skill's, or the one model this conversation picked with /model. */
  private async chainFor(env: InboundEnvelope, profile: AgentProfile, skill: Skill | undefined) {
    const specs = skill?.model ?? profile.modelChain;
    const picked = await this.d.settings.model(env);
    const chosen = picked ? specs.find((s) => modelLabel(s) === picked) : undefined;
    const use = chosen ? [chosen] : specs;
    return { specs: use, label: use.map(modelLabel).join(',') };
  }

  /** The grant names the rule that matched; the tool-runner reads what it allows from the database. */
  private caller(env: InboundEnvelope, route: string, ruleId: string | undefined): ToolCaller {
    return {
      platform: env.platform,
      botId: env.botId,
      conversationId: env.conversationId,
      userId: env.user.id,
      internalUserId: env.user.internalId,
      route,
      messageId: env.id,
      traceId: env.traceId,
      grant: { kind: 'route', ruleId: ruleId ?? null },
    };
  }

  private async command(
    name: keyof typeof COMMANDS,
    args: string,
    env: InboundEnvelope,
    decision: RouteDecision,
  ): Promise<AgentReply> {
    const base = {
      status: 'ok' as const,
      attachments: [],
      route: decision.route,
      outcome: 'command' as const,
    };
    const stranger = isStranger(env);
    if (stranger && REVEALING.has(name)) return { ...base, text: STRANGER_DETAILS_REPLY };
    const profile = decision.action === 'agent' ? decision.profile : undefined;
    switch (name) {
      case 'reset':
        return { ...base, text: RESET_REPLY, reset: true };
      case 'help':
        return {
          ...base,
          text: stranger
            ? helpText({ skills: [], tools: [], hideTools: true })
            : helpText({
                skills: this.d.skills
                  .list()
                  .filter((s) => profile?.skills.includes(s.name))
                  .map((s) => ({ name: s.name, description: s.description })),
                tools: profile?.tools ?? [],
              }),
        };
      case 'model': {
        const models = (profile?.modelChain ?? []).map(modelLabel);
        if (!args) {
          const picked = await this.d.settings.model(env);
          return {
            ...base,
            text: [
              `Models answering here, in order: ${models.map((m) => `\`${m}\``).join(', ') || 'none'}.`,
              picked
                ? `This chat uses \`${picked}\` (\`/model auto\` goes back to the order above).`
                : 'Pick one for this chat with `/model <name>`.',
            ].join('\n'),
          };
        }
        if (args === 'auto') {
          await this.d.settings.setModel(env, undefined);
          return { ...base, text: `This chat uses the route's models again: ${models.join(', ')}.` };
        }
        const match = models.find((m) => m === args || m.endsWith(`/${args}`));
        if (!match) {
          return {
            ...base,
            text: `\`${args}\` is not one of the models of this route. Choose one of: ${models.map((m) => `\`${m}\``).join(', ')}.`,
          };
        }
        await this.d.settings.setModel(env, match);
        return { ...base, text: `This chat now uses \`${match}\`.` };
      }
      case 'status': {
        const skills = this.d.skills.list();
        const errors = this.d.skills.errors();
        const docs = this.d.kb
          ? await this.d.kb.listDocuments().then(
              (d) => d.length,
              () => undefined,
            )
          : undefined;
        return {
          ...base,
          text: [
            `**Route:** ${decision.route}${profile ? ` (profile \`${profile.name}\`)` : ''}`,
            `**Models:** ${(profile?.modelChain ?? []).map(modelLabel).join(', ') || '—'}`,
            `**Tools here:** ${profile?.tools.join(', ') || 'none'} (tool-runner offers: ${this.d.toolsAvailable().join(', ') || 'none'})`,
            `**Skills:** ${skills.map((s) => s.name).join(', ') || 'none'}${errors.length > 0 ? ` — ${errors.length} failed to load: ${errors.map((e) => e.file).join(', ')}` : ''}`,
            `**Knowledge base:** ${docs === undefined ? 'not available' : `${docs} documents`}`,
          ].join('\n'),
        };
      }
      case 'whoami':
        return {
          ...base,
          text: [
            `You are \`${env.user.id}\`${env.user.name ? ` (${env.user.name})` : ''} on ${env.platform}.`,
            env.user.internalId ? `Your Switchboard id is \`${env.user.internalId}\`.` : '',
            `Your messages here follow the route **${decision.route}**${profile ? `, answered by the profile \`${profile.name}\`` : ''}.`,
          ]
            .filter(Boolean)
            .join('\n'),
        };
    }
  }
}

export function modelLabel(s: ModelSpec): string {
  return `${s.provider}/${s.model}`;
}
