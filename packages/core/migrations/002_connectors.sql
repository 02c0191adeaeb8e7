-- What the platform connectors keep: who people are across platforms, per-channel policy, how to
-- answer a message, the files people sent, and which parts of a reply already went out.

-- One row per person; a person may be known on several platforms.
CREATE TABLE IF NOT EXISTS users (
  id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name text,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS user_identities (
  platform     text        NOT NULL,
  external_id  text        NOT NULL,
  user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  display_name text,
  first_seen   timestamptz NOT NULL DEFAULT now(),
  last_seen    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, external_id)
);
CREATE INDEX IF NOT EXISTS user_identities_user ON user_identities (user_id);

-- Per group/channel overrides of the connector's defaults; read with a short cache, so a change
-- applies within seconds without a restart.
CREATE TABLE IF NOT EXISTS channel_settings (
  platform     text        NOT NULL,
  bot_id       text        NOT NULL,
  channel_id   text        NOT NULL,
  group_policy text        CHECK (group_policy IN ('mention', 'always')),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, bot_id, channel_id)
);

-- What a connector needs to answer one inbound message (chat id, thread, session webhook…).
CREATE TABLE IF NOT EXISTS reply_contexts (
  message_id text        PRIMARY KEY,
  platform   text        NOT NULL,
  context    jsonb       NOT NULL,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reply_contexts_created ON reply_contexts (created_at);

-- Files received from (or sent to) platforms, content-addressed so a re-delivered file is stored once.
CREATE TABLE IF NOT EXISTS attachments (
  id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  sha256     text        NOT NULL,
  platform   text        NOT NULL,
  name       text,
  mime_type  text,
  size       integer     NOT NULL,
  data       bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS attachments_sha256 ON attachments (sha256, platform);

-- Parts of a reply the platform has accepted: a retried reply resumes after the last sent part
-- instead of posting the first parts again.
CREATE TABLE IF NOT EXISTS outbound_parts (
  message_id          text        NOT NULL,
  part                integer     NOT NULL,
  platform_message_id text,
  sent_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, part)
);
