import { z } from 'zod';

export const modelSpecSchema = z.object({
  provider: z.enum(['ollama', 'openai']),
  model: z.string().min(1),
  timeoutMs: z.number().int().positive().optional(),
});
export type ModelSpec = z.infer<typeof modelSpecSchema>;

/**
 * `ollama/qwen2.5:0.5b,openai/gpt-4o-mini@60000`: provider before the first slash (model names may
 * contain slashes and colons), an optional per-model timeout after the last `@`.
 */
export function parseModelChain(spec: string): ModelSpec[] {
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error('at least one model, e.g. ollama/qwen2.5:0.5b');
  return entries.map((entry) => {
    const slash = entry.indexOf('/');
    if (slash < 1) throw new Error(`"${entry}": expected provider/model, e.g. ollama/qwen2.5:0.5b`);
    const provider = entry.slice(0, slash);
    let model = entry.slice(slash + 1);
    let timeoutMs: number | undefined;
    const at = model.lastIndexOf('@');
    if (at > 0 && /^-?\d+$/.test(model.slice(at + 1))) {
      timeoutMs = Number(model.slice(at + 1));
      model = model.slice(0, at);
    }
    const parsed = modelSpecSchema.safeParse({ provider, model, timeoutMs });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0]);
      const why =
        field === 'provider'
          ? 'provider must be ollama or openai'
          : field === 'model'
            ? 'model name is empty'
            : 'timeout must be a positive number of milliseconds';
      throw new Error(`"${entry}": ${why}`);
    }
    return parsed.data;
  });
}
