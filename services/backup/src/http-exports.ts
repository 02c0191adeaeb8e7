import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';

async function download(url: string, headers: Record<string, string>, file: string, what: string) {
  const res = await request(url, { method: 'GET', headers, headersTimeout: 30_000, bodyTimeout: 600_000 });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${what} answered HTTP ${res.statusCode}`);
  }
  await pipeline(res.body as Readable, createWriteStream(file, { mode: 0o600 }));
}

/** Exchanges, queues, bindings, users and policies as the management plugin exports them. */
export async function exportRabbitDefinitions(
  managementUrl: string,
  user: string,
  password: string,
  file: string,
): Promise<void> {
  const url = new URL('api/definitions', managementUrl.endsWith('/') ? managementUrl : `${managementUrl}/`);
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await download(url.toString(), { authorization: `Basic ${auth}` }, file, 'RabbitMQ management API');
}

/** Needs Vault's integrated (raft) storage and a token allowed to read sys/storage/raft/snapshot. */
export async function vaultRaftSnapshot(vaultAddr: string, token: string, file: string): Promise<void> {
  const url = new URL('v1/sys/storage/raft/snapshot', vaultAddr.endsWith('/') ? vaultAddr : `${vaultAddr}/`);
  await download(url.toString(), { 'x-vault-token': token }, file, 'Vault');
}
