//! Meta's Conversions API: the request body ([`capi_event`]) and the Graph API's answer
//! ([`graph_response`]).

pub mod capi_event;
pub mod graph_response;
