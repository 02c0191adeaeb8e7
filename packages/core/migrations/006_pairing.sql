-- Stranger mode: who may talk to the bots beyond the ALLOWED_USERS allowlist, the pairing requests
-- of people not yet approved, and who is blocked for a while. Keyed by platform and the platform's
-- own user id, so one approval holds for every bot of that platform.

CREATE TABLE IF NOT EXISTS paired_users (
  platform    text        NOT NULL,
  external_id text        NOT NULL,
  paired_at   timestamptz NOT NULL DEFAULT now(),
  -- 'code' (the user sent back the code an operator gave them) or 'admin:<name>'.
  approved_by text        NOT NULL CHECK (approved_by = 'code' OR approved_by ~ '^admin:.+'),
  PRIMARY KEY (platform, external_id)
);

CREATE TABLE IF NOT EXISTS pairing_requests (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  platform        text        NOT NULL,
  bot_id          text        NOT NULL,
  external_id     text        NOT NULL,
  user_name       text,
  conversation_id text        NOT NULL,
  -- Envelope id of the message that opened the request: its reply context lets an admin tool
  -- answer the user, and a redelivery of it is recognised.
  message_id      text        NOT NULL,
  -- scrypt with a per-request salt; the code itself is never stored.
  code_hash       text        NOT NULL,
  expires_at      timestamptz NOT NULL,
  attempts        integer     NOT NULL DEFAULT 0,
  status          text        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  -- Last reminder sent while pending, so a chatty stranger gets at most one a minute.
  last_notice_at  timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  decided_at      timestamptz,
  -- 'code', 'admin:<name>', 'system:attempts' or 'system:expiry'.
  decided_by      text
);
-- One open request per person: concurrent first messages end with one request, not two codes.
CREATE UNIQUE INDEX IF NOT EXISTS pairing_requests_one_pending
  ON pairing_requests (platform, external_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS pairing_requests_created ON pairing_requests (created_at);

-- Every code sent back, right or wrong: the audit trail, and what makes a platform's redelivery of
-- the same message count once.
CREATE TABLE IF NOT EXISTS pairing_attempts (
  message_id text        PRIMARY KEY,
  request_id bigint      NOT NULL REFERENCES pairing_requests (id) ON DELETE CASCADE,
  ok         boolean     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pairing_attempts_request ON pairing_attempts (request_id);

CREATE TABLE IF NOT EXISTS pairing_blocklist (
  platform       text        NOT NULL,
  external_id    text        NOT NULL,
  until          timestamptz NOT NULL,
  reason         text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- Last refusal sent while blocked: at most one a minute, so a blocked user cannot make the bot spam.
  last_notice_at timestamptz,
  PRIMARY KEY (platform, external_id)
);
