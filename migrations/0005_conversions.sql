-- Conversions and revenue (docs/stats.md, "Conversions"): the events the origin declared on
-- human requests, counted whatever the consent, like the page views. Nothing personal: counts
-- and sums per UTC day (days since 1970-01-01), event name and the visitor's source of the day.
--
-- Each visitor's source of the day (utm_source or the referring host, with utm_medium and
-- utm_campaign, of their first page view of the UTC day; '(direct)' or '(internal)') is held
-- on their site mark (stats_seen, key ''), deleted with it after 48 h.
ALTER TABLE stats_seen ADD COLUMN source TEXT;
ALTER TABLE stats_seen ADD COLUMN medium TEXT;
ALTER TABLE stats_seen ADD COLUMN campaign TEXT;

-- event '': the visitors whose source of the day that is (what a source's conversion rate
-- divides by). currency '': every event of that name (events) and the distinct visitors who
-- sent it (visitors). currency 'EUR', ...: the events that carried a value in that currency
-- (events) and the sum of their values in thousandths of the unit (revenue), exact.
-- source '(unknown)': the visitor's first page view of the day was not counted.
CREATE TABLE stats_conversions (
  day INTEGER NOT NULL,
  event TEXT NOT NULL,
  source TEXT NOT NULL,
  medium TEXT NOT NULL DEFAULT '',
  campaign TEXT NOT NULL DEFAULT '',
  currency TEXT NOT NULL DEFAULT '',
  events INTEGER NOT NULL DEFAULT 0,
  visitors INTEGER NOT NULL DEFAULT 0,
  revenue INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, event, source, medium, campaign, currency)
) WITHOUT ROWID;
