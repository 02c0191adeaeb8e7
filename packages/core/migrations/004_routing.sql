-- Routing: agent profiles, ordered routing rules (reloaded by the workers on NOTIFY), and token
-- usage per day, user, route and model.

CREATE TABLE IF NOT EXISTS agent_profiles (
  -- 'default' is the worker's own profile built from its settings, so it cannot be stored.
  name              text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$' AND name <> 'default'),
  description       text        NOT NULL DEFAULT '',
  -- NULL: the worker's SYSTEM_PROMPT.
  system_prompt     text,
  -- MODEL_CHAIN syntax (ollama/qwen2.5:0.5b,openai/gpt-4o-mini@60000); NULL: the worker's MODEL_CHAIN.
  model_chain       text,
  -- Built-in tools the profile may call; skills add their own.
  tools             text[]      NOT NULL DEFAULT '{}',
  skill             text,
  knowledge         boolean     NOT NULL DEFAULT false,
  -- Opt-in response cache; NULL or 0 disables it.
  cache_ttl_seconds integer     CHECK (cache_ttl_seconds IS NULL OR cache_ttl_seconds >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS routing_rules (
  id             bigserial   PRIMARY KEY,
  -- Rules are tried in ascending position. Deferred, so a reorder can shift many rows in one statement.
  position       integer     NOT NULL,
  enabled        boolean     NOT NULL DEFAULT true,
  name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  match          jsonb       NOT NULL DEFAULT '{}',
  target         jsonb       NOT NULL,
  -- The profile a rule sends to, so the database refuses deleting a profile still in use.
  target_profile text        GENERATED ALWAYS AS (NULLIF(target ->> 'profile', 'default')) STORED
                             REFERENCES agent_profiles (name) ON DELETE RESTRICT,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT routing_rules_position UNIQUE (position) DEFERRABLE INITIALLY DEFERRED
);

-- Workers LISTEN on this channel and reload their rules on any change, whoever made it
-- (the admin console, a script, psql).
CREATE OR REPLACE FUNCTION sb_notify_routing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sb_routing_changed', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS agent_profiles_changed ON agent_profiles;
CREATE TRIGGER agent_profiles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_profiles
  FOR EACH STATEMENT EXECUTE FUNCTION sb_notify_routing_changed();

DROP TRIGGER IF EXISTS routing_rules_changed ON routing_rules;
CREATE TRIGGER routing_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_rules
  FOR EACH STATEMENT EXECUTE FUNCTION sb_notify_routing_changed();

-- One row per UTC day, user, route and model, incremented after each model call.
CREATE TABLE IF NOT EXISTS token_usage (
  day               date   NOT NULL,
  user_id           text   NOT NULL,
  route             text   NOT NULL,
  model             text   NOT NULL,
  requests          bigint NOT NULL DEFAULT 0,
  prompt_tokens     bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, user_id, route, model)
);
CREATE INDEX IF NOT EXISTS token_usage_user ON token_usage (user_id, day);
