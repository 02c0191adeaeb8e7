import { z } from 'zod';

/** Most arguments, and longest argument, a shell call may have: the runner and its sandbox check the same. */
export const MAX_ARGS = 64;
export const MAX_ARG_CHARS = 4096;

/*
 * Argument schemas of the built-in tools. The runner validates every call with them, and
 * specs.ts turns them into the JSON Schema offered to the model, so the two never drift apart.
 * Objects are flat (no top-level unions): OpenAI's function calling wants `type: object` there.
 */

export const shellArgs = z.object({
  command: z
    .string()
    .min(1)
    .max(1024)
    .describe(
      'The program to run, e.g. "df". No shell is involved: pipes, redirects, ";", "&&", "$(...)" and quotes are not interpreted. If "args" is empty, the command is split on spaces.',
    ),
  args: z
    .array(z.string().max(MAX_ARG_CHARS))
    .max(MAX_ARGS)
    .default([])
    .describe('Arguments, one per item, passed to the program as they are, e.g. ["-h", "/"].'),
});
export type ShellArgs = z.infer<typeof shellArgs>;

export const httpFetchArgs = z.object({
  url: z.string().min(1).max(2048).describe('An http:// or https:// URL.'),
  method: z.enum(['GET', 'POST']).default('GET'),
  headers: z
    .record(z.string().max(128), z.string().max(2048))
    .optional()
    .describe('Extra request headers, e.g. {"accept": "application/json"}.'),
  body: z.string().max(65_536).optional().describe('Request body for POST.'),
});
export type HttpFetchArgs = z.infer<typeof httpFetchArgs>;

export const filesArgs = z
  .object({
    op: z
      .enum(['read', 'write', 'list', 'search'])
      .describe(
        'read: a file\'s text; write: create or replace a file; list: a directory\'s entries; search: lines matching "query" in the files under "path".',
      ),
    path: z
      .string()
      .max(1024)
      .optional()
      .describe(
        'Relative to the workspace root, e.g. "notes/today.md". Defaults to the root for list and search.',
      ),
    content: z.string().optional().describe('write: the text to write.'),
    append: z.boolean().default(false).describe('write: add to the end instead of replacing.'),
    offset: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('read: byte offset to start at, to page through big files.'),
    recursive: z.boolean().default(false).describe('list: include subdirectories.'),
    query: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .describe('search: the text (or regular expression) to find.'),
    regex: z.boolean().default(false).describe('search: treat "query" as a JavaScript regular expression.'),
    caseSensitive: z.boolean().default(false).describe('search: match case exactly.'),
    maxResults: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(100)
      .describe('search: stop after this many matches.'),
  })
  .superRefine((a, ctx) => {
    if ((a.op === 'read' || a.op === 'write') && !a.path) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: `${a.op} needs a path` });
    }
    if (a.op === 'write' && a.content === undefined) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'write needs content' });
    }
    if (a.op === 'search' && !a.query) {
      ctx.addIssue({ code: 'custom', path: ['query'], message: 'search needs a query' });
    }
  });
export type FilesArgs = z.infer<typeof filesArgs>;

export const browserArgs = z.object({
  url: z.string().min(1).max(2048).describe('The http:// or https:// page to open.'),
  fullPage: z.boolean().default(false).describe('Screenshot the whole page instead of the first screen.'),
});
export type BrowserArgs = z.infer<typeof browserArgs>;

/** Files one send_message call may carry. */
export const SEND_MESSAGE_MAX_FILES = 5;

export const sendMessageArgs = z
  .object({
    channel: z.string().min(1).max(128).describe('Name of a configured channel, e.g. "ops-alerts".'),
    text: z
      .string()
      .max(16_000)
      .default('')
      .describe('The message (Markdown). May be empty when files are given.'),
    files: z
      .array(
        z.string().min(1, 'a file path may not be empty').max(1024, 'file paths are at most 1024 characters'),
      )
      .max(SEND_MESSAGE_MAX_FILES, `at most ${SEND_MESSAGE_MAX_FILES} files per message`)
      .default([])
      .describe(
        `Up to ${SEND_MESSAGE_MAX_FILES} files to attach, as paths relative to the workspace root (as the files tool uses them), e.g. ["reports/disk.csv"].`,
      ),
  })
  .superRefine((a, ctx) => {
    if (a.text.trim() === '' && a.files.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'send_message needs text, files or both' });
    }
  });
export type SendMessageArgs = z.infer<typeof sendMessageArgs>;
