//! Getting events to the platforms, the same way for every destination: page views' events
//! collected into batches ([`batching`]), one retry policy ([`retry`]), and durable delivery
//! through a Cloudflare Queue ([`queue`]), whose dead letters the stats' D1 keeps for replay
//! (`crate::analytics::dead_letters`).
//!
//! May use: `config::parse`, `log`, `event`, `destinations`. Used by the stats, the tracking
//! decision's adapter and the configuration.

pub mod batching;
pub mod queue;
pub mod retry;
