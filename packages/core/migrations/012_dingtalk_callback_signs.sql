-- DingTalk signs an HTTP callback's timestamp only, not its body, and accepts a timestamp for an
-- hour: a captured (timestamp, sign) pair would authenticate any body for that hour. Each pair is
-- remembered with the digest of the body it came with until it expires; the same pair with another
-- body is a replay and is refused (the same body again is a redelivery, which the inbox dedupes).
CREATE TABLE IF NOT EXISTS dingtalk_callback_signs (
  bot_id text NOT NULL,
  ts bigint NOT NULL,
  sign text NOT NULL,
  body_sha256 text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (bot_id, ts, sign)
);
CREATE INDEX IF NOT EXISTS dingtalk_callback_signs_expires ON dingtalk_callback_signs (expires_at);
