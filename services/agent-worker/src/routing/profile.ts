import type { BuiltinToolName } from '@switchboard/core';
import { type ModelSpec, parseModelChain } from '@switchboard/models';
import { DEFAULT_PROFILE, type StoredProfile } from '@switchboard/routing';

/** Everything a turn needs to know about the agent that answers it; no field left to fall back. */
export interface AgentProfile {
  name: string;
  description: string;
  systemPrompt: string;
  modelChain: ModelSpec[];
  /** The chain in MODEL_CHAIN syntax, normalised: a key for caching built chains and responses. */
  modelChainSpec: string;
  tools: BuiltinToolName[];
  skill: string | undefined;
  /** Skills allowed here (the pinned `skill` included): matched, run and given tools only here. */
  skills: string[];
  knowledge: boolean;
  /** 0: no response cache. */
  cacheTtlSeconds: number;
}

/** The worker's own settings, from which the default profile is built and stored profiles inherit. */
export interface ProfileDefaults {
  systemPrompt: string;
  modelChain: ModelSpec[];
  tools?: BuiltinToolName[];
  skill?: string;
  /** DEFAULT_PROFILE_SKILLS: the skills the default route allows; none unless listed. */
  skills?: string[];
  knowledge?: boolean;
  cacheTtlSeconds?: number;
}

/** `ollama/qwen2.5:0.5b@30000,openai/gpt-4o-mini`: the inverse of parseModelChain. */
export function formatModelChain(chain: ModelSpec[]): string {
  return chain.map((m) => `${m.provider}/${m.model}${m.timeoutMs ? `@${m.timeoutMs}` : ''}`).join(',');
}

/** A pinned skill is allowed by pinning it. */
function allowedSkills(skills: readonly string[], pinned: string | undefined): string[] {
  return pinned && !skills.includes(pinned) ? [...skills, pinned] : [...skills];
}

export function defaultProfile(d: ProfileDefaults): AgentProfile {
  return {
    name: DEFAULT_PROFILE,
    description: "The worker's settings (SYSTEM_PROMPT, MODEL_CHAIN)",
    systemPrompt: d.systemPrompt,
    modelChain: d.modelChain,
    modelChainSpec: formatModelChain(d.modelChain),
    tools: d.tools ?? [],
    skill: d.skill,
    skills: allowedSkills(d.skills ?? [], d.skill),
    knowledge: d.knowledge ?? false,
    cacheTtlSeconds: d.cacheTtlSeconds ?? 0,
  };
}

/** A stored profile with its unset prompt and model chain taken from the worker's settings. */
export function resolveProfile(p: StoredProfile, d: ProfileDefaults): AgentProfile {
  const chain = p.modelChain ? parseModelChain(p.modelChain) : d.modelChain;
  return {
    name: p.name,
    description: p.description,
    systemPrompt: p.systemPrompt ?? d.systemPrompt,
    modelChain: chain,
    modelChainSpec: formatModelChain(chain),
    tools: p.tools,
    skill: p.skill ?? undefined,
    skills: allowedSkills(p.skills, p.skill ?? undefined),
    knowledge: p.knowledge,
    cacheTtlSeconds: p.cacheTtlSeconds ?? 0,
  };
}
