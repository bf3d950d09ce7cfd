//! tagrelay: a transparent reverse-proxy Worker that turns an origin's `Worker-Tracking`
//! response header into events for Meta's Conversions API, GA4's Measurement Protocol and
//! TikTok's Events API (`destinations`), sent after the response is on its way, directly or
//! through a queue (`delivery`), and counts page views (`analytics`).
//!
//! The crate is split in two:
//! - a pure core (every module below but `edge`) with no `worker` types: decoding,
//!   validation, bot rules, the visitor's consent and first-party ids (`visitor`), each
//!   platform's mapping and hashing, config parsing, batching, retry policy and queue messages.
//!   It compiles and is unit-tested natively with `cargo test`.
//! - `edge`, the thin Workers adapter (wasm32 only): the exports that the JS entry
//!   (`src/edge/entry.js`, which forwards requests and strips the header) calls for tracked
//!   responses and error paths, the delivery policy driver and the log writer.

// The crawler patterns' compile half, run by build.rs; here only for its unit tests.
#[cfg(test)]
mod bot_compile;
#[cfg(test)]
mod bot_syntax;
pub mod analytics;
pub mod bots;
pub mod cache_control;
pub mod cache_replay;
pub mod click_ids;
pub mod client_ip;
pub mod config;
pub mod cookies;
pub mod debug_report;
pub mod decode_cache;
pub mod delivery;
pub mod destinations;
pub mod event_id;
pub mod log_line;
pub mod origin_rewrite;
pub mod percent;
pub mod pii;
pub mod query_filter;
pub mod request_facts;
pub mod skip_rules;
pub mod tracking;
pub mod tracking_header;
pub mod upstream;
pub mod visitor;

#[cfg(target_arch = "wasm32")]
pub mod edge;
