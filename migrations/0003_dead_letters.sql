-- Dead letters kept for replay (README, "Delivery through a queue"): each message the
-- dead-letter queue's consumer got, by queue message id, until it is replayed
-- (POST {STATS_PATH}/api/dead-letters/replay) or 7 days old (the daily cron deletes it).
-- body is the message as queued: what the platform would have received, including the
-- visitor's IP and User-Agent as consent allowed; it is never shown, only re-sent.
CREATE TABLE delivery_dead_letters (
  id TEXT PRIMARY KEY,
  destination TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  dead_at INTEGER NOT NULL,
  page_views INTEGER NOT NULL,
  events INTEGER NOT NULL,
  event_ids TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX delivery_dead_letters_dead_at ON delivery_dead_letters (dead_at);
