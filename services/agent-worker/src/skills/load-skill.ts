import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ModelSpec, parseModelChain } from '@switchboard/models';
import { describeIssues, moduleSkillSchema, skillFormat, yamlSkillSchema } from '@switchboard/skills';
import { parseDocument } from 'yaml';
import { compileTriggers } from './triggers.ts';
import { type Skill, SkillErrorCode, SkillLoadError } from './types.ts';

/** Which files in the skills folder are skills; anything else there (README, helpers folder) is ignored. */
export { skillFormat };

export interface LoadOptions {
  allowModules: boolean;
  /**
   * Part of the module URL: ESM caches modules by URL, so a new value makes `import()` read the
   * file again. The registry passes the content hash, so an unchanged file is not loaded twice.
   */
  version: string;
}

/** Loads one skill file; every failure is a SkillLoadError with a stable code and a reason. */
export async function loadSkillFile(
  dir: string,
  file: string,
  text: string,
  opts: LoadOptions,
): Promise<Skill> {
  const format = skillFormat(file);
  if (format === 'yaml') return fromYaml(file, text);
  if (format === 'module') {
    if (!opts.allowModules) {
      throw new SkillLoadError(
        SkillErrorCode.modulesDisabled,
        'module skills are turned off (SKILLS_ALLOW_MODULES=false); write the skill in YAML',
      );
    }
    return fromModule(dir, file, opts.version);
  }
  throw new SkillLoadError(SkillErrorCode.invalid, 'not a skill file (.yaml, .yml, .js, .mjs, .ts, .mts)');
}

function fromYaml(file: string, text: string): Skill {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new SkillLoadError(SkillErrorCode.yamlInvalid, first.message.split('\n')[0]!);
  }
  const parsed = yamlSkillSchema.safeParse(doc.toJS());
  if (!parsed.success) throw new SkillLoadError(SkillErrorCode.invalid, describeIssues(parsed.error));
  const s = parsed.data;
  return {
    name: s.name,
    description: s.description,
    file,
    format: 'yaml',
    triggers: compileTriggers(s.triggers),
    priority: s.priority,
    systemPrompt: s.system_prompt,
    tools: s.tools,
    localTools: [],
    model: modelChain(s.model),
    knowledge: s.knowledge,
  };
}

async function fromModule(dir: string, file: string, version: string): Promise<Skill> {
  const url = `${pathToFileURL(join(dir, file)).href}?v=${version}`;
  let mod: { default?: unknown };
  try {
    mod = await import(/* @vite-ignore */ url);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint =
      e?.code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? ' (TypeScript skills load only when the worker runs under tsx; in the image write .js or .mjs)'
        : /outside a module|Unexpected token 'export'/.test(e?.message ?? '')
          ? ' (loaded as CommonJS: name it .mjs, or keep the package.json with "type": "module" in the skills folder)'
          : '';
    throw new SkillLoadError(
      SkillErrorCode.moduleFailed,
      `import failed: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}${hint}`,
      { cause: err },
    );
  }
  if (mod.default === undefined) {
    throw new SkillLoadError(
      SkillErrorCode.invalid,
      'the module has no default export (export default { name, … })',
    );
  }
  const parsed = moduleSkillSchema.safeParse(mod.default);
  if (!parsed.success) throw new SkillLoadError(SkillErrorCode.invalid, describeIssues(parsed.error));
  const s = parsed.data;
  return {
    name: s.name,
    description: s.description,
    file,
    format: 'module',
    triggers: compileTriggers(s.triggers),
    priority: s.priority,
    systemPrompt: s.systemPrompt,
    tools: s.tools,
    // The schema checked the shapes; the functions' own signatures are the module's contract.
    localTools: s.localTools as Skill['localTools'],
    model: modelChain(s.model),
    knowledge: s.knowledge,
    handler: s.handler as Skill['handler'],
  };
}

function modelChain(spec: string | undefined): ModelSpec[] | undefined {
  if (spec === undefined) return undefined;
  try {
    return parseModelChain(spec);
  } catch (err) {
    throw new SkillLoadError(SkillErrorCode.invalid, `model: ${(err as Error).message}`);
  }
}
