import { connect } from 'node:net';
import { z } from 'zod';
import { MAX_ARG_CHARS, MAX_ARGS } from './allowlist.ts';

/**
 * The tool-runner talks to the shell sandbox over a unix socket: one JSON line in, one JSON line
 * out, one request per connection. Closing the connection early cancels the command.
 */
export const sandboxRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('ping') }),
  z.object({
    op: z.literal('run'),
    id: z.string().min(1).max(256),
    traceId: z.string().max(256).optional(),
    program: z.string().min(1).max(512),
    args: z.array(z.string().max(MAX_ARG_CHARS)).max(MAX_ARGS),
    timeoutMs: z.number().int().min(1).max(600_000),
    /**
     * The caller's own folder, relative to the sandbox's workspace (`conversations/<hash>`,
     * `workflows/<name>`): the command's working directory and the root its paths are confined to.
     */
    cwd: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a relative folder')
      .refine((c) => !c.split('/').some((seg) => seg === '.' || seg === '..'), 'no dot segments')
      .optional(),
  }),
]);
export type SandboxRequest = z.infer<typeof sandboxRequestSchema>;
export type SandboxRunRequest = Extract<SandboxRequest, { op: 'run' }>;

export const runOutcomeSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  /** stdout and stderr interleaved as they arrived, cut at the output cap. */
  output: z.string(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
  durationMs: z.number().int().nonnegative(),
});
export type RunOutcome = z.infer<typeof runOutcomeSchema>;

export const sandboxResponseSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pong') }),
  z.object({ status: z.literal('ok'), result: runOutcomeSchema }),
  /** The sandbox's own allowlist check said no (it does not trust the runner's). */
  z.object({ status: z.literal('refused'), message: z.string() }),
  z.object({ status: z.literal('busy'), message: z.string() }),
  z.object({ status: z.literal('error'), message: z.string() }),
]);
export type SandboxResponse = z.infer<typeof sandboxResponseSchema>;

/** Requests are small; anything bigger is not ours. */
export const MAX_REQUEST_BYTES = 512 * 1024;

export class SandboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

/** Sends one request and waits for the answer; aborting the signal closes the connection. */
export function sandboxCall(
  socketPath: string,
  req: SandboxRequest,
  signal?: AbortSignal,
  maxResponseBytes = 16 * 1024 * 1024,
): Promise<SandboxResponse> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const sock = connect({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: unknown, res?: SandboxResponse) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxResponseBytes) return finish(new SandboxUnavailableError('sandbox answer too large'));
      chunks.push(c);
      const nl = c.indexOf(0x0a);
      if (nl === -1) return;
      try {
        const line = Buffer.concat(chunks).toString('utf8');
        const parsed = sandboxResponseSchema.parse(JSON.parse(line.slice(0, line.indexOf('\n'))));
        finish(undefined, parsed);
      } catch (err) {
        finish(new SandboxUnavailableError(`unreadable sandbox answer: ${(err as Error).message}`));
      }
    });
    sock.on('error', (err) =>
      finish(new SandboxUnavailableError(`shell sandbox unreachable: ${err.message}`)),
    );
    sock.on('close', () => finish(new SandboxUnavailableError('shell sandbox closed the connection')));
  });
}
