import type { Dirent } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type FilesArgs, filesArgs } from '@switchboard/tools';
import {
  budgetMs,
  capText,
  refused,
  type Tool,
  ToolError,
  type ToolRunContext,
  truncationMarker,
} from '../tool.ts';
import { runSearch, SearchTimeoutError } from './search-worker.ts';
import type { Workspace } from './workspace.ts';

export interface FilesOptions {
  maxReadBytes: number;
  maxWriteBytes: number;
  maxListEntries: number;
  /** Files a search looks at, and the bytes read from each. */
  maxSearchFiles: number;
  maxSearchFileBytes: number;
  timeoutMs: number;
}

const MAX_DEPTH = 12;

/**
 * files: read, write, list and search inside the caller's workspace folder (its conversation's or
 * workflow's, chosen by the runner from the verified grant), and nowhere else.
 */
export class FilesTool implements Tool<typeof filesArgs> {
  readonly name = 'files' as const;
  readonly args = filesArgs;

  constructor(private readonly o: FilesOptions) {}

  async run(args: FilesArgs, ctx: ToolRunContext) {
    const ws = await ctx.workspace();
    const segs = ws.segments(args.path);
    switch (args.op) {
      case 'read':
        return this.read(ws, segs, args.offset);
      case 'write':
        return this.write(ws, segs, args.content ?? '', args.append);
      case 'list':
        return this.list(ws, segs, args.recursive);
      case 'search':
        return this.search(ws, segs, args, ctx);
    }
  }

  private async read(ws: Workspace, segs: string[], offset: number) {
    const { fh, real, size } = await ws.openRead(segs);
    try {
      const want = Math.max(0, Math.min(this.o.maxReadBytes, size - offset));
      const buf = Buffer.alloc(want);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      const end = offset + bytesRead;
      const truncated = end < size;
      const text = buf.subarray(0, bytesRead).toString('utf8');
      const note = truncated
        ? `${truncationMarker(this.o.maxReadBytes)} (file is ${size} bytes; read on with offset ${end})`
        : '';
      return { output: `${ws.show(real)} (${size} bytes)\n\n${text}${note}`, truncated };
    } finally {
      await fh.close();
    }
  }

  private async write(ws: Workspace, segs: string[], content: string, append: boolean) {
    const bytes = Buffer.byteLength(content, 'utf8');
    if (bytes > this.o.maxWriteBytes) {
      throw refused(`content is ${bytes} bytes, over the ${this.o.maxWriteBytes}-byte limit for one write`);
    }
    const { fh, real } = await ws.openWrite(segs);
    try {
      // Truncated only now, after the open was checked: a refused target is left untouched.
      if (!append) await fh.truncate(0);
      const position = append ? (await fh.stat()).size : 0;
      await fh.write(content, position, 'utf8');
    } finally {
      await fh.close();
    }
    return { output: `${append ? 'appended' : 'wrote'} ${bytes} bytes to ${ws.show(real)}` };
  }

  private async list(ws: Workspace, segs: string[], recursive: boolean) {
    const real = await ws.resolveExisting(segs);
    if (!(await lstat(real)).isDirectory())
      throw new ToolError('TOOL_FAILED', `${ws.show(real)} is not a directory`);
    const lines: string[] = [];
    let truncated = false;
    const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
      const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      for (const e of entries) {
        if (lines.length >= this.o.maxListEntries) {
          truncated = true;
          return;
        }
        const shown = prefix + e.name;
        lines.push(await this.describe(dir, e, shown));
        // Symlinked directories are listed, never entered: they may lead anywhere.
        if (recursive && e.isDirectory() && depth < MAX_DEPTH)
          await walk(join(dir, e.name), `${shown}/`, depth + 1);
      }
    };
    await walk(real, '', 0);
    const head = `${ws.show(real)}/ — ${lines.length} entries`;
    const body = lines.length ? lines.join('\n') : '(empty)';
    return {
      output: `${head}\n${body}${truncated ? truncationMarker(this.o.maxListEntries, 'entries') : ''}`,
      truncated,
    };
  }

  private async describe(dir: string, e: Dirent, shown: string): Promise<string> {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) return `link ${shown} -> ${await readlink(p).catch(() => '?')}`;
    if (e.isDirectory()) return `dir  ${shown}/`;
    if (e.isFile()) return `file ${shown} (${(await lstat(p).catch(() => undefined))?.size ?? '?'} bytes)`;
    return `other ${shown}`;
  }

  private async search(ws: Workspace, segs: string[], args: FilesArgs, ctx: ToolRunContext) {
    const query = args.query ?? '';
    if (args.regex) {
      try {
        new RegExp(query, args.caseSensitive ? '' : 'i');
      } catch (err) {
        throw new ToolError('TOOL_BAD_ARGUMENTS', `invalid regular expression: ${(err as Error).message}`);
      }
    }
    const real = await ws.resolveExisting(segs);
    const files: Array<{ abs: string; rel: string }> = [];
    let tooMany = false;
    const walk = async (p: string, depth: number): Promise<void> => {
      const st = await lstat(p).catch(() => undefined);
      if (!st || files.length >= this.o.maxSearchFiles) {
        if (st) tooMany = true;
        return;
      }
      if (st.isFile()) files.push({ abs: p, rel: ws.show(p) });
      else if (st.isDirectory() && depth < MAX_DEPTH) {
        for (const name of (await readdir(p)).sort()) await walk(join(p, name), depth + 1);
      }
    };
    await walk(real, 0);
    const limitMs = budgetMs(ctx, this.o.timeoutMs);
    let outcome: Awaited<ReturnType<typeof runSearch>>;
    try {
      outcome = await runSearch(
        {
          root: ws.root,
          files,
          query,
          regex: args.regex,
          caseSensitive: args.caseSensitive,
          maxResults: args.maxResults,
          maxFileBytes: this.o.maxSearchFileBytes,
        },
        limitMs,
        ctx.signal,
      );
    } catch (err) {
      if (err instanceof SearchTimeoutError) {
        throw new ToolError(
          'TOOL_TIMEOUT',
          `the search was stopped after ${limitMs} ms (is the regular expression very slow?)`,
        );
      }
      throw err;
    }
    const limited = outcome.hits.length >= args.maxResults;
    const head = `${outcome.hits.length}${limited ? '+' : ''} match(es) in ${outcome.searched} file(s) under ${ws.show(real)}${
      tooMany ? ` (only the first ${this.o.maxSearchFiles} files were searched)` : ''
    }`;
    const body = outcome.hits.map((h) => `${h.file}:${h.line}: ${h.text}`).join('\n');
    const capped = capText(`${head}\n${body}`, this.o.maxReadBytes);
    return { output: capped.text, truncated: capped.truncated || limited || tooMany };
  }
}
