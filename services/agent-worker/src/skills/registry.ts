import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@switchboard/core';
import { RegexRunner } from '@switchboard/routing';
import { type FolderWatch, watchFolder } from './folder-watch.ts';
import { loadSkillFile, skillFormat } from './load-skill.ts';
import { type Skill, SkillErrorCode, type SkillFileError, SkillLoadError, type SkillMatch } from './types.ts';

export interface SkillRegistryOptions {
  dir: string;
  /** Load `.js`/`.mjs`/`.ts` skills; off leaves YAML skills only. */
  allowModules: boolean;
  debounceMs: number;
  log: Logger;
  /** Time budget of one trigger test against one message. */
  regexBudgetMs?: number;
}

export interface SkillsChange {
  skills: string[];
  errors: SkillFileError[];
}

/** A file's last load: its skill, its error, or both when a broken edit leaves the last good version serving. */
interface Loaded {
  hash: string;
  skill?: Skill;
  error?: SkillFileError;
}

/** Triggers see the start of a message only: skills are chosen by how a request begins. */
const MATCH_CHARS = 4_096;

/**
 * The skills in the skills folder, loaded at start and again whenever the folder changes. A file
 * that fails to load is reported (log and {@link errors}) and leaves every other skill in place.
 *
 * Order, which decides {@link match}: higher `priority` first, then file name (byte order), then
 * each skill's triggers in the order written. When two files declare the same name, the first in
 * that order wins and the other is reported.
 */
export class SkillRegistry extends EventEmitter<{ change: [SkillsChange] }> {
  private skills: Skill[] = [];
  private byName = new Map<string, Skill>();
  private fileErrors: SkillFileError[] = [];
  private readonly cache = new Map<string, Loaded>();
  private readonly runner: RegexRunner;
  private watch: FolderWatch | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private warnedMissing = false;

  constructor(private readonly o: SkillRegistryOptions) {
    super();
    this.runner = new RegexRunner(o.regexBudgetMs ?? 50);
  }

  /** Loads every skill, then watches the folder. */
  async start(): Promise<void> {
    await this.reload();
    this.watch = watchFolder(this.o.dir, () => void this.reload(), {
      debounceMs: this.o.debounceMs,
      log: this.o.log,
      what: 'skills',
    });
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
  }

  /** Re-reads the folder. Calls during a reload make one more pass after it, never two at once. */
  reload(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.loadAll();
        } while (this.again && !this.closed);
      } catch (err) {
        this.o.log.error('skills: reload failed; keeping the skills loaded before', {
          error: { message: (err as Error).message },
        });
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  list(): readonly Skill[] {
    return this.skills;
  }

  get(name: string): Skill | undefined {
    return this.byName.get(name);
  }

  /** Files that did not load, with the reason: for /status and the admin console. */
  errors(): readonly SkillFileError[] {
    return this.fileErrors;
  }

  /**
   * The first skill (in the documented order) among `allowed` — the skills the route's profile
   * allows, never all of them — with a trigger that matches the text.
   */
  match(text: string, allowed: readonly string[]): SkillMatch | undefined {
    if (allowed.length === 0) return undefined;
    const head = text.slice(0, MATCH_CHARS);
    const permitted = new Set(allowed);
    for (const skill of this.skills) {
      if (!permitted.has(skill.name)) continue;
      for (const re of skill.triggers) {
        const hit = this.runner.test(re, head);
        if (hit === 'timeout') {
          this.o.log.warn('skills: a trigger ran out of time and counts as no match', {
            labels: { skill: skill.name },
            regex: re.source,
          });
          continue;
        }
        if (hit) {
          re.lastIndex = 0;
          const m = re.exec(head);
          if (m) return { skill, match: m };
        }
      }
    }
    return undefined;
  }

  private async loadAll(): Promise<void> {
    const files = await this.skillFiles();
    const results: Array<{ file: string; loaded: Loaded }> = [];
    for (const file of files) {
      results.push({ file, loaded: await this.loadCached(file) });
    }
    for (const file of this.cache.keys()) if (!files.includes(file)) this.cache.delete(file);

    const ok = results
      .flatMap((r) => (r.loaded.skill ? [r.loaded.skill] : []))
      .sort((a, b) => b.priority - a.priority || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const errors = results.flatMap((r) => (r.loaded.error ? [r.loaded.error] : []));
    const byName = new Map<string, Skill>();
    const skills: Skill[] = [];
    for (const s of ok) {
      const first = byName.get(s.name);
      if (first) {
        errors.push({
          file: s.file,
          code: SkillErrorCode.duplicateName,
          message: `skill "${s.name}" is already defined in ${first.file}; this file is ignored`,
        });
        continue;
      }
      byName.set(s.name, s);
      skills.push(s);
    }
    errors.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    if (this.closed) return;

    this.report(skills, errors);
    this.skills = skills;
    this.byName = byName;
    this.fileErrors = errors;
    this.emit('change', { skills: skills.map((s) => s.name), errors });
  }

  /** Skill files at the top of the folder, in name order; a missing folder means no skills. */
  private async skillFiles(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.o.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!this.warnedMissing) this.o.log.warn(`skills: no folder at ${this.o.dir}; no skills loaded`);
        this.warnedMissing = true;
        return [];
      }
      throw err;
    }
    this.warnedMissing = false;
    const files: string[] = [];
    for (const name of entries.sort()) {
      if (!skillFormat(name)) continue;
      // stat, not the dirent: a mounted ConfigMap holds its files as symlinks.
      const st = await stat(join(this.o.dir, name)).catch(() => undefined);
      if (st?.isFile()) files.push(name);
    }
    return files;
  }

  private async loadCached(file: string): Promise<Loaded> {
    const cached = this.cache.get(file);
    let text: string;
    try {
      text = await readFile(join(this.o.dir, file), 'utf8');
    } catch (err) {
      const reason = `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      return this.failed(file, '', new SkillLoadError(SkillErrorCode.unreadable, reason), cached);
    }
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    if (cached?.hash === hash) return cached;
    let loaded: Loaded;
    try {
      const skill = await loadSkillFile(this.o.dir, file, text, {
        allowModules: this.o.allowModules,
        version: hash,
      });
      loaded = { hash, skill };
    } catch (err) {
      const e =
        err instanceof SkillLoadError
          ? err
          : new SkillLoadError(SkillErrorCode.invalid, (err as Error)?.message ?? String(err));
      loaded = this.failed(file, hash, e, cached);
    }
    this.cache.set(file, loaded);
    return loaded;
  }

  /**
   * A file that stopped loading keeps serving its last good version, so a typo saved during a live
   * edit does not take the skill away; the error says so until the file is fixed or removed.
   */
  private failed(file: string, hash: string, e: SkillLoadError, cached: Loaded | undefined): Loaded {
    const kept = cached?.skill;
    const message = kept ? `${e.message} (still serving the version loaded before)` : e.message;
    return { hash, skill: kept, error: { file, code: e.code, message } };
  }

  /** Logs what changed since the last load: each new error once, skills added and removed. */
  private report(skills: Skill[], errors: SkillFileError[]): void {
    const key = (e: SkillFileError) => `${e.file}\0${e.code}\0${e.message}`;
    const before = new Set(this.fileErrors.map(key));
    for (const e of errors) {
      if (!before.has(key(e))) {
        this.o.log.error(`skills: ${e.file} not loaded: ${e.message}`, {
          error: { code: e.code, message: e.message },
          file: { name: e.file, directory: this.o.dir },
        });
      }
    }
    const had = new Map(this.skills.map((s) => [s.name, s]));
    const now = new Set(skills.map((s) => s.name));
    for (const s of skills) {
      const prev = had.get(s.name);
      if (prev !== s) {
        this.o.log.info(`skills: ${prev ? 'reloaded' : 'loaded'} ${s.name} from ${s.file}`, {
          labels: { skill: s.name },
        });
      }
    }
    for (const name of had.keys()) {
      if (!now.has(name)) this.o.log.info(`skills: removed ${name}`, { labels: { skill: name } });
    }
  }
}
