/**
 * Chat commands every platform understands. They are answered by the worker itself, never by the
 * model, so they work while every model is down — which is when /status is wanted most.
 */
export const COMMANDS = {
  help: 'what I can do and the commands I understand',
  reset: 'forget our earlier messages in this chat',
  model: 'show the models answering here; `/model <name>` picks one of them for this chat',
  status: 'models, skills, tools and knowledge available right now',
  whoami: 'who I think you are, and which route answers you',
} as const;
export type CommandName = keyof typeof COMMANDS;

export interface ParsedCommand {
  name: CommandName;
  args: string;
}

/** `/model gpt` → { name: 'model', args: 'gpt' }; unknown commands are left to the model. */
export function parseCommand(text: string): ParsedCommand | undefined {
  const m = /^\/([a-z]+)(?:@\S+)?(?:\s+([\s\S]*))?$/i.exec(text.trim());
  if (!m) return undefined;
  const name = m[1]!.toLowerCase();
  if (!Object.hasOwn(COMMANDS, name)) return undefined;
  return { name: name as CommandName, args: (m[2] ?? '').trim() };
}

export function helpText(o: {
  skills: Array<{ name: string; description: string }>;
  tools: string[];
  /** For strangers: the commands only, not what this route may do. */
  hideTools?: boolean;
}): string {
  const lines = ['**Commands**', ...Object.entries(COMMANDS).map(([n, d]) => `- \`/${n}\` — ${d}`)];
  if (o.skills.length > 0) {
    lines.push('', '**Skills**', ...o.skills.map((s) => `- **${s.name}** — ${s.description}`));
  }
  if (o.hideTools) return lines.join('\n');
  lines.push(
    '',
    o.tools.length > 0 ? `**Tools I may use here:** ${o.tools.join(', ')}` : 'No tools are enabled here.',
  );
  return lines.join('\n');
}
