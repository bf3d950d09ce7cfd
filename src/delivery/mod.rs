//! Getting events to the platforms, the same way for every destination: page views' events
//! collected into batches ([`batching`]) and one retry policy ([`retry`]).

pub mod batching;
pub mod retry;
