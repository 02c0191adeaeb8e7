-- Routing rules' `user` and `channel` conditions name their platform: `slack:U123`, not `U123`.
-- A bare id matched the same string on every platform, so a web or API client that claimed a
-- Slack user id (or used a Slack channel id as its conversation id) got the Slack user's route.
--
-- Existing rules are converted without widening anything:
-- - with a `platform` condition, each bare id is qualified with each of the rule's platforms (the
--   rule matched only there anyway); an id shaped like a UUID also becomes `internal:<uuid>`,
--   since a bare id used to match our own user id too;
-- - without one, the platform is unknowable: the rule is disabled, its match left as it was, and
--   `disabled_reason` says why (the console shows it; workers log it once).

ALTER TABLE routing_rules ADD COLUMN IF NOT EXISTS disabled_reason text;

DO $$
DECLARE
  r         record;
  m         jsonb;
  platforms jsonb;
  k         text;
  vals      jsonb;
  v         text;
  p         text;
  qualified jsonb;
  too_many  boolean;
BEGIN
  FOR r IN SELECT id, match FROM routing_rules WHERE match ? 'user' OR match ? 'channel' ORDER BY id FOR UPDATE LOOP
    IF NOT (r.match ? 'platform') THEN
      UPDATE routing_rules
         SET enabled = false,
             updated_at = now(),
             disabled_reason = 'Disabled by migration 010: its user/channel condition names no platform, so it '
               || 'matched the same id on every platform, web and API clients included. Write each id as '
               || '<platform>:<id> (e.g. slack:U123, or internal:<uuid> for a Switchboard user id) and enable it again.'
       WHERE id = r.id;
      CONTINUE;
    END IF;
    platforms := CASE jsonb_typeof(r.match -> 'platform')
                   WHEN 'array' THEN r.match -> 'platform'
                   ELSE jsonb_build_array(r.match -> 'platform') END;
    m := r.match;
    too_many := false;
    FOREACH k IN ARRAY ARRAY['user', 'channel'] LOOP
      CONTINUE WHEN NOT (m ? k);
      vals := CASE jsonb_typeof(m -> k) WHEN 'array' THEN m -> k ELSE jsonb_build_array(m -> k) END;
      qualified := '[]'::jsonb;
      FOR v IN SELECT jsonb_array_elements_text(vals) LOOP
        FOR p IN SELECT jsonb_array_elements_text(platforms) LOOP
          qualified := qualified || to_jsonb(p || ':' || v);
        END LOOP;
        IF k = 'user' AND v ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
          qualified := qualified || to_jsonb('internal:' || v);
        END IF;
      END LOOP;
      too_many := too_many OR jsonb_array_length(qualified) > 100;
      m := jsonb_set(m, ARRAY[k], CASE jsonb_array_length(qualified) WHEN 1 THEN qualified -> 0 ELSE qualified END);
    END LOOP;
    IF too_many THEN
      -- More ids than a condition may list (100): keep the rule as it was, switched off.
      UPDATE routing_rules
         SET enabled = false,
             updated_at = now(),
             disabled_reason = 'Disabled by migration 010: qualifying its user/channel ids with each of its '
               || 'platforms gives more than 100 values. Write each id as <platform>:<id>, split the rule, '
               || 'and enable it again.'
       WHERE id = r.id;
    ELSE
      UPDATE routing_rules SET match = m, updated_at = now() WHERE id = r.id;
    END IF;
  END LOOP;
END
$$;
