-- Per-conversation choices a user makes with chat commands (/model).
CREATE TABLE IF NOT EXISTS conversation_settings (
  platform        text        NOT NULL,
  bot_id          text        NOT NULL,
  conversation_id text        NOT NULL,
  model           text,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, bot_id, conversation_id)
);
