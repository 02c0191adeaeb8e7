import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  Broker,
  type BrokerOptions,
  builtinToolNames,
  createLogger,
  TOOL_PROTOCOL_VERSION,
  type ToolRequest,
  type ToolResult,
  ToolRpcClient,
  toolQueueName,
} from '@switchboard/core';
import { ROOT, type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { grantWorkspace } from '../../services/tool-runner/src/sandbox/identity.ts';
import { sandboxCall } from '../../services/tool-runner/src/sandbox/protocol.ts';
import { conversationKey } from '../../services/tool-runner/src/tools/workspace.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName, waitFor } from '../support/infra.ts';

const log = createLogger('tools-test', 'error');

export interface ToolBed {
  runner: ServiceProcess;
  broker: Broker;
  client: ToolRpcClient;
  topology: BrokerOptions;
  /** The workspace root. */
  workspace: string;
  /**
   * The default caller's own folder (conversation web/web/conv-1), where its files tool and
   * send_message look; created up front so tests can place files in it.
   */
  home: string;
  databaseUrl: string;
  /** Calls a tool through the RPC client, as the agent-worker does. */
  call(tool: string, args: Record<string, unknown>, over?: Partial<ToolRequest>): Promise<ToolResult>;
  request(tool: string, args: Record<string, unknown>, over?: Partial<ToolRequest>): ToolRequest;
  /** The runner's (and its sandbox's) log lines, parsed. */
  logLines(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** A conversation's folder under a workspace root, as the runner derives it. */
export function conversationDir(workspace: string, platform: string, botId: string, conversationId: string) {
  return join(workspace, 'conversations', conversationKey(platform, botId, conversationId));
}

/**
 * One tool-runner as a child process (process mode: its sandbox is its own child), with its own
 * database, broker prefix and workspace, and an RPC client in the test process.
 */
export async function startToolBed(
  env: Record<string, string> = {},
  o: { workspace?: string } = {},
): Promise<ToolBed> {
  const prefix = uniqueName('tt');
  const db = await createTestDatabase();
  const workspace = o.workspace ?? (await realpath(await mkdtemp(join(tmpdir(), 'sb-ws-'))));
  const topology: BrokerOptions = {
    url: AMQP_URL,
    prefix,
    queueType: 'quorum',
    partitions: 1,
    prefetch: 16,
    retryDelaysMs: [100, 200],
    maxAttempts: 2,
  };
  let runner: ServiceProcess | undefined;
  let broker: Broker | undefined;
  let client: ToolRpcClient | undefined;
  const stop = async () => {
    await client?.close();
    await broker?.close();
    await runner?.kill('SIGTERM', 15_000);
    await deleteBrokerPrefix(prefix, 1, 2, [toolQueueName(prefix), toolQueueName(prefix, 'browser')]);
    await db.drop();
    if (!o.workspace) await rm(workspace, { recursive: true, force: true });
  };
  try {
    runner = await spawnService('tool-runner', {
      AMQP_URL,
      DATABASE_URL: db.url,
      BROKER_PREFIX: prefix,
      BROKER_PARTITIONS: '1',
      RETRY_DELAYS_MS: '100,200',
      MAX_ATTEMPTS: '2',
      LOG_LEVEL: 'info',
      HTTP_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '10000',
      WORKSPACE_DIR: workspace,
      // The tests' calls carry the default route's grant (below): it grants every tool.
      DEFAULT_PROFILE_TOOLS: builtinToolNames.join(','),
      ...env,
    });
    broker = new Broker(topology, log);
    await broker.start();
    client = new ToolRpcClient(broker, topology, log);
    await client.start();
  } catch (err) {
    await stop();
    throw err;
  }
  const request = (tool: string, args: Record<string, unknown>, over: Partial<ToolRequest> = {}) => {
    const id = `call-${randomUUID()}`;
    return {
      v: TOOL_PROTOCOL_VERSION,
      id,
      tool,
      arguments: args,
      caller: {
        platform: 'web',
        botId: 'web',
        conversationId: 'conv-1',
        userId: 'user-1',
        messageId: `web:web:${id}`,
        traceId: `trace-${id}`,
        route: 'test-route',
        grant: { kind: 'route', ruleId: null },
      },
      allowedTools: [...builtinToolNames],
      timeoutMs: 20_000,
      ...over,
    } satisfies ToolRequest;
  };
  const home = conversationDir(workspace, 'web', 'web', 'conv-1');
  await mkdir(home, { recursive: true });
  const bed: ToolBed = {
    runner,
    broker,
    client,
    topology,
    workspace,
    home,
    databaseUrl: db.url,
    request,
    call: (tool, args, over) => client!.invoke(request(tool, args, over)),
    logLines: () =>
      runner!.logs.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stop,
  };
  return bed;
}

/**
 * A TCP listener that answers like a tiny web server and counts every connection made to it: the
 * proof that a refused target was never contacted. Listens on 127.0.0.1 and, when the machine
 * has it, on ::1 at the same port.
 */
export class ConnectionRecorder {
  connections = 0;
  private servers: NetServer[] = [];
  port = 0;

  async start(): Promise<this> {
    const make = () =>
      createNetServer((sock) => {
        this.connections++;
        sock.on('error', () => {});
        // Read (and drop) the request, or the socket never sees the peer's FIN and never closes.
        sock.resume();
        sock.end(
          'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecret',
        );
      });
    const v4 = make();
    await new Promise<void>((r) => v4.listen(0, '127.0.0.1', r));
    this.port = (v4.address() as { port: number }).port;
    this.servers.push(v4);
    const v6 = make();
    await new Promise<void>((resolve) => {
      v6.once('error', () => resolve());
      v6.listen(this.port, '::1', () => {
        this.servers.push(v6);
        resolve();
      });
    });
    return this;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A small web site on 127.0.0.1 for the permitted side of the tests. */
export async function startSite(
  routes: Record<string, Handler>,
): Promise<{ url: string; port: number; server: Server; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url}`);
      const path = (req.url ?? '/').split('?')[0]!;
      const h = routes[path];
      if (!h) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      h(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, port, server, hits };
}

/** Pids of running processes whose command line is exactly `argv` (read from /proc). */
export async function processesRunning(argv: string[]): Promise<number[]> {
  const want = `${argv.join('\0')}\0`;
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === want) pids.push(Number(name));
  }
  return pids;
}

/** The user the sandbox runs as in the tests (which run as root): nobody, as in process mode. */
export const SANDBOX_UID = 65534;

/**
 * The shell sandbox as its own process, started the way its container is (its own entry point,
 * only its own settings, a user of its own), for the `SHELL_SANDBOX=socket` layout.
 */
export async function startSandboxProcess(
  socket: string,
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; logs: string[]; stop: () => Promise<void> }> {
  // As compose does with its volumes: the sandbox's user owns the socket's directory and can read
  // the workspace.
  await chown(dirname(socket), SANDBOX_UID, SANDBOX_UID);
  if (env.WORKSPACE_DIR) await grantWorkspace(env.WORKSPACE_DIR, SANDBOX_UID);
  const proc = spawn(process.execPath, ['--import', 'tsx', 'services/tool-runner/src/sandbox/main.ts'], {
    cwd: ROOT,
    uid: SANDBOX_UID,
    gid: SANDBOX_UID,
    env: { PATH: process.env.PATH ?? '', SANDBOX_SOCKET: socket, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  proc.stdout!.on('data', (c: Buffer) => logs.push(c.toString()));
  proc.stderr!.on('data', (c: Buffer) => logs.push(c.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(
      'the sandbox to answer',
      async () => (await sandboxCall(socket, { op: 'ping' }).catch(() => undefined))?.status === 'pong',
      15_000,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${logs.join('')}`);
  }
  return { proc, logs, stop };
}

/** Pids of the direct children of a process. */
export async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // The command name (field 2) may contain spaces; the fields after its closing ")" are plain.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(name));
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
