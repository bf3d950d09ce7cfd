//! First-party page-view analytics, counted at the edge with no script, no cookie and no
//! stored IP (issue 13). This is the pure half, growing: what one page view is counted as.
//! - [`device`]: mobile, tablet or desktop, from the User-Agent;
//! - [`source`]: where the visit came from (`utm_source`, else the referring host) and its
//!   `utm_medium` / `utm_campaign`;
//! - [`page_path`]: the path a page view is counted under;
//! - [`visitor_hash`]: cookieless unique visitors, from a daily salt;
//! - [`reload_filter`]: a quick reload counts once;
//! - [`csv`]: RFC 4180 fields for the export.

pub mod aggregate;
pub mod csv;
pub mod device;
pub mod flusher;
pub mod page_path;
pub mod page_view;
pub mod reload_filter;
pub mod settings;
pub mod source;
pub mod sql;
pub mod visitor_hash;
