-- Console sign-ins: the browser holds a random session id (its sha256 is stored here), never the
-- bearer token itself. A session lives no longer than its token; revoking the token ends it.
CREATE TABLE IF NOT EXISTS admin_sessions (
  id_hash      bytea       PRIMARY KEY,
  token_id     text        NOT NULL REFERENCES admin_tokens (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS admin_sessions_token ON admin_sessions (token_id);

-- The audit actor is the credential's id (a token id, a service name), beside its display name.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS actor_id text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS audit_log_actor_id ON audit_log (actor_id);
