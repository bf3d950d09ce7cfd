//! The platforms a tracked page view's events go to ("destinations"): each one maps the
//! neutral event to its own API in a module of its own.

pub mod meta;
