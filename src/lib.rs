//! tagrelay: a transparent reverse-proxy Worker that turns an origin's `Worker-Tracking`
//! response header into events for Meta's Conversions API, GA4's Measurement Protocol and
//! TikTok's Events API, sent after the response is on its way, directly or through a queue,
//! and counts page views at the edge.
//!
//! Every part but `edge` is a pure core with no `worker` types, compiled and unit-tested
//! natively with `cargo test`; `edge` is the thin Workers adapter (wasm32 only) that the JS
//! entry (`src/edge/js/`) calls. The parts, lowest layer first: a part may use the parts
//! above it in this list, never one below (`tests/layers.rs` checks it).

/// Reading the Worker's variables: the leaf every part's settings use, and the assembly of
/// them all (the top of the core).
pub mod config;
/// The request and response as the proxy sees them: upstream request, origin rewrites,
/// query filter, client IP, cookies, caching.
pub mod proxy;
/// The one JSON log line, and the debug report.
pub mod log;
/// Bots and the other requests that are no human page view.
pub mod bots;
/// The event: the tracking header decoded into neutral events, their ids, PII normalisation.
pub mod event;
/// Events from the page itself: `PAGE_EVENTS` rules, and a page's JSON-LD or dataLayer read
/// into the event a header would carry.
pub mod page_events;
/// The visitor: consent, first-party ids and cookies, click ids.
pub mod visitor;
/// The platforms, each behind one `Destination` trait.
pub mod destinations;
/// Page-view stats and delivery counts at the edge: counting, D1 statements, the stats page.
pub mod analytics;
/// Getting events out: batches, the retry policy, queue messages, dead letters.
pub mod delivery;
/// The tracking decision for one tracked response, once for every destination.
pub mod tracking;

/// The Workers adapter: exports for the JS entry, the delivery driver, the log writer.
#[cfg(target_arch = "wasm32")]
pub mod edge;
