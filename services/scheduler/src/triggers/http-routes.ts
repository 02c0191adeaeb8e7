import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { Cron } from 'croner';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WorkflowError, WorkflowErrorCode } from '../errors.ts';
import type { RunRow, RunStore } from '../store/run-store.ts';
import type { LoadedWorkflow, WorkflowRegistry } from '../workflow/registry.ts';
import { triggerType } from '../workflow/schema.ts';
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

function bearer(req: FastifyRequest): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) throw unauthorized('missing bearer token (Authorization: Bearer <token>)');
  return m[1]!;
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
      ...(wf.trigger.message ? { pattern: wf.trigger.message.pattern } : {}),
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
  const apiDigest = o.token ? digest(o.token) : undefined;
  const isApiToken = (token: string) => (apiDigest ? sameDigest(digest(token), apiDigest) : false);
  const requireApi = async (req: FastifyRequest) => {
    if (!apiDigest) {
      throw new WorkflowError(
        WorkflowErrorCode.apiDisabled,
        'the workflow API is off: set WORKFLOW_WEBHOOK_TOKEN on the scheduler',
      );
    }
    if (!isApiToken(bearer(req))) throw unauthorized('invalid workflow API token');
  };

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/workflows/:name/trigger',
    { bodyLimit: o.bodyLimit },
    async (req, reply) => {
      const token = bearer(req);
      const loaded = o.registry.get(req.params.name);
      const own = loaded?.workflow.trigger.webhook?.token_sha256;
      const api = isApiToken(token);
      // Unknown workflow and wrong token look the same to a caller without the API token.
      if (!api && !(own && sameDigest(digest(token), Buffer.from(own, 'hex')))) {
        throw unauthorized('invalid token for this workflow');
      }
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

  app.get('/workflows', { preHandler: requireApi }, async () => ({
    workflows: o.registry.list().map(summary),
    problems: o.registry.problems,
  }));

  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>(
    '/workflows/:name/runs',
    { preHandler: requireApi },
    async (req) => {
      const limit = Math.min(Math.max(Number(req.query.limit ?? 20) || 20, 1), 200);
      const runs = await o.runs.list(req.params.name, limit);
      return { workflow: req.params.name, runs: runs.map(runView) };
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/workflows/:name/runs/:id',
    { preHandler: requireApi },
    async (req) => {
      const { id, name } = req.params;
      const run = /^[0-9a-f-]{36}$/i.test(id) ? await o.runs.get(id) : undefined;
      if (!run || run.workflow !== name) {
        throw new WorkflowError(
          WorkflowErrorCode.notFound,
          `no run ${id.slice(0, 64)} of workflow ${name.slice(0, 64)}`,
        );
      }
      return { ...runView(run), steps: await o.runs.steps(run.id) };
    },
  );
}
