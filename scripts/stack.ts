import { parseArgs } from 'node:util';
import { startProcessStack } from './lib/process-stack.ts';

// `npm run stack`: every service as a local process. Logs are printed with the service's name;
// Ctrl-C stops everything gracefully.
const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    model: { type: 'string', default: process.env.MODEL_CHAIN ? 'env' : 'fake' },
    port: { type: 'string', default: process.env.SWITCHBOARD_HTTP_PORT ?? '8080' },
    'fake-latency-ms': { type: 'string', default: '200' },
    quiet: { type: 'boolean', default: false },
    tools: { type: 'boolean', default: true },
    console: { type: 'boolean', default: true },
    'admin-port': { type: 'string', default: '8090' },
    help: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
if (values.help) {
  console.log(`usage: npm run stack -- [--workers N] [--model fake|env] [--port P] [--admin-port P] [--fake-latency-ms L] [--no-tools] [--no-console] [--quiet]
  --model fake  the built-in fake model (default unless MODEL_CHAIN is set)
  --model env   the model chain from MODEL_CHAIN / OLLAMA_URL / OPENAI_BASE_URL / OPENAI_API_KEY
  --no-tools    no tool-runner (the workers then offer no built-in tools)
  --no-console  no scheduler and no admin console
The tool-runner works in .stack/workspace (WORKSPACE_DIR) and runs shell commands in a child
sandbox without network isolation; the workers load skills and knowledge from ./workspace.
Every setting of .env.example can be passed as an environment variable.`);
  process.exit(0);
}
if (values.model !== 'fake' && values.model !== 'env') {
  console.error('--model must be fake or env');
  process.exit(2);
}

const env = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
);
const stack = await startProcessStack({
  workers: Number(values.workers),
  model: values.model,
  fakeLatencyMs: Number(values['fake-latency-ms']),
  webPort: Number(values.port),
  tools: values.tools,
  console: values.console,
  adminPort: Number(values['admin-port']),
  env,
  onLine: values.quiet ? undefined : (svc, line) => process.stdout.write(`${svc.padEnd(13)}| ${line}\n`),
});
console.log(`
Switchboard is running (process mode).
  chat page:   ${stack.webUrl}/
  HTTP API:    curl -H "Authorization: Bearer $(cat .stack/api_token)" -H 'content-type: application/json' \\
                 -d '{"conversationId":"demo","text":"hello"}' ${stack.webUrl}/v1/messages
  OpenAI API:  base URL ${stack.webUrl}/v1, model "switchboard", API key in .stack/api_token
  model:       ${values.model === 'fake' ? `fake (${stack.fakeLlm?.url})` : process.env.MODEL_CHAIN}
  tools:       ${stack.workspaceDir ? `tool-runner, workspace ${stack.workspaceDir}` : 'off (--no-tools)'}
  console:     ${stack.adminUrl ? `${stack.adminUrl}/admin — log in with a token from: DATABASE_URL=${env.DATABASE_URL ?? 'postgres://sbtest:sbtest@127.0.0.1:5432/switchboard'} npx switchboard token create --role admin --expire 8h` : 'off (--no-console)'}
  skills:      ${process.env.SKILLS_DIR ?? './workspace/skills'}, knowledge: ${process.env.KNOWLEDGE_DIR ?? './workspace/knowledge'} (reloaded on change)
Ctrl-C stops every service.`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    await stack.stop();
    process.exit(0);
  });
}
