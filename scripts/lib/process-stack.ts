import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinToolNames } from '@switchboard/core';
import pg from 'pg';
import { type FakeLlm, startFakeLlm } from '../../test/fakes/llm/server.ts';
import { ROOT, type ServiceProcess, spawnService } from './spawn-service.ts';

export interface ProcessStackOptions {
  workers: number;
  /** `fake` starts the fake model in this process; otherwise MODEL_CHAIN etc. come from `env`. */
  model: 'fake' | 'env';
  fakeLatencyMs?: number;
  webPort?: number;
  /** Overrides for every service (AMQP_URL, DATABASE_URL, BROKER_QUEUE_TYPE …). */
  env?: Record<string, string>;
  database?: string;
  /** Run the bundles in dist/ instead of the sources (the bench: what the image runs). */
  bundled?: boolean;
  /**
   * Also start the tool-runner (its shell sandbox as its child) with its workspace in
   * .stack/workspace, unless WORKSPACE_DIR says otherwise. Off by default: the bench needs none.
   */
  tools?: boolean;
  /**
   * Also start the scheduler (workspace/workflows) and the admin console with its API on
   * adminPort (plain HTTP in process mode: the session cookie is not marked Secure). Off by default.
   */
  console?: boolean;
  adminPort?: number;
  onLine?: (service: string, line: string) => void;
}

export interface ProcessStack {
  webUrl: string;
  token: string;
  /** The tool-runner's workspace, when it runs. */
  workspaceDir?: string;
  fakeLlm?: FakeLlm;
  /** The admin console and API, when it runs. */
  adminUrl?: string;
  services: ServiceProcess[];
  stop(): Promise<void>;
}

const STATE_DIR = join(ROOT, '.stack');

/**
 * The tool-runner's own settings on top of the shared environment. Its list of tools comes from
 * TOOL_RUNNER_TOOLS, as in compose: TOOLS_ENABLED is the workers' on/off switch, and one
 * environment feeds every service here.
 */
export function toolRunnerEnv(env: Record<string, string>, workspaceDir: string): Record<string, string> {
  return {
    ...env,
    TOOLS_ENABLED: env.TOOL_RUNNER_TOOLS ?? builtinToolNames.join(','),
    WORKSPACE_DIR: workspaceDir,
    // Process mode: the runner starts the sandbox as its child (no network isolation).
    SHELL_SANDBOX: 'spawn',
    HTTP_PORT: '0',
  };
}

/** A token generated once per checkout and kept in .stack/ (git-ignored): no shared default. */
export function processModeToken(name = 'api_token'): string {
  mkdirSync(STATE_DIR, { recursive: true });
  const file = join(STATE_DIR, name);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${name.replaceAll('"', '')}"`);
  await c.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Every service as a local process against local RabbitMQ and PostgreSQL: development, tests, bench. */
export async function startProcessStack(o: ProcessStackOptions): Promise<ProcessStack> {
  const env: Record<string, string> = {
    AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
    LOG_LEVEL: 'info',
    ...o.env,
  };
  if (!env.DATABASE_URL) {
    env.DATABASE_URL = await ensureDatabase(
      'postgres://sbtest:sbtest@127.0.0.1:5432/postgres',
      o.database ?? 'switchboard',
    );
  }
  const token = env.API_TOKENS ?? processModeToken();
  let fakeLlm: FakeLlm | undefined;
  if (o.model === 'fake') {
    fakeLlm = await startFakeLlm({
      latencyMs: o.fakeLatencyMs ?? 0,
      recordCalls: false,
      acceptAnyModel: true,
    });
    env.OLLAMA_URL = fakeLlm.url;
    env.MODEL_CHAIN = env.MODEL_CHAIN ?? 'ollama/fake-small';
  } else if (!env.MODEL_CHAIN) {
    throw new Error(
      'MODEL_CHAIN is not set: use the fake model (--model fake) or set MODEL_CHAIN, e.g. ollama/qwen2.5:0.5b',
    );
  }
  const services: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(services.map((s) => s.kill('SIGTERM')));
    await fakeLlm?.close();
  };
  try {
    const web = await spawnService(
      'ingress-web',
      { ...env, API_TOKENS: token, HTTP_PORT: String(o.webPort ?? 8080) },
      { onLine: o.onLine, bundled: o.bundled },
    );
    services.push(web);
    let workspaceDir: string | undefined;
    if (o.tools) {
      // NOTE: never ./workspace: the workers load skills from there, and the files tool writes here.
      workspaceDir = env.WORKSPACE_DIR ?? join(STATE_DIR, 'workspace');
      mkdirSync(workspaceDir, { recursive: true });
      services.push(
        await spawnService('tool-runner', toolRunnerEnv(env, workspaceDir), {
          onLine: o.onLine,
          bundled: o.bundled,
        }),
      );
    }
    // Workers start one after another so each can see the others when taking partitions.
    for (let i = 0; i < o.workers; i++) {
      services.push(
        await spawnService(
          'agent-worker',
          {
            REDIS_URL: 'redis://127.0.0.1:6379',
            // Without a tool-runner nobody would answer a tool call: offer none.
            ...(o.tools ? {} : { TOOLS_ENABLED: 'false' }),
            ...env,
            HTTP_PORT: '0',
          },
          { onLine: o.onLine, bundled: o.bundled },
        ),
      );
    }
    let adminUrl: string | undefined;
    if (o.console) {
      const workflowToken = processModeToken('workflow_token');
      const scheduler = await spawnService(
        'scheduler',
        {
          REDIS_URL: 'redis://127.0.0.1:6379',
          WORKFLOWS_DIR: join(ROOT, 'workspace', 'workflows'),
          WORKFLOW_WEBHOOK_TOKEN: workflowToken,
          ...env,
          HTTP_PORT: '0',
        },
        { onLine: o.onLine, bundled: o.bundled },
      );
      services.push(scheduler);
      const admin = await spawnService(
        'admin',
        {
          REDIS_URL: 'redis://127.0.0.1:6379',
          SCHEDULER_URL: scheduler.url,
          SCHEDULER_TOKEN: workflowToken,
          ADMIN_SERVICES: `ingress-web=${web.url},scheduler=${scheduler.url}`,
          SKILLS_DIR: join(ROOT, 'workspace', 'skills'),
          COOKIE_SECURE: 'false',
          ...env,
          HTTP_PORT: String(o.adminPort ?? 8090),
        },
        { onLine: o.onLine, bundled: o.bundled },
      );
      services.push(admin);
      adminUrl = admin.url;
    }
    return { webUrl: web.url, token, workspaceDir, fakeLlm, adminUrl, services, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
