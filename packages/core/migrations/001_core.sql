-- Conversations, their messages, and the inbox/outbox that make each delivery's effects happen once.

CREATE TABLE IF NOT EXISTS conversations (
  id                 bigserial PRIMARY KEY,
  platform           text        NOT NULL,
  bot_id             text        NOT NULL,
  external_id        text        NOT NULL,
  -- A session is the span of history the model sees; /reset and idle time start a new one.
  session_id         uuid        NOT NULL,
  session_started_at timestamptz NOT NULL DEFAULT now(),
  last_activity_at   timestamptz NOT NULL DEFAULT now(),
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, bot_id, external_id)
);

CREATE TABLE IF NOT EXISTS messages (
  id              bigserial PRIMARY KEY,
  conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  session_id      uuid        NOT NULL,
  role            text        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  content         text        NOT NULL,
  message_id      text        NOT NULL,
  in_reply_to     text,
  user_id         text,
  model           text,
  status          text        NOT NULL DEFAULT 'ok',
  prompt_tokens   integer,
  completion_tokens integer,
  latency_ms      integer,
  trace_id        text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_conversation_session ON messages (conversation_id, session_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_in_reply_to ON messages (in_reply_to) WHERE in_reply_to IS NOT NULL;

-- One row per inbound message id that has taken effect; written in the same transaction as the turn.
CREATE TABLE IF NOT EXISTS inbox (
  message_id   text        PRIMARY KEY,
  trace_id     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);

-- Messages to publish, written in the business transaction; the relay marks them sent after the confirm.
CREATE TABLE IF NOT EXISTS outbox (
  id          bigserial PRIMARY KEY,
  exchange    text        NOT NULL,
  routing_key text        NOT NULL,
  message_id  text        NOT NULL UNIQUE,
  payload     jsonb       NOT NULL,
  trace_id    text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  sent_at     timestamptz,
  attempts    integer     NOT NULL DEFAULT 0,
  last_error  text
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
