import {
  errorMessage,
  type InboundEnvelope,
  type Logger,
  messageLogFields,
  PgListener,
  type Pool,
} from '@switchboard/core';
import {
  DEFAULT_PROFILE,
  RegexRunner,
  ROUTING_CHANGED_CHANNEL,
  RoutingStore,
  type StoredRule,
  validateRule,
} from '@switchboard/routing';
import { type CompiledRule, matchesCheaply } from './match.ts';
import { type AgentProfile, defaultProfile, type ProfileDefaults, resolveProfile } from './profile.ts';

/**
 * Names the intent of a message, choosing among the labels the rules use; undefined when none fits.
 * The lead wires a small classifier prompt to the model behind it.
 */
export type IntentClassifier = (
  text: string,
  labels: string[],
  signal?: AbortSignal,
) => Promise<string | undefined>;

interface DecisionBase {
  /** For token usage, tool audit and logs: the rule's name, or `default` when no rule matched. */
  route: string;
  /** The rule that matched; undefined for the default route. */
  ruleId: string | undefined;
  /** The classifier's answer, when a rule needed one. */
  intent: string | undefined;
}

export type RouteDecision =
  | (DecisionBase & { action: 'agent'; profile: AgentProfile })
  | (DecisionBase & { action: 'reply'; text: string })
  | (DecisionBase & { action: 'ignore' });

interface Snapshot {
  rules: CompiledRule[];
  profiles: Map<string, AgentProfile>;
  /** Every intent label the rules use, for the classifier prompt. */
  intentLabels: string[];
}

export interface RouterOptions {
  pool: Pool;
  /** For the dedicated LISTEN connection. */
  databaseUrl: string;
  log: Logger;
  defaults: ProfileDefaults;
  /** Safety net for a missed notification; changes normally apply within milliseconds. */
  reloadIntervalMs: number;
  /** Time budget of one text pattern against one message. */
  regexBudgetMs: number;
  classify?: IntentClassifier;
  /** Classifier time limit; past it the message is treated as having no intent. */
  classifyTimeoutMs?: number;
  applicationName?: string;
  onReload?: (info: { rules: number; profiles: number; skipped: number }) => void;
}

const INTENT_CACHE_SIZE = 1_000;

/**
 * Picks the route of each message: enabled rules in position order, first match wins, else the
 * default profile built from the worker's settings. Rules live in PostgreSQL; a change anywhere
 * reaches every worker through NOTIFY within milliseconds, with a periodic reload as a safety net.
 * A rule or profile that fails validation is skipped with an error log; it never stops the worker.
 */
export class Router {
  readonly store: RoutingStore;
  private snapshot: Snapshot;
  private readonly fallback: AgentProfile;
  private readonly regex: RegexRunner;
  private readonly listener: PgListener;
  /** Rules whose pattern ran out of time, skipped until the next reload. */
  private readonly quarantined = new Set<string>();
  /** Classifier answers by message id, so a redelivered message is not classified twice. */
  private readonly intents = new Map<string, string | undefined>();
  /** Disabled rules already reported, so a reload every minute does not repeat them. */
  private readonly reportedDisabled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private loads = 0;

  constructor(private readonly o: RouterOptions) {
    this.store = new RoutingStore(o.pool);
    this.fallback = defaultProfile(o.defaults);
    this.snapshot = { rules: [], profiles: new Map(), intentLabels: [] };
    this.regex = new RegexRunner(o.regexBudgetMs);
    this.listener = new PgListener({
      databaseUrl: o.databaseUrl,
      channels: [ROUTING_CHANGED_CHANNEL],
      what: 'routing changes',
      log: o.log,
      applicationName: o.applicationName,
      onNotify: () => void this.reload(),
      // Notifications sent while disconnected are lost: read everything again.
      onConnected: () => void this.reload(),
    });
  }

  /** How many times the rules were (re)loaded; tests wait on it. */
  get version(): number {
    return this.loads;
  }

  get defaultProfile(): AgentProfile {
    return this.fallback;
  }

  /** The rules in force, in order. */
  get rules(): ReadonlyArray<Pick<CompiledRule, 'id' | 'position' | 'name' | 'target'>> {
    return this.snapshot.rules;
  }

  /** Listens first and loads second, so no change between the two is missed. Throws if the load fails. */
  async start(): Promise<void> {
    await this.listener.start();
    await this.reload();
    if (this.loads === 0) throw new Error('routing rules could not be loaded');
    this.timer = setInterval(() => void this.reload(), this.o.reloadIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.listener.stop();
    while (this.loading) await this.loading;
  }

  /** Reads rules and profiles again. Coalesces: calls during a load cause one more load after it. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        try {
          this.snapshot = await this.load();
          this.quarantined.clear();
          this.loads++;
        } catch (err) {
          this.o.log.warn('routing rules not reloaded; keeping the current ones', {
            error: { message: errorMessage(err) },
          });
        }
      } while (this.again);
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<Snapshot> {
    const { rules, profiles } = await this.store.snapshot();
    const resolved = new Map<string, AgentProfile>();
    let skipped = 0;
    for (const p of profiles) {
      if ('problem' in p) {
        skipped++;
        this.o.log.error('agent profile skipped: invalid', {
          labels: { profile: p.name },
          error: { message: p.problem },
        });
        continue;
      }
      resolved.set(p.name, resolveProfile(p, this.o.defaults));
    }
    const compiled: CompiledRule[] = [];
    for (const r of rules) {
      if (!r.enabled) {
        this.reportDisabled(r);
        continue;
      }
      const problem = r.problem ?? this.targetProblem(r.target, resolved);
      if (problem) {
        skipped++;
        this.o.log.error('routing rule skipped: invalid', {
          labels: { rule: r.name, rule_id: r.id },
          error: { message: problem },
        });
        continue;
      }
      // validateRule ran in listRules; compiling again here keeps the RegExp out of the stored shape.
      const { regex } = validateRule(r.match, r.target);
      compiled.push({
        id: r.id,
        position: r.position,
        name: r.name,
        match: r.match,
        target: r.target,
        regex,
      });
    }
    const intentLabels = [
      ...new Set(compiled.flatMap((r) => (r.match.intent ? [r.match.intent] : []))),
    ].sort();
    this.o.onReload?.({ rules: compiled.length, profiles: resolved.size, skipped });
    return { rules: compiled, profiles: resolved, intentLabels };
  }

  /** A rule a migration switched off is said once per worker (and again after each edit), not every reload. */
  private reportDisabled(r: StoredRule): void {
    if (!r.disabledReason) return;
    const key = `${r.id}@${r.updatedAt.toISOString()}`;
    if (this.reportedDisabled.has(key)) return;
    this.reportedDisabled.add(key);
    this.o.log.warn('routing rule disabled until an administrator fixes it', {
      labels: { rule: r.name, rule_id: r.id },
      error: { message: r.problem ?? r.disabledReason },
    });
  }

  private targetProblem(
    target: CompiledRule['target'],
    profiles: Map<string, AgentProfile>,
  ): string | undefined {
    if (!('profile' in target) || target.profile === DEFAULT_PROFILE || profiles.has(target.profile)) return;
    return `target profile "${target.profile}" is missing or invalid`;
  }

  /**
   * The route of one message. The classifier (argument, else the one given at construction) is
   * called at most once per message, and only when a rule with an intent is reached and all its
   * other conditions hold.
   */
  async resolve(env: InboundEnvelope, classify = this.o.classify): Promise<RouteDecision> {
    const snap = this.snapshot;
    let intent: { label: string | undefined } | undefined;
    for (const rule of snap.rules) {
      if (this.quarantined.has(rule.id) || !matchesCheaply(rule.match, env)) continue;
      if (rule.regex) {
        const hit = this.regex.test(rule.regex, env.text);
        if (hit === 'timeout') {
          this.quarantined.add(rule.id);
          this.o.log.error('routing rule skipped until the next reload: its text pattern ran out of time', {
            ...messageLogFields(env),
            labels: { rule: rule.name, rule_id: rule.id },
          });
          continue;
        }
        if (!hit) continue;
      }
      if (rule.match.intent) {
        if (!classify) {
          this.o.log.warn('intent rule skipped: no intent classifier configured', {
            ...messageLogFields(env),
            labels: { rule: rule.name },
          });
          continue;
        }
        intent ??= { label: await this.classify(env, snap.intentLabels, classify) };
        if (intent.label !== rule.match.intent) continue;
      }
      return this.decide(rule, snap, intent?.label);
    }
    return {
      action: 'agent',
      route: DEFAULT_PROFILE,
      ruleId: undefined,
      intent: intent?.label,
      profile: this.fallback,
    };
  }

  private decide(rule: CompiledRule, snap: Snapshot, intent: string | undefined): RouteDecision {
    const base = { route: rule.name, ruleId: rule.id, intent };
    const t = rule.target;
    if ('action' in t)
      return t.action === 'reply'
        ? { ...base, action: 'reply', text: t.text }
        : { ...base, action: 'ignore' };
    const profile = t.profile === DEFAULT_PROFILE ? this.fallback : snap.profiles.get(t.profile)!;
    return { ...base, action: 'agent', profile };
  }

  private async classify(env: InboundEnvelope, labels: string[], classify: IntentClassifier) {
    if (this.intents.has(env.id)) return this.intents.get(env.id);
    let answer: string | undefined;
    try {
      const signal = AbortSignal.timeout(this.o.classifyTimeoutMs ?? 15_000);
      // Raced, not only signalled: a classifier that ignores the signal must not hold the turn.
      answer = await Promise.race([
        classify(env.text, labels, signal),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('intent classifier timed out')), {
            once: true,
          }),
        ),
      ]);
    } catch (err) {
      // Not remembered: a redelivery of this message may find the classifier working again.
      this.o.log.warn('intent classifier failed; treating the message as having no intent', {
        ...messageLogFields(env),
        error: { message: errorMessage(err) },
      });
      return undefined;
    }
    // Only a label the rules know counts; anything else the model says is no intent.
    const label = answer !== undefined && labels.includes(answer) ? answer : undefined;
    if (this.intents.size >= INTENT_CACHE_SIZE) this.intents.delete(this.intents.keys().next().value!);
    this.intents.set(env.id, label);
    return label;
  }
}
