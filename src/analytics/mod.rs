//! First-party page-view analytics, counted at the edge with no script, no cookie and no
//! stored IP (issue 13). The pure half; `edge::analytics` does the I/O.
//! - what one page view is counted as: [`page_view`] (bots, dimensions), [`device`],
//!   [`source`], [`page_path`], [`visitor_hash`] (daily salt), [`reload_filter`], [`id_hasher`]
//!   (maps and sets keyed by visitor ids);
//! - counting and writing: [`aggregate`] (an isolate's counts), [`flusher`] (the idempotent
//!   flush to D1), [`delivery_counts`] (what became of the events, flushed with them),
//!   [`match_counts`] (the match keys the events carried, flushed with them),
//!   [`conversion`] (what an event declared on a human request counts as), [`revenue`] (exact
//!   money), [`conversion_counts`] (the events and revenue per source of the day, flushed with
//!   the page views),
//!   [`dead_letters`] (queue messages kept for replay), [`sql`] (every statement),
//!   [`retention`] (the daily cron), [`values`] (row fields, bounded text);
//! - reading: [`endpoints`] (routes, behind [`auth`]), [`report`] (JSON, CSV via [`csv`]), [`delivery_report`] (the Delivery panel's JSON),
//!   [`match_report`] (the Match quality view), [`conversion_report`] (conversions, revenue
//!   and the sources that sell: JSON, CSV, panels),
//!   [`dashboard`] (the HTML page);
//! - [`settings`]: the variables.
//!
//! May use: `config::parse`, `proxy`, `bots`, `destinations` (their names), `delivery` (queue
//! messages). Used by the
//! configuration and the adapter.

pub mod aggregate;
pub mod auth;
pub mod calendar;
pub mod conversion;
pub mod conversion_counts;
pub mod conversion_report;
pub mod csv;
pub mod dashboard;
pub mod dead_letters;
pub mod delivery_counts;
pub mod match_counts;
pub mod match_report;
pub mod delivery_report;
pub mod device;
pub mod endpoints;
pub mod flusher;
pub mod id_hasher;
pub mod page_path;
pub mod page_view;
pub mod report;
pub mod reload_filter;
pub mod retention;
pub mod revenue;
pub mod settings;
pub mod source;
pub mod sql;
pub mod values;
pub mod visitor_hash;
