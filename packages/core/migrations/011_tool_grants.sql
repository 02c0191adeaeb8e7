-- Tool grants (issue 11, item 7) and tool calls recorded before they run (item 2).

-- The skills a profile allows. A skill is matched by its triggers, and brings its handler and its
-- local tools, only on routes whose profile lists it: none by default. A profile that already
-- pinned one skill (`skill`) clearly allowed that one, so it keeps it; every other existing profile
-- allows none (they used to get every loaded skill by message text), which operators grant back
-- by listing the skills they mean (docs/agents.md, "Skills per route").
ALTER TABLE agent_profiles ADD COLUMN IF NOT EXISTS skills text[] NOT NULL DEFAULT '{}';
UPDATE agent_profiles SET skills = ARRAY[skill] WHERE skill IS NOT NULL AND NOT (skill = ANY (skills));

-- A call is written as `started` before it runs and updated once it ends, so a crash mid-call
-- leaves a visible row instead of none. `finished_at` is NULL while it runs.
ALTER TABLE tool_calls DROP CONSTRAINT IF EXISTS tool_calls_status_check;
ALTER TABLE tool_calls ADD CONSTRAINT tool_calls_status_check
  CHECK (status IN ('started', 'ok', 'refused', 'error', 'timeout'));
ALTER TABLE tool_calls ADD COLUMN IF NOT EXISTS finished_at timestamptz;
UPDATE tool_calls SET finished_at = created_at WHERE finished_at IS NULL AND status <> 'started';
CREATE INDEX IF NOT EXISTS tool_calls_started ON tool_calls (created_at) WHERE status = 'started';
