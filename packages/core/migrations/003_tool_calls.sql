-- Every tool call a model asked for, whether it ran, was refused, failed or timed out: who asked,
-- in which conversation, for which message, with which arguments, and what came of it.

-- NOTE: the conversation is named by platform, bot and the platform's conversation id (as in
-- conversations' unique key) rather than a foreign key: calls are recorded as they happen, before
-- the turn that made them commits — or even when it never does — and the audit outlives a
-- conversation deleted by retention.
CREATE TABLE IF NOT EXISTS tool_calls (
  -- Also the tool RPC request id, so a row can be matched with the tool-runner's log lines.
  id               uuid        PRIMARY KEY,
  -- The inbound envelope the tool loop was answering.
  message_id       text        NOT NULL,
  trace_id         text        NOT NULL,
  platform         text        NOT NULL,
  bot_id           text        NOT NULL,
  conversation_id  text        NOT NULL,
  -- Platform user id; internal_user_id is users.id when the connector knew it.
  user_id          text        NOT NULL,
  internal_user_id text,
  route            text,
  tool             text        NOT NULL,
  -- The model provider's id for the call, which pairs it with its result in the conversation.
  call_id          text        NOT NULL,
  -- 1 for the calls of the model's first reply, 2 for the next, and so on.
  round            integer     NOT NULL CHECK (round >= 1),
  -- Order of the call within its round's reply, from 0.
  position         integer     NOT NULL CHECK (position >= 0),
  -- As the model wrote them; may hold secrets a user typed, so shown to operators, never logged.
  arguments        jsonb       NOT NULL,
  status           text        NOT NULL CHECK (status IN ('ok', 'refused', 'error', 'timeout')),
  error_code       text,
  duration_ms      integer     NOT NULL CHECK (duration_ms >= 0),
  -- Size of the output the model was given (UTF-8), after capping.
  output_bytes     integer     NOT NULL CHECK (output_bytes >= 0),
  truncated        boolean     NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tool_calls_conversation
  ON tool_calls (platform, bot_id, conversation_id, created_at DESC);
CREATE INDEX IF NOT EXISTS tool_calls_message ON tool_calls (message_id, round, position);
-- Retention prunes by age.
CREATE INDEX IF NOT EXISTS tool_calls_created ON tool_calls (created_at);
