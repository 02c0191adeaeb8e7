-- Scheduled workflows: definitions made in the console (files under workspace/workflows are read
-- from disk, not stored), every run, and every attempt of every step with its output.

CREATE TABLE IF NOT EXISTS workflows (
  name        text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  -- The YAML exactly as written; the scheduler validates it on every load and skips what fails.
  source      text        NOT NULL CHECK (length(source) <= 262144),
  -- Off here wins over the YAML's own `enabled`.
  enabled     boolean     NOT NULL DEFAULT true,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text        NOT NULL DEFAULT 'unknown'
);

-- Schedulers LISTEN on this channel and reload on any change, whoever made it (console, psql).
CREATE OR REPLACE FUNCTION sb_notify_workflows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sb_workflows_changed', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS workflows_changed ON workflows;
CREATE TRIGGER workflows_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workflows
  FOR EACH STATEMENT EXECUTE FUNCTION sb_notify_workflows_changed();

CREATE TABLE IF NOT EXISTS workflow_runs (
  id            uuid        PRIMARY KEY,
  -- No foreign key: file workflows have no row, and history outlives a deleted workflow.
  workflow      text        NOT NULL,
  -- The BullMQ job id: one run per cron tick (repeat:<name>:<tick ms>), per webhook idempotency
  -- key, per inbound message. A job delivered twice finds its run here and resumes it.
  job_id        text        NOT NULL UNIQUE,
  trigger_type  text        NOT NULL CHECK (trigger_type IN ('cron', 'webhook', 'manual', 'message')),
  -- What the trigger handed the workflow (the webhook body, the message text…), size-capped.
  trigger       jsonb       NOT NULL DEFAULT '{}',
  -- The cron tick this run belongs to.
  scheduled_for timestamptz,
  status        text        NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  error         text,
  failed_step   text,
  -- Whether the on_failure notification went out (NULL: none configured or not failed).
  notified      boolean,
  trace_id      text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS workflow_runs_by_workflow ON workflow_runs (workflow, created_at DESC);
CREATE INDEX IF NOT EXISTS workflow_runs_by_status ON workflow_runs (status) WHERE status IN ('queued', 'running');

-- One row per attempt of a step.
CREATE TABLE IF NOT EXISTS workflow_step_runs (
  run_id      uuid        NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
  step_id     text        NOT NULL,
  position    integer     NOT NULL,
  attempt     integer     NOT NULL CHECK (attempt >= 1),
  step_type   text        NOT NULL,
  -- interrupted: the scheduler stopped mid-attempt; the run resumed elsewhere without counting it.
  status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  -- Strings inside are cut at STEP_OUTPUT_MAX_CHARS; later steps see the same capped value.
  output      jsonb,
  error       text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  duration_ms integer,
  PRIMARY KEY (run_id, step_id, attempt)
);
