import {
  type AuditLog,
  auditedChange,
  builtinToolNames,
  errorBody,
  errorMessage,
  type Pool,
} from '@switchboard/core';
import { parseWorkflow, WorkflowStore } from '@switchboard/workflows';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { z } from 'zod';
import { actor, needs } from '../auth/auth.ts';
import { badRequest, parseInput } from '../errors.ts';

export interface SchedulerApi {
  url: string;
  token: string | undefined;
  timeoutMs: number;
}

const UNAVAILABLE = 'SB_ERR_SCHEDULER_UNAVAILABLE';
const nameParam = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a workflow name') });
const runsQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) });
/** The admin cannot know the scheduler's WORKFLOW_TOOLS/MODEL_CHAIN: it checks the rest, the scheduler those on load. */
const LIMITS = { tools: new Set<string>(builtinToolNames), models: true };

/**
 * Workflows through the scheduler's HTTP API (list, runs, manual run) and, for edits, the
 * `workflows` table the scheduler reloads from on NOTIFY.
 */
export function registerWorkflowRoutes(
  app: FastifyInstance,
  o: { scheduler: SchedulerApi; pool: Pool; audit: AuditLog },
): void {
  async function forward(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown }> {
    if (!o.scheduler.token) {
      return {
        status: 503,
        json: errorBody(
          UNAVAILABLE,
          "workflow routes need SCHEDULER_TOKEN (the scheduler's WORKFLOW_WEBHOOK_TOKEN)",
        ),
      };
    }
    try {
      const res = await request(new URL(path, o.scheduler.url), {
        method,
        headers: {
          authorization: `Bearer ${o.scheduler.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: o.scheduler.timeoutMs,
        bodyTimeout: o.scheduler.timeoutMs,
      });
      const text = await res.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = errorBody(UNAVAILABLE, `the scheduler answered ${res.statusCode} without JSON`);
      }
      // The scheduler's own 401 means our SCHEDULER_TOKEN is wrong, not the caller's: not a 401 here.
      const status = res.statusCode === 401 ? 502 : res.statusCode;
      return { status, json };
    } catch (err) {
      return { status: 503, json: errorBody(UNAVAILABLE, `scheduler unreachable: ${errorMessage(err)}`) };
    }
  }

  app.get('/admin/api/workflows', needs('viewer'), async (_req, reply) => {
    const r = await forward('GET', '/workflows');
    return reply.status(r.status).send(r.json);
  });

  app.get('/admin/api/workflows/:name/runs', needs('viewer'), async (req, reply) => {
    const { name } = parseInput(nameParam, req.params, 'workflow');
    const { limit } = parseInput(runsQuery, req.query, 'query');
    const r = await forward('GET', `/workflows/${name}/runs?limit=${limit}`);
    return reply.status(r.status).send(r.json);
  });

  app.post('/admin/api/workflows/:name/run', needs('operator'), async (req, reply) => {
    const { name } = parseInput(nameParam, req.params, 'workflow');
    const body = req.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body))
      throw badRequest('the body must be a JSON object (or empty)');
    const key = req.headers['idempotency-key'];
    const r = await forward(
      'POST',
      `/workflows/${name}/trigger`,
      body,
      typeof key === 'string' ? { 'idempotency-key': key } : {},
    );
    if (r.status < 300) {
      const run = r.json as { run_id?: string };
      // The run happened in the scheduler, not in our database: recorded once it was accepted.
      await o.audit.record(actor(req), 'workflow.run', name, { runId: run.run_id ?? null });
    }
    return reply.status(r.status).send(r.json);
  });

  app.put('/admin/api/workflows/:name', needs('admin'), async (req) => {
    const { name } = parseInput(nameParam, req.params, 'workflow');
    if (typeof req.body !== 'string' || !req.body.trim())
      throw badRequest('the body must be the workflow as YAML (Content-Type: application/yaml)');
    const parsed = parseWorkflow(req.body, LIMITS);
    if (!parsed.ok) throw badRequest(`workflow: ${parsed.reason}`);
    if (parsed.workflow.name !== name)
      throw badRequest(`the YAML names "${parsed.workflow.name}", the path "${name}"`);
    const who = actor(req);
    const source = req.body;
    await auditedChange(o.pool, who, async (db) => {
      const tx = new WorkflowStore(db);
      const before = (await tx.list()).find((w) => w.name === name);
      await tx.save(source, `admin:${who.name}`, LIMITS, before?.enabled ?? true);
      return {
        result: null,
        audit: {
          action: 'workflow.update',
          target: name,
          details: { before: before?.source ?? null, after: source },
        },
      };
    });
    return { workflow: name, saved: true };
  });
}
