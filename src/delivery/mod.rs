//! Getting events to the platforms, the same way for every destination: page views' events
//! collected into batches ([`batching`]), one retry policy ([`retry`]), and durable delivery
//! through a Cloudflare Queue ([`queue`]), whose dead letters are kept for replay
//! ([`dead_letters`]).

pub mod batching;
pub mod dead_letters;
pub mod queue;
pub mod retry;
