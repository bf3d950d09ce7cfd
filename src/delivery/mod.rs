//! Getting events to the platforms, the same way for every destination: page views' events
//! collected into batches ([`batching`]), one retry policy ([`retry`]), and durable delivery
//! through a Cloudflare Queue ([`queue`]).

pub mod batching;
pub mod queue;
pub mod retry;
