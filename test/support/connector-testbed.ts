import pg from 'pg';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { type ServiceProcess, TestStack } from './stack.ts';

export interface ConnectorTestbed {
  llm: FakeLlm;
  stack: TestStack;
  svc: ServiceProcess;
  db: pg.Pool;
}

/**
 * What every connector suite runs on: the fake model, a stack (its own database and broker prefix,
 * one agent-worker), the connector service itself, and a database pool to check what was stored.
 */
export async function startConnectorTestbed(
  service: string,
  env: Record<string, string>,
): Promise<ConnectorTestbed> {
  const llm = await startFakeLlm();
  const stack = await new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: llm.url } }).start();
  const svc = await stack.startService(service, env);
  // The bot's reply queue is named after its platform id, which only the service knows.
  const queue = /"reply_queue":"([^"]+)"/.exec(svc.logs.join('\n'))?.[1];
  if (queue) stack.extraQueues.push(queue);
  const db = new pg.Pool({ connectionString: stack.databaseUrl });
  return { llm, stack, svc, db };
}

export async function stopConnectorTestbed(bed: Partial<ConnectorTestbed>): Promise<void> {
  await bed.db?.end();
  await bed.stack?.stop();
  await bed.llm?.close();
}
