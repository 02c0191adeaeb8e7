import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Authenticator, bearerToken, caller, ErrorCodes, SwitchboardError } from '@switchboard/core';
import { triggerType, WorkflowError, WorkflowErrorCode } from '@switchboard/workflows';
import { Cron } from 'croner';
import type { FastifyInstance } from 'fastify';
import type { RunRow, RunStore } from '../store/run-store.ts';
import type { LoadedWorkflow, WorkflowRegistry } from '../workflow/registry.ts';
import type { RunRequests } from './run-requests.ts';

export interface WorkflowRoutesOptions {
  registry: WorkflowRegistry;
  runs: RunStore;
  requests: RunRequests;
  /** WORKFLOW_WEBHOOK_TOKEN; unset: only workflows with their own token can be triggered. */
  token?: string;
  bodyLimit: number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameDigest = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

function unauthorized(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCodes.UNAUTHORIZED, message, { statusCode: 401 });
}

/**
 * The scheduler's callers: the workflow API token (WORKFLOW_WEBHOOK_TOKEN, a service credential)
 * or, on a webhook route, that workflow's own token. Resolved after routing, from the workflow
 * name the router matched. Unknown workflow and wrong token look the same to a caller.
 */
export function workflowAuthenticator(o: { token?: string; registry: WorkflowRegistry }): Authenticator {
  const apiDigest = o.token ? digest(o.token) : undefined;
  return async (req) => {
    const token = bearerToken(req);
    if (token === undefined) return null;
    if (apiDigest && sameDigest(digest(token), apiDigest))
      return { kind: 'service', id: 'workflow-api', name: 'WORKFLOW_WEBHOOK_TOKEN', via: 'bearer' };
    const name = (req.params as { name?: unknown } | undefined)?.name;
    const own =
      typeof name === 'string' ? o.registry.get(name)?.workflow.trigger.webhook?.token_sha256 : undefined;
    if (typeof name === 'string' && own && sameDigest(digest(token), Buffer.from(own, 'hex')))
      return { kind: 'webhook', id: `webhook:${name}`, name: `webhook token of ${name}`, via: 'bearer' };
    throw unauthorized(
      typeof name === 'string' ? 'invalid token for this workflow' : 'invalid workflow API token',
    );
  };
}

/** What a message trigger listens to, for the listing: the pattern and the filters that are set. */
function messageFilters(m: NonNullable<LoadedWorkflow['workflow']['trigger']['message']>) {
  const platforms = m.platforms ?? (m.platform ? [m.platform] : undefined);
  return {
    pattern: m.pattern,
    ...(platforms ? { platforms } : {}),
    ...(m.users ? { users: m.users } : {}),
    ...(m.channel ? { channel: m.channel } : {}),
  };
}

function summary(w: LoadedWorkflow) {
  const wf = w.workflow;
  const type = triggerType(wf);
  const cron = wf.trigger.cron;
  let nextRun: string | null = null;
  if (cron && w.enabled) {
    nextRun =
      new Cron(cron.schedule, { timezone: cron.timezone, paused: true }).nextRun()?.toISOString() ?? null;
  }
  return {
    name: wf.name,
    description: wf.description,
    enabled: w.enabled,
    source: w.source,
    ref: w.ref,
    trigger: {
      type,
      ...(cron ?? {}),
      ...(wf.trigger.message ? messageFilters(wf.trigger.message) : {}),
    },
    steps: wf.steps.map((s) => ({ id: s.id, type: s.type })),
    next_run: nextRun,
  };
}

function runView(r: RunRow) {
  return {
    id: r.id,
    workflow: r.workflow,
    trigger_type: r.trigger_type,
    trigger: r.trigger,
    scheduled_for: r.scheduled_for,
    status: r.status,
    error: r.error,
    failed_step: r.failed_step,
    notified: r.notified,
    trace_id: r.trace_id,
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
  };
}

/**
 * POST /workflows/:name/trigger (webhook or manual run), GET /workflows, GET /workflows/:name/runs
 * and GET /workflows/:name/runs/:id. Refused requests change nothing: no run row, no job.
 */
export function registerWorkflowRoutes(app: FastifyInstance, o: WorkflowRoutesOptions): void {
  // Without WORKFLOW_WEBHOOK_TOKEN nobody holds a service credential: the API refuses everyone.
  const api = { config: { access: { caller: ['service'] as const } } };

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/workflows/:name/trigger',
    { bodyLimit: o.bodyLimit, config: { access: { caller: ['service', 'webhook'] } } },
    async (req, reply) => {
      // The authenticator matched this workflow's own token or the API token before we got here.
      const who = caller(req);
      const loaded = o.registry.get(req.params.name);
      if (who.kind === 'webhook' && who.id !== `webhook:${req.params.name}`)
        throw unauthorized('invalid token for this workflow');
      if (!loaded) {
        throw new WorkflowError(WorkflowErrorCode.notFound, `no workflow "${req.params.name.slice(0, 64)}"`);
      }
      if (!loaded.enabled) {
        throw new WorkflowError(
          WorkflowErrorCode.disabled,
          `the workflow "${loaded.workflow.name}" is disabled`,
        );
      }
      const body = req.body ?? {};
      if (typeof body !== 'object' || Array.isArray(body)) {
        throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'the body must be a JSON object (or empty)', {
          statusCode: 400,
        });
      }
      const key = req.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > 200)) {
        throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'Idempotency-Key: 1-200 characters', {
          statusCode: 400,
        });
      }
      const type = loaded.workflow.trigger.webhook ? 'webhook' : 'manual';
      const { run, duplicate } = await o.requests.request({
        workflow: loaded.workflow.name,
        triggerType: type,
        key: key ?? randomUUID(),
        trigger: {
          type,
          body,
          received_at: new Date().toISOString(),
          ...(key ? { idempotency_key: key } : {}),
        },
      });
      return reply.status(202).send({
        run_id: run.id,
        workflow: run.workflow,
        status: run.status,
        duplicate,
        trace_id: run.trace_id,
      });
    },
  );

  app.get('/workflows', api, async () => ({
    workflows: o.registry.list().map(summary),
    problems: o.registry.problems,
  }));

  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>(
    '/workflows/:name/runs',
    api,
    async (req) => {
      const limit = Math.min(Math.max(Number(req.query.limit ?? 20) || 20, 1), 200);
      const runs = await o.runs.list(req.params.name, limit);
      return { workflow: req.params.name, runs: runs.map(runView) };
    },
  );

  app.get<{ Params: { name: string; id: string } }>('/workflows/:name/runs/:id', api, async (req) => {
    const { id, name } = req.params;
    const run = /^[0-9a-f-]{36}$/i.test(id) ? await o.runs.get(id) : undefined;
    if (!run || run.workflow !== name) {
      throw new WorkflowError(
        WorkflowErrorCode.notFound,
        `no run ${id.slice(0, 64)} of workflow ${name.slice(0, 64)}`,
      );
    }
    return { ...runView(run), steps: await o.runs.steps(run.id) };
  });
}
