import { builtinToolNames } from '@switchboard/core';
import { parse } from 'yaml';

/** What a workflow definition grants the tool-runner: the tools its steps name. */
export interface WorkflowGrant {
  name: string;
  enabled: boolean;
  /** Built-in tools named by `tool` and `send_message` steps and by `on_failure.send_message`. */
  tools: Set<string>;
  /** Whether a `skill` step runs a skill: its tool loop gets what the default route grants. */
  runsSkills: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the tools a workflow's YAML names, without the scheduler's full validation: the scheduler
 * refuses to run an invalid workflow, so reading more generously here grants nothing it would run.
 * Only built-in tool names count; undefined when the text is not a workflow at all.
 */
export function workflowGrant(source: string): WorkflowGrant | undefined {
  let doc: unknown;
  try {
    doc = parse(source, { maxAliasCount: 100 });
  } catch {
    return undefined;
  }
  if (!isRecord(doc) || typeof doc.name !== 'string') return undefined;
  const tools = new Set<string>();
  let runsSkills = false;
  for (const step of Array.isArray(doc.steps) ? doc.steps : []) {
    if (!isRecord(step)) continue;
    if (step.type === 'tool' && isRecord(step.with) && typeof step.with.tool === 'string') {
      if ((builtinToolNames as readonly string[]).includes(step.with.tool)) tools.add(step.with.tool);
    } else if (step.type === 'send_message') {
      tools.add('send_message');
    } else if (step.type === 'skill') {
      runsSkills = true;
    }
  }
  if (isRecord(doc.on_failure) && doc.on_failure.send_message !== undefined) tools.add('send_message');
  return { name: doc.name, enabled: doc.enabled !== false, tools, runsSkills };
}
