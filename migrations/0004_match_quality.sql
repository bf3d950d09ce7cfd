-- Match quality (docs/stats.md, "Match quality"): per UTC day (days since 1970-01-01),
-- destination and event name (as the platform calls it), how many events were built for the
-- platform (key = '') and how many of them carried each match key (key = 'em', 'fbp',
-- 'client_ip_address', ...). Nothing personal: key names and counts only.
CREATE TABLE stats_match (
  day INTEGER NOT NULL,
  destination TEXT NOT NULL,
  event TEXT NOT NULL,
  key TEXT NOT NULL DEFAULT '',
  events INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, destination, event, key)
) WITHOUT ROWID;
