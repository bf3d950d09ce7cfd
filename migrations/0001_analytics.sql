-- tagrelay's page-view analytics (README, "Stats"). Apply with
--   npx wrangler d1 migrations apply TAGRELAY_DB --remote   (deploy)
--   npx wrangler d1 migrations apply TAGRELAY_DB --local    (make dev does this)
-- Nothing here is personal: no IP, no User-Agent, no cookie. Visitor ids are salted hashes
-- whose salt is deleted after 48 h, and the hashes with it.

-- Counts per UTC day (days since 1970-01-01) and dimension:
--   total ('') | page (path) | hour ('00'..'23', last 48 h) | source | medium | campaign
--   | country (ISO 3166-1 alpha-2, XX unknown) | device (mobile, tablet, desktop).
-- visitors: distinct visitors that day (exact: see stats_seen).
CREATE TABLE stats_daily (
  dim TEXT NOT NULL,
  day INTEGER NOT NULL,
  value TEXT NOT NULL,
  pageviews INTEGER NOT NULL DEFAULT 0,
  visitors INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (dim, day, value)
) WITHOUT ROWID;

-- The visitors already counted per day and key (a page's path, 'h:HH', 's:<source>', ... or
-- '' for the site), so that each is counted once across isolates. Deleted after 48 h.
CREATE TABLE stats_seen (
  day INTEGER NOT NULL,
  key TEXT NOT NULL,
  visitor INTEGER NOT NULL,
  PRIMARY KEY (day, key, visitor)
) WITHOUT ROWID;

-- The random salt of each UTC day's visitor hashes. Deleted after 48 h.
CREATE TABLE stats_salts (
  day INTEGER PRIMARY KEY,
  salt BLOB NOT NULL
);

-- Flushes already written (a retried flush is then refused as a whole). Kept 48 h.
CREATE TABLE stats_flushes (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL
) WITHOUT ROWID;

-- When each of today's visitor hashes was last seen, for "visitors now". Kept 10 minutes.
CREATE TABLE stats_live (
  visitor INTEGER PRIMARY KEY,
  at INTEGER NOT NULL
);
