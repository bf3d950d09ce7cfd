//! What tagrelay says about its decisions: the one JSON log line ([`line`]) that every
//! decision is written as, and the `Tagrelay-Debug` response header ([`debug_report`]).
//!
//! May use: `config::parse`. Used by every part that logs, and the adapter.

pub mod debug_report;
pub mod line;
