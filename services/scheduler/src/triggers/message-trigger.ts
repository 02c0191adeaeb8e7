import {
  type Broker,
  type ConsumerHandle,
  type Delivery,
  errorMessage,
  type InboundEnvelope,
  type Logger,
  messageLogFields,
  parseInbound,
} from '@switchboard/core';
import { compileRulePattern, RegexRunner } from '@switchboard/routing';
import { messageChannel } from '@switchboard/workflows';
import type { Channel } from 'amqplib';
import type { LoadedWorkflow, WorkflowRegistry } from '../workflow/registry.ts';
import type { RunRequests } from './run-requests.ts';

/** What the trigger needs to know about a sender; the connectors' pairing store answers it. */
export interface SenderStanding {
  standing(
    platform: string,
    externalId: string,
  ): Promise<{ paired: boolean; blockedUntil: Date | undefined }>;
}

/**
 * Platforms whose ingress authenticates every caller itself (ingress-web: an API token or a JWT),
 * so a message there comes from a credential holder. Every other platform is a chat platform where
 * anyone can write to the bot: there, only paired senders are known. A platform added later is a
 * chat platform until listed here.
 */
const AUTHENTICATED_PLATFORMS: ReadonlySet<string> = new Set(['web', 'api', 'openai']);

export interface MessageTriggerOptions {
  prefix: string;
  queueType: 'quorum' | 'classic';
  ttlMs: number;
  maxQueued: number;
  patternBudgetMs: number;
}

/** The scheduler's own copy of inbound traffic: shared by its replicas, apart from the agents' queues. */
export function messageQueueName(prefix: string): string {
  return `${prefix}.scheduler.messages`;
}

/**
 * Message triggers. A queue of the scheduler's own is bound to the inbound topic exchange, so it
 * sees a copy of every inbound message while the agent workers get theirs untouched. The queue
 * drops its oldest messages past a length and an age, and never pushes back on publishers: a
 * stopped scheduler must not slow the message path down. Seeing a message is not acting on it:
 * a run starts only when the workflow's filters (platforms, users, channel, pattern) all hold
 * and the sender is known (see `known`).
 */
export class MessageTrigger {
  readonly queue: string;
  private handle: ConsumerHandle | undefined;
  private readonly runner: RegexRunner;
  private readonly compiled = new Map<string, RegExp>();

  constructor(
    private readonly broker: Broker,
    private readonly registry: WorkflowRegistry,
    private readonly requests: RunRequests,
    private readonly senders: SenderStanding,
    private readonly log: Logger,
    private readonly o: MessageTriggerOptions,
  ) {
    this.queue = messageQueueName(o.prefix);
    this.runner = new RegexRunner(o.patternBudgetMs);
  }

  async start(): Promise<void> {
    const { queue, o } = this;
    await this.broker.addSetup(async (ch: Channel) => {
      await ch.assertQueue(queue, {
        durable: true,
        arguments: {
          'x-queue-type': o.queueType,
          'x-message-ttl': o.ttlMs,
          'x-max-length': o.maxQueued,
          'x-overflow': 'drop-head',
        },
      });
      await ch.bindQueue(queue, this.broker.names.inbound, 'in.#');
      // So delayed retries (retryOrPark) come back here.
      await ch.bindQueue(queue, this.broker.names.requeue, queue);
    });
    this.handle = await this.broker.consume(queue, (d) => this.onDelivery(d), { prefetch: 16 });
  }

  async stop(): Promise<void> {
    await this.handle?.cancel().catch(() => {});
  }

  private pattern(w: LoadedWorkflow): RegExp {
    const m = w.workflow.trigger.message!;
    const key = `${m.flags ?? ''}/${m.pattern}`;
    let re = this.compiled.get(key);
    if (!re) {
      // Validated at load; compiled once per distinct pattern.
      re = compileRulePattern(m.pattern, m.flags ?? '');
      if (this.compiled.size > 500) this.compiled.clear();
      this.compiled.set(key, re);
    }
    return re;
  }

  private matches(w: LoadedWorkflow, env: InboundEnvelope): RegExpExecArray | undefined {
    const m = w.workflow.trigger.message;
    if (!m || !w.enabled) return undefined;
    const platforms: readonly string[] | undefined = m.platforms ?? (m.platform ? [m.platform] : undefined);
    if (platforms && !platforms.includes(env.platform)) return undefined;
    if (m.users && !m.users.includes(`${env.platform}:${env.user.id}`)) return undefined;
    const channel = messageChannel(m);
    if (channel) {
      if (channel.platform !== env.platform) return undefined;
      if (channel.id !== env.conversationId && channel.id !== env.chat?.channelId) return undefined;
    }
    const re = this.pattern(w);
    const hit = this.runner.test(re, env.text);
    if (hit === 'timeout') {
      this.log.warn('message trigger pattern ran out of time; treated as no match', {
        ...messageLogFields(env),
        labels: { workflow: w.workflow.name },
      });
      return undefined;
    }
    if (!hit) return undefined;
    re.lastIndex = 0;
    return re.exec(env.text) ?? undefined;
  }

  /**
   * Strangers never start a workflow, whatever the connector's STRANGER_MODE: under `open` their
   * messages reach the agents, but a workflow acts with the operator's tools and channels. Known:
   * a caller ingress-web authenticated, a user on the connector's ALLOWED_USERS (its gate says
   * so in `user.admitted`), or a sender the pairing store holds as paired and not blocked — asked
   * now, not taken from the envelope, so an unpairing counts for messages still queued.
   */
  private async known(env: InboundEnvelope): Promise<boolean> {
    if (AUTHENTICATED_PLATFORMS.has(env.platform)) return true;
    if (env.user.admitted === 'allowlisted') return true;
    const s = await this.senders.standing(env.platform, env.user.id);
    return s.paired && s.blockedUntil === undefined;
  }

  private async onDelivery(d: Delivery): Promise<void> {
    let env: InboundEnvelope;
    try {
      env = parseInbound(d.json());
    } catch (err) {
      // Not ours to park: the agent workers get their own copy and deal with it.
      this.log.debug('message trigger: not an inbound envelope', { error: { message: errorMessage(err) } });
      d.ack();
      return;
    }
    const fields = messageLogFields(env);
    const labels = { ...fields.labels, message_id: env.id };
    try {
      const matched = this.registry
        .list()
        .map((w) => ({ w, match: this.matches(w, env) }))
        .filter((x): x is { w: LoadedWorkflow; match: RegExpExecArray } => x.match !== undefined);
      if (matched.length === 0) {
        this.log.debug('message trigger: no workflow matches', { ...fields, labels });
        d.ack();
        return;
      }
      if (!(await this.known(env))) {
        this.log.info('message trigger: the sender is a stranger; no workflow runs', {
          ...fields,
          labels: {
            ...labels,
            sender: `${env.platform}:${env.user.id}`,
            workflows: matched.map((x) => x.w.workflow.name).join(','),
          },
        });
        d.ack();
        return;
      }
      for (const { w, match } of matched) {
        const { run, duplicate } = await this.requests.request({
          workflow: w.workflow.name,
          triggerType: 'message',
          key: env.id,
          traceId: env.traceId,
          trigger: {
            type: 'message',
            text: env.text,
            match: [...match].map((g) => g ?? null),
            platform: env.platform,
            bot_id: env.botId,
            conversation_id: env.conversationId,
            channel_id: env.chat?.channelId ?? null,
            user: { id: env.user.id, name: env.user.name ?? null },
            message_id: env.id,
            received_at: env.receivedAt,
          },
        });
        this.log.info(duplicate ? 'message trigger: run exists already' : 'message trigger: run queued', {
          ...fields,
          labels: { ...labels, workflow: w.workflow.name, run_id: run.id },
        });
      }
      d.ack();
    } catch (err) {
      // The runs made before the failure are found again by their key on the retry.
      this.log.warn('message trigger failed; retrying later', {
        ...messageLogFields(env),
        error: { message: errorMessage(err) },
      });
      await d.retryOrPark(err);
    }
  }
}
