//! The event: what the origin's tracking header says, decoded and checked ([`header`]) into
//! neutral events that every destination maps from, decoded once per isolate for a value
//! seen before ([`decode_cache`]); the events' ids ([`id`]); the rule that tells a cache replay
//! ([`cache_replay`]); and the PII normalisation and hashing every platform builds on
//! ([`pii`]).
//!
//! May use: `config::parse` (nothing else of tagrelay's). Used by the visitor, the
//! destinations and the tracking decision.

pub mod cache_replay;
pub mod decode_cache;
pub mod header;
pub mod id;
pub mod pii;
