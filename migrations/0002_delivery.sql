-- What became of the events (README, "Stats", Delivery panel): counts per UTC day (days since
-- 1970-01-01), destination (meta, ga4, tiktok), event name and outcome (sent, failed,
-- dead_lettered, rejected, skipped, dry_run). detail: the rule of a skip, the code of a
-- reject, else ''. last_at / last_reason: the latest failure's time (ms) and reason, for
-- failed, dead_lettered and rejected rows. Nothing personal: no event data, no visitor.
CREATE TABLE stats_delivery (
  day INTEGER NOT NULL,
  destination TEXT NOT NULL,
  event TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  events INTEGER NOT NULL DEFAULT 0,
  last_at INTEGER,
  last_reason TEXT,
  PRIMARY KEY (day, destination, event, outcome, detail)
) WITHOUT ROWID;
