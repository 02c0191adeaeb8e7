import type { BuiltinToolName } from '@switchboard/core';
import { z } from 'zod';
import {
  browserArgs,
  filesArgs,
  httpFetchArgs,
  SEND_MESSAGE_MAX_FILES,
  sendMessageArgs,
  shellArgs,
} from './args.ts';

/** Same shape as the agent-worker's ToolSpec (models/provider.ts): what the model is offered. */
export interface BuiltinToolSpec {
  name: BuiltinToolName;
  description: string;
  parameters: Record<string, unknown>;
}

function parameters(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'input', target: 'draft-7' }) as Record<
    string,
    unknown
  >;
  return json;
}

const descriptions: Record<BuiltinToolName, [string, z.ZodType]> = {
  shell: [
    'Run one allowlisted command on the server (e.g. df, uptime, free) in the workspace directory and return its output. No shell: no pipes, redirects, variables or command chaining. Commands not on the allowlist are refused with the list of allowed ones.',
    shellArgs,
  ],
  http_fetch: [
    'Fetch a URL over HTTP(S) with GET or POST and return the status, main headers and the body as text (capped). Internal, private and cloud-metadata addresses are refused unless an operator allowlisted them.',
    httpFetchArgs,
  ],
  files: [
    'Read, write, list or search files in the agent workspace. Paths are relative to the workspace root; absolute paths, ".." and links leading outside are refused.',
    filesArgs,
  ],
  browser: [
    'Open a web page in a headless browser and return its title and visible text, with a screenshot attached. The same address rules as http_fetch apply to the page and everything it loads.',
    browserArgs,
  ],
  send_message: [
    `Post a message to one of the channels an operator configured (by name), optionally with up to ${SEND_MESSAGE_MAX_FILES} files from the workspace attached (paths as the files tool uses them; the text may then be empty). Unknown names are refused with the list of configured channels; a file that is missing, outside the workspace or over the size limit refuses the whole message and nothing is sent.`,
    sendMessageArgs,
  ],
};

/**
 * The built-in tools as offered to the model — plain data generated from the argument schemas the
 * runner validates with. The agent-worker imports this to build each route's `tools` list.
 */
export const builtinToolSpecs: readonly BuiltinToolSpec[] = Object.freeze(
  (Object.entries(descriptions) as Array<[BuiltinToolName, [string, z.ZodType]]>).map(
    ([name, [description, schema]]) => Object.freeze({ name, description, parameters: parameters(schema) }),
  ),
);

/** The specs of the named tools, in the given order; names that are not built-in are skipped. */
export function builtinToolSpecsFor(names: readonly string[]): BuiltinToolSpec[] {
  return names.flatMap((n) => builtinToolSpecs.filter((s) => s.name === n));
}
