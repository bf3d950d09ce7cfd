//! Events from the page itself (issue 31, `PAGE_EVENTS`): for an untracked HTML page whose
//! path a rule names, the event the page already describes, read from its schema.org JSON-LD
//! or its dataLayer as it streams, turned into the same neutral event a tracking header gives.
//! - [`rules`]: the variable, its rules and their path patterns;
//! - [`extract`]: a page's script texts to one header event, or why not.
//!
//! May use: `config::parse`. Used by the configuration and the adapter.

pub mod extract;
pub mod rules;
