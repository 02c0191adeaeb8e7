import { randomBytes } from 'node:crypto';
import { createLogger, createPool, ErrorCodes, type Logger, migrate, type Pool } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from '../../../test/support/infra.ts';
import type { NormalizedMessage } from './adapter.ts';
import { type GateDecision, PairingNotices, StrangerGate, type StrangerGateOptions } from './pairing.ts';
import { asPairingCode, generatePairingCode, hashPairingCode, verifyPairingCode } from './pairing-code.ts';
import { type PairingError, PairingStore } from './pairing-store.ts';

describe('pairing codes', () => {
  it('are six random digits, recognised with spaces or dashes, and nothing else is a code', () => {
    const codes = new Set(Array.from({ length: 200 }, generatePairingCode));
    for (const c of codes) expect(c).toMatch(/^\d{6}$/);
    expect(codes.size).toBeGreaterThan(190);
    expect(asPairingCode(' 482913 ')).toBe('482913');
    expect(asPairingCode('482 913')).toBe('482913');
    expect(asPairingCode('482-913')).toBe('482913');
    for (const not of ['48291', '4829134', 'code 482913', '48291a', ''])
      expect(asPairingCode(not)).toBeUndefined();
  });

  it('are stored as a salted scrypt hash that verifies only the same code', async () => {
    const a = await hashPairingCode('482913');
    const b = await hashPairingCode('482913');
    expect(a).not.toContain('482913');
    expect(a).not.toBe(b);
    expect(await verifyPairingCode('482913', a)).toBe(true);
    expect(await verifyPairingCode('482914', a)).toBe(false);
    expect(await verifyPairingCode('482913', 'sha1$abc')).toBe(false);
    expect(await verifyPairingCode('482913', `${a.slice(0, -4)}AAAA`)).toBe(false);
  });
});

describe('stranger gate and pairing store (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let store: PairingStore;
  let log: Logger;
  const logged: { message: string; labels?: Record<string, string> }[] = [];
  const events: string[] = [];
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    log = createLogger('pairing-test', 'info');
    for (const t of log.transports) t.silent = true;
    log.on('data', (line) => logged.push(line));
    pool = createPool(db.url, log);
    await migrate(pool, log);
    store = new PairingStore(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const newUser = (what: string) => `${what}-${randomBytes(3).toString('hex')}`;

  function gate(o: Partial<StrangerGateOptions> = {}) {
    return new StrangerGate(
      {
        platform: 'telegram',
        mode: 'verification_code',
        allowedUsers: ['friend'],
        codeTtlSeconds: 600,
        maxAttempts: 3,
        blockSeconds: 3_600,
        ...o,
      },
      { store, log, onEvent: (e) => events.push(e) },
    );
  }

  /** Sends one message through the gate; `id` repeats a delivery, as a platform retry does. */
  function send(
    g: StrangerGate,
    user: string,
    text: string,
    o: { id?: string; group?: boolean; addressed?: boolean } = {},
  ): Promise<GateDecision> {
    const messageId = o.id ?? `telegram:bot:${++seq}`;
    const msg: NormalizedMessage = {
      platformMessageId: messageId,
      conversationId: o.group ? '-100' : user,
      chatType: o.group ? 'group' : 'direct',
      user: { id: user, name: `Name of ${user}` },
      text,
      addressedToBot: o.addressed ?? !o.group,
      mentions: [],
      attachments: [],
      replyContext: {},
    };
    return g.admit(msg, { messageId, botId: 'bot', fields: { labels: { platform: 'telegram' } } });
  }

  const codeFor = (user: string) =>
    [...logged].reverse().find((l) => l.labels?.user_id === user && l.labels.pairing_code)?.labels
      ?.pairing_code;
  const requestOf = async (user: string) =>
    (
      await pool.query('SELECT * FROM pairing_requests WHERE external_id = $1 ORDER BY id DESC LIMIT 1', [
        user,
      ])
    ).rows[0];
  const blockOf = async (user: string) =>
    (await pool.query('SELECT * FROM pairing_blocklist WHERE external_id = $1', [user])).rows[0];
  const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  it('open mode: everyone passes; with an allowlist, others are refused as before', async () => {
    expect(await send(gate({ mode: 'open', allowedUsers: [] }), newUser('anyone'), 'hi')).toEqual({
      action: 'pass',
      admitted: 'open',
    });
    const g = gate({ mode: 'open' });
    expect(await send(g, 'friend', 'hi')).toEqual({ action: 'pass', admitted: 'allowlisted' });
    const stranger = newUser('stranger');
    expect(await send(g, stranger, 'hi')).toEqual({ action: 'refuse', notice: PairingNotices.notAllowed });
    expect(await requestOf(stranger)).toBeUndefined();
  });

  it('direct_block: refuses strangers without opening a request; allowlisted and paired users pass', async () => {
    const g = gate({ mode: 'direct_block' });
    const stranger = newUser('blocked');
    expect(await send(g, stranger, 'hello?')).toEqual({
      action: 'refuse',
      notice: PairingNotices.notAllowed,
    });
    expect(await requestOf(stranger)).toBeUndefined();
    expect(await send(g, 'friend', 'hello')).toEqual({ action: 'pass', admitted: 'allowlisted' });
    await store.pair({ platform: 'telegram', externalId: stranger }, 'carol');
    expect(await send(g, stranger, 'and now?')).toEqual({ action: 'pass', admitted: 'paired' });
    expect(gate({ mode: 'direct_block', allowedUsers: [] }).describe().level).toBe('warn');
    expect(g.describe()).toEqual({ level: 'info', message: 'stranger mode: direct_block' });
  });

  it('verification_code: a stranger gets a request, not the code; the code goes to the operators only', async () => {
    const g = gate();
    const user = newUser('newcomer');
    expect(await send(g, 'friend', 'allowlisted')).toEqual({ action: 'pass', admitted: 'allowlisted' });
    const first = await send(g, user, 'hello, can you help?');
    const req = await requestOf(user);
    expect(first).toEqual({ action: 'refuse', notice: PairingNotices.opened(req.id, 'about 10 minutes') });
    const code = codeFor(user);
    expect(code).toMatch(/^\d{6}$/);
    expect(first.action === 'refuse' && first.notice).not.toContain(code);
    // Only a hash is stored.
    expect(req.code_hash).not.toContain(code);
    expect(req).toMatchObject({
      status: 'pending',
      attempts: 0,
      bot_id: 'bot',
      user_name: `Name of ${user}`,
    });
    const pending = await store.listPending({ platform: 'telegram' });
    expect(pending.find((p) => p.externalId === user)).toMatchObject({ id: req.id, status: 'pending' });
    // More chatter gets one reminder a minute, and never a second request.
    expect(await send(g, user, 'anyone there?')).toEqual({
      action: 'refuse',
      notice: PairingNotices.reminder(req.id),
    });
    expect(await send(g, user, 'hello???')).toEqual({ action: 'refuse' });
    expect((await pool.query('SELECT 1 FROM pairing_requests WHERE external_id = $1', [user])).rowCount).toBe(
      1,
    );
  });

  it('the right code pairs the user; the next message passes; a redelivered code is not let through', async () => {
    const g = gate();
    const user = newUser('coder');
    await send(g, user, 'hi');
    const code = codeFor(user)!;
    const codeMessage = 'telegram:bot:code-msg';
    expect(await send(g, user, ` ${code.slice(0, 3)} ${code.slice(3)} `, { id: codeMessage })).toEqual({
      action: 'refuse',
      notice: PairingNotices.paired,
    });
    expect(
      (await pool.query('SELECT approved_by FROM paired_users WHERE external_id = $1', [user])).rows,
    ).toEqual([{ approved_by: 'code' }]);
    expect(await requestOf(user)).toMatchObject({ status: 'approved', decided_by: 'code' });
    expect(await send(g, user, 'what is the disk usage?')).toEqual({ action: 'pass', admitted: 'paired' });
    // The platform retries the code message after the pairing: the same answer, not the model.
    expect(await send(g, user, code, { id: codeMessage })).toEqual({
      action: 'refuse',
      notice: PairingNotices.paired,
    });
    // A paired user may send six digits as a question.
    expect(await send(g, user, '123456')).toEqual({ action: 'pass', admitted: 'paired' });
  });

  it('wrong codes count once per message and block the user after the last attempt', async () => {
    const g = gate();
    const user = newUser('guesser');
    await send(g, user, 'hi');
    const code = codeFor(user)!;
    const wrong = otherCode(code);
    expect(await send(g, user, wrong, { id: 'telegram:bot:wrong-1' })).toEqual({
      action: 'refuse',
      notice: PairingNotices.wrongCode(2),
    });
    // A redelivery of the same message does not use up another attempt.
    expect(await send(g, user, wrong, { id: 'telegram:bot:wrong-1' })).toEqual({
      action: 'refuse',
      notice: PairingNotices.wrongCode(2),
    });
    expect((await requestOf(user)).attempts).toBe(1);
    expect(await send(g, user, wrong)).toEqual({ action: 'refuse', notice: PairingNotices.wrongCode(1) });
    expect(await send(g, user, wrong)).toEqual({
      action: 'refuse',
      notice: PairingNotices.tooManyAttempts('about an hour'),
    });
    expect(await requestOf(user)).toMatchObject({
      status: 'denied',
      decided_by: 'system:attempts',
      attempts: 3,
    });
    expect(await blockOf(user)).toMatchObject({ reason: 'too many wrong pairing codes' });
    expect(
      (
        await pool.query(
          'SELECT ok FROM pairing_attempts a JOIN pairing_requests r ON r.id = a.request_id WHERE r.external_id = $1',
          [user],
        )
      ).rows,
    ).toEqual([{ ok: false }, { ok: false }, { ok: false }]);
    // Blocked: even the right code is refused. The block notice was this minute's refusal.
    expect(await send(g, user, code)).toEqual({ action: 'refuse' });
    expect(await store.listPending()).not.toContainEqual(expect.objectContaining({ externalId: user }));
    // A minute later (the clock moved in the database) one polite refusal, then quiet again.
    await pool.query(
      `UPDATE pairing_blocklist SET last_notice_at = now() - interval '61 seconds' WHERE external_id = $1`,
      [user],
    );
    expect(await send(g, user, 'please')).toEqual({
      action: 'refuse',
      notice: PairingNotices.blocked('about an hour'),
    });
    expect(await send(g, user, 'please!')).toEqual({ action: 'refuse' });
    expect(await store.listBlocked({ platform: 'telegram' })).toContainEqual(
      expect.objectContaining({ externalId: user, reason: 'too many wrong pairing codes' }),
    );
    // Once the block is over, a new message opens a new request.
    await pool.query(
      `UPDATE pairing_blocklist SET until = now() - interval '1 second' WHERE external_id = $1`,
      [user],
    );
    const again = await send(g, user, 'may I try again?');
    expect(again.action === 'refuse' && again.notice).toContain('not yet approved');
    expect((await requestOf(user)).status).toBe('pending');
  });

  it('an expired request blocks the user, even with the right code', async () => {
    const g = gate({ codeTtlSeconds: 1 });
    const user = newUser('late');
    await send(g, user, 'hi');
    const code = codeFor(user)!;
    await waitFor('the request to expire', async () => {
      const { rows } = await pool.query(
        'SELECT expires_at <= now() AS expired FROM pairing_requests WHERE external_id = $1',
        [user],
      );
      return rows[0].expired;
    });
    expect(await store.listPending()).not.toContainEqual(expect.objectContaining({ externalId: user }));
    expect(await send(g, user, code)).toEqual({
      action: 'refuse',
      notice: PairingNotices.expired('about an hour'),
    });
    expect(await requestOf(user)).toMatchObject({ status: 'expired', decided_by: 'system:expiry' });
    expect(await blockOf(user)).toMatchObject({ reason: 'pairing code expired' });
    expect(events).toContain('expired');
    // An administrator can still approve the expired request; that lifts the block.
    const approved = await store.approve((await requestOf(user)).id, 'dave');
    expect(approved).toMatchObject({ status: 'approved', decidedBy: 'admin:dave' });
    expect(await blockOf(user)).toBeUndefined();
    expect(await send(g, user, 'thanks')).toEqual({ action: 'pass', admitted: 'paired' });
  });

  it('admin: approve and deny by id, with clear errors that change nothing', async () => {
    const g = gate();
    const alice = newUser('alice');
    const bob = newUser('bob');
    await send(g, alice, 'hi');
    await send(g, bob, 'hi');
    const ra = await requestOf(alice);
    const rb = await requestOf(bob);

    const bad = async (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as PairingError,
      );
    expect(await bad(store.approve('17; DROP TABLE paired_users', 'x'))).toMatchObject({
      reason: 'invalid_input',
      code: ErrorCodes.BAD_REQUEST,
      statusCode: 400,
    });
    expect(await bad(store.approve(ra.id, '  '))).toMatchObject({ reason: 'invalid_input' });
    expect(await bad(store.approve(ra.id, 'eve\nforged line'))).toMatchObject({ reason: 'invalid_input' });
    expect(await bad(store.approve('999999999', 'x'))).toMatchObject({
      reason: 'not_found',
      code: ErrorCodes.NOT_FOUND,
      statusCode: 404,
    });
    expect(await requestOf(alice)).toMatchObject({ status: 'pending' });

    const approved = await store.approve(Number(ra.id), 'carol');
    expect(approved).toMatchObject({
      id: ra.id,
      status: 'approved',
      decidedBy: 'admin:carol',
      externalId: alice,
      messageId: ra.message_id,
    });
    expect(await bad(store.approve(ra.id, 'carol'))).toMatchObject({
      reason: 'not_pending',
      statusCode: 409,
    });
    expect(await send(g, alice, 'now?')).toEqual({ action: 'pass', admitted: 'paired' });
    expect((await store.listPaired()).find((p) => p.externalId === alice)).toMatchObject({
      approvedBy: 'admin:carol',
    });

    expect(await store.deny(rb.id, 'carol', { blockSeconds: 120 })).toMatchObject({ status: 'denied' });
    expect(await blockOf(bob)).toMatchObject({ reason: 'denied by admin:carol' });
    expect(await bad(store.deny(rb.id, 'carol'))).toMatchObject({ reason: 'not_pending' });
    expect(await send(g, bob, 'why?')).toEqual({ action: 'refuse' });
    expect(await store.unblock({ platform: 'telegram', externalId: bob })).toBe(true);
    expect(await store.unblock({ platform: 'telegram', externalId: bob })).toBe(false);
    const reopened = await send(g, bob, 'again');
    expect(reopened.action === 'refuse' && reopened.notice).toContain('not yet approved');

    // Revoking a pairing makes the user a stranger again.
    expect(await store.unpair({ platform: 'telegram', externalId: alice })).toBe(true);
    const revoked = await send(g, alice, 'still here');
    expect(revoked.action === 'refuse' && revoked.notice).toContain('not yet approved');
  });

  it('admin: a fresh code for the console replaces the old one and resets the attempts', async () => {
    const g = gate();
    const user = newUser('console');
    await send(g, user, 'hi');
    const old = codeFor(user)!;
    const req = await requestOf(user);
    const fresh = await store.issueCode(req.id, 300);
    expect(fresh.code).toMatch(/^\d{6}$/);
    if (fresh.code !== old) {
      expect(await send(g, user, old)).toEqual({ action: 'refuse', notice: PairingNotices.wrongCode(2) });
    }
    expect(await send(g, user, fresh.code)).toEqual({ action: 'refuse', notice: PairingNotices.paired });
    await expect(store.issueCode(req.id)).rejects.toMatchObject({ reason: 'not_pending' });
  });

  it('ignores a stranger talking in a group without addressing the bot', async () => {
    const g = gate();
    const user = newUser('chatter');
    expect(await send(g, user, 'lunch?', { group: true, addressed: false })).toEqual({ action: 'ignore' });
    expect(await requestOf(user)).toBeUndefined();
    const asked = await send(g, user, 'can you help?', { group: true, addressed: true });
    expect(asked.action === 'refuse' && asked.notice).toContain('not yet approved');
  });

  it('opens one request when a stranger sends several messages at once, and repeats it on redelivery', async () => {
    const g = gate();
    const user = newUser('eager');
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        send(g, user, `message ${i}`, { id: `telegram:bot:eager-${user}-${i}` }),
      ),
    );
    expect(results.every((r) => r.action === 'refuse')).toBe(true);
    const { rows } = await pool.query('SELECT id, message_id FROM pairing_requests WHERE external_id = $1', [
      user,
    ]);
    expect(rows).toHaveLength(1);
    expect(logged.filter((l) => l.labels?.user_id === user && l.labels.pairing_code)).toHaveLength(1);
    expect(await send(g, user, 'again', { id: rows[0].message_id })).toEqual({
      action: 'refuse',
      notice: PairingNotices.opened(rows[0].id, 'about 10 minutes'),
    });
  });
});
