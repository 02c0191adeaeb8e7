import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { TestStack } from '../support/stack.ts';
import { ChatClient } from '../support/web-client.ts';

describe('conversation history: bounded context and sessions', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let db: pg.Pool;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({
      workers: 1,
      workerEnv: {
        OLLAMA_URL: llm.url,
        CONTEXT_MAX_MESSAGES: '4',
        CONTEXT_MAX_CHARS: '100',
        SESSION_IDLE_MINUTES: '30',
      },
    }).start();
    db = new pg.Pool({ connectionString: stack.databaseUrl });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.stop();
    await llm?.close();
  });

  const seenBy = (text: string) =>
    llm.calls.find((c) => c.messages.at(-1)?.content === text)!.messages.map((m) => m.content);

  it('sends the model at most CONTEXT_MAX_MESSAGES earlier messages, newest kept', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-trim').connect();
    for (const [i, text] of ['a1', 'a2', 'a3', 'a4'].entries()) {
      chat.send(text);
      await chat.waitForReplies(i + 1);
    }
    // System prompt, the last four stored messages, then the new one.
    expect(seenBy('a4').slice(1)).toEqual(['a2', 'echo: a2', 'a3', 'echo: a3', 'a4']);
    chat.close();
  });

  it('drops the oldest messages beyond CONTEXT_MAX_CHARS', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-chars').connect();
    const long = 'x'.repeat(60);
    chat.send(long);
    await chat.waitForReplies(1);
    chat.send('short');
    await chat.waitForReplies(2);
    // 60 + 66 characters do not fit in 100: only the newest earlier message is kept.
    expect(seenBy('short').slice(1)).toEqual([`echo: ${long}`, 'short']);
    chat.close();
  });

  it('starts a new session after SESSION_IDLE_MINUTES of silence', async () => {
    const chat = await new ChatClient(stack.web.url, stack.token, 'conv-idle').connect();
    chat.send('before the break');
    await chat.waitForReplies(1);
    // Forty minutes pass.
    await db.query(
      "UPDATE conversations SET last_activity_at = now() - interval '40 minutes' WHERE external_id = 'conv-idle'",
    );
    chat.send('after the break');
    await chat.waitForReplies(2);
    expect(seenBy('after the break').slice(1)).toEqual(['after the break']);
    const sessions = await db.query(
      "SELECT count(DISTINCT m.session_id)::int AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.external_id = 'conv-idle'",
    );
    expect(sessions.rows[0].n).toBe(2);
    chat.close();
  });
});
