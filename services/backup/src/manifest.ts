import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BackupError, BackupErrorCode } from './errors.ts';

export const MANIFEST_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const SUMS_FILE = 'SHA256SUMS';

const componentSchema = z.object({
  name: z.string(),
  status: z.enum(['ok', 'skipped']),
  file: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  reason: z.string().optional(),
  /** Extra facts an operator restoring by hand needs, such as which folders an archive holds. */
  details: z.record(z.string(), z.unknown()).optional(),
});

export const manifestSchema = z.object({
  version: z.literal(MANIFEST_VERSION),
  id: z.string(),
  created_at: z.iso.datetime(),
  duration_seconds: z.number().nonnegative(),
  components: z.array(componentSchema),
});

export type Component = z.infer<typeof componentSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A finished component: its file's size and digest taken from the bytes on disk. */
export async function describeFile(dir: string, name: string, file: string, details?: Component['details']) {
  const path = join(dir, file);
  const [size, sha256] = [(await stat(path)).size, await sha256File(path)];
  return { name, status: 'ok', file, size, sha256, ...(details ? { details } : {}) } satisfies Component;
}

export function sumsText(entries: Array<{ file: string; sha256: string }>): string {
  return entries.map((e) => `${e.sha256}  ${e.file}\n`).join('');
}

function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m?.[1] || !m[2])
      throw new BackupError(BackupErrorCode.manifestInvalid, `${SUMS_FILE}: malformed line`);
    sums.set(m[2], m[1]);
  }
  return sums;
}

export async function readManifest(dir: string): Promise<Manifest> {
  let raw: string;
  try {
    raw = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new BackupError(BackupErrorCode.manifestInvalid, `${MANIFEST_FILE} is missing`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BackupError(BackupErrorCode.manifestInvalid, `${MANIFEST_FILE} is not valid JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success)
    throw new BackupError(
      BackupErrorCode.manifestInvalid,
      `${MANIFEST_FILE} does not match version ${MANIFEST_VERSION}`,
    );
  return parsed.data;
}

export interface VerifyResult {
  manifest: Manifest;
  files: Array<{ file: string; sha256: string }>;
}

/**
 * Re-hashes every file SHA256SUMS lists (the manifest included) and checks that the manifest
 * lists the same digests; throws on the first file that differs, naming it.
 */
export async function verifyBackup(dir: string): Promise<VerifyResult> {
  let sumsRaw: string;
  try {
    sumsRaw = await readFile(join(dir, SUMS_FILE), 'utf8');
  } catch {
    throw new BackupError(BackupErrorCode.manifestInvalid, `${SUMS_FILE} is missing`);
  }
  const sums = parseSums(sumsRaw);
  if (!sums.has(MANIFEST_FILE))
    throw new BackupError(BackupErrorCode.manifestInvalid, `${SUMS_FILE} does not cover ${MANIFEST_FILE}`);
  const files: VerifyResult['files'] = [];
  for (const [file, expected] of sums) {
    let actual: string;
    try {
      actual = await sha256File(join(dir, file));
    } catch {
      throw new BackupError(BackupErrorCode.checksumMismatch, `${file}: listed in ${SUMS_FILE} but missing`);
    }
    if (actual !== expected)
      throw new BackupError(
        BackupErrorCode.checksumMismatch,
        `${file}: checksum mismatch (the file is corrupt)`,
      );
    files.push({ file, sha256: actual });
  }
  const manifest = await readManifest(dir);
  for (const c of manifest.components) {
    if (c.status !== 'ok' || !c.file) continue;
    if (sums.get(c.file) !== c.sha256)
      throw new BackupError(
        BackupErrorCode.checksumMismatch,
        `${c.file}: ${MANIFEST_FILE} and ${SUMS_FILE} disagree about its checksum`,
      );
  }
  return { manifest, files };
}
