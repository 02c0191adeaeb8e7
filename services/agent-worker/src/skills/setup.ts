import type { Logger } from '@switchboard/core';
import type { SkillsSettings } from './config.ts';
import { SkillRegistry } from './registry.ts';

/** The skill registry as the worker's settings describe it; call `start()` to load and watch. */
export function skillRegistryFromConfig(cfg: SkillsSettings, log: Logger): SkillRegistry {
  return new SkillRegistry({
    dir: cfg.SKILLS_DIR,
    allowModules: cfg.SKILLS_ALLOW_MODULES,
    debounceMs: cfg.SKILLS_RELOAD_DEBOUNCE_MS,
    log,
  });
}
