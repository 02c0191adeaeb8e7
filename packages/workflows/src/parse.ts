import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Workflow, workflowSchema } from './schema.ts';
import { formatPath } from './template.ts';

/** What this installation offers workflows; a workflow needing more is refused at load. */
export interface WorkflowLimits {
  /** WORKFLOW_TOOLS. */
  tools: ReadonlySet<string>;
  /** Whether MODEL_CHAIN is set, i.e. prompt steps can run. */
  models: boolean;
}

export type ParseOutcome = { ok: true; workflow: Workflow } | { ok: false; reason: string };

/** `steps[1] (post).with.channel`: where in the file, with the step's id when there is one. */
function describePath(path: readonly PropertyKey[], raw: unknown): string {
  if (path.length === 0) return '(workflow)';
  if (path[0] === 'steps' && typeof path[1] === 'number') {
    const steps = (raw as { steps?: unknown })?.steps;
    const id = Array.isArray(steps) ? (steps[path[1]] as { id?: unknown })?.id : undefined;
    const head = `steps[${path[1]}]${typeof id === 'string' ? ` (id "${id}")` : ''}`;
    const rest = formatPath(path.slice(2));
    return rest ? `${head}.${rest}` : head;
  }
  return formatPath(path);
}

function describeIssues(error: z.ZodError, raw: unknown): string {
  return error.issues.map((i) => `${describePath(i.path, raw)}: ${i.message}`).join('; ');
}

/**
 * Parses and validates one workflow's YAML. Never throws: a problem comes back as one line naming
 * every field at fault, for the log and the API.
 */
export function parseWorkflow(text: string, limits: WorkflowLimits): ParseOutcome {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100, prettyErrors: true });
  } catch (err) {
    return { ok: false, reason: `not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, reason: 'a workflow is a YAML mapping (name, trigger, steps…)' };
  }
  const parsed = workflowSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error, raw) };
  const wf = parsed.data;
  const problems: string[] = [];
  const tools = (step: string, tool: string, i: number) => {
    if (!limits.tools.has(tool)) {
      problems.push(
        `${describePath(['steps', i, ...step.split('.')], raw)}: the tool "${tool}" is not allowed for workflows (WORKFLOW_TOOLS: ${[...limits.tools].join(', ') || 'none'})`,
      );
    }
  };
  for (const [i, s] of wf.steps.entries()) {
    if (s.type === 'tool') tools('with.tool', s.with.tool, i);
    if (s.type === 'send_message') tools('type', 'send_message', i);
    if (s.type === 'prompt' && !limits.models) {
      problems.push(
        `${describePath(['steps', i, 'type'], raw)}: prompt steps need a model, and MODEL_CHAIN is not set on the scheduler`,
      );
    }
  }
  if (wf.on_failure && !limits.tools.has('send_message')) {
    problems.push(
      'on_failure.send_message: the tool "send_message" is not allowed for workflows (WORKFLOW_TOOLS)',
    );
  }
  if (problems.length) return { ok: false, reason: problems.join('; ') };
  return { ok: true, workflow: wf };
}
