import { describe, expect, it } from 'vitest';
import { skillsConfigSchema } from '../skills/config.ts';
import { knowledgeConfigSchema } from './config.ts';

describe('knowledge and skills settings', () => {
  it('has working defaults', () => {
    const kb = knowledgeConfigSchema.parse({});
    expect(kb).toMatchObject({
      KNOWLEDGE_DIR: './workspace/knowledge',
      KNOWLEDGE_WATCH: true,
      KB_CHUNK_CHARS: 1_200,
      KB_SEARCH_LIMIT: 4,
    });
    expect(kb.KB_EMBEDDINGS_MODEL).toBeUndefined();
    expect(skillsConfigSchema.parse({})).toEqual({
      SKILLS_DIR: './workspace/skills',
      SKILLS_RELOAD_DEBOUNCE_MS: 250,
      SKILLS_ALLOW_MODULES: true,
      SKILL_RUNS_CONCURRENCY: 4,
      // No skill on the default route unless the operator lists it.
      DEFAULT_PROFILE_SKILLS: [],
    });
  });

  it('reads flags as environment variables spell them', () => {
    expect(skillsConfigSchema.parse({ SKILLS_ALLOW_MODULES: 'false' }).SKILLS_ALLOW_MODULES).toBe(false);
    expect(skillsConfigSchema.parse({ SKILLS_ALLOW_MODULES: '1' }).SKILLS_ALLOW_MODULES).toBe(true);
    expect(skillsConfigSchema.safeParse({ SKILLS_ALLOW_MODULES: 'maybe' }).success).toBe(false);
  });

  it('refuses an embedding chain and a malformed model', () => {
    const chain = knowledgeConfigSchema.safeParse({ KB_EMBEDDINGS_MODEL: 'ollama/a,ollama/b' });
    expect(chain.error?.issues[0]?.message).toMatch(/one model/);
    const bad = knowledgeConfigSchema.safeParse({ KB_EMBEDDINGS_MODEL: 'nomic-embed-text' });
    expect(bad.error?.issues[0]?.message).toMatch(/provider\/model/);
    expect(
      knowledgeConfigSchema.parse({ KB_EMBEDDINGS_MODEL: 'ollama/nomic-embed-text' }).KB_EMBEDDINGS_MODEL,
    ).toBe('ollama/nomic-embed-text');
  });
});
