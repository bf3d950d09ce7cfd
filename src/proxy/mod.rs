//! The proxy's pure half: the upstream request ([`upstream`]: URL, headers to drop and to
//! protect), the origin ([`origin`]), what a reverse proxy rewrites in the origin's headers
//! ([`origin_rewrite`]), `STRIP_QUERY_PARAMS` ([`query_filter`]), the client's IP
//! ([`client_ip`]), cookies ([`cookies`]), percent-decoding ([`percent`]), the facts of a
//! request and its response ([`request_facts`]), and a response that must not be shared
//! ([`cache_control`]).
//!
//! May use: `config::parse`. Used by every part above it.

pub mod cache_control;
pub mod client_ip;
pub mod cookies;
pub mod origin;
pub mod origin_rewrite;
pub mod percent;
pub mod query_filter;
pub mod request_facts;
pub mod upstream;
