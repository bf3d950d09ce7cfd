//! What tagrelay knows about the visitor behind one request, from the request alone:
//! their consent ([`consent`]) and Meta's first-party browser ids ([`first_party`], with the
//! cookie domain from [`registrable_domain`]).

pub mod consent;
pub mod first_party;
pub mod registrable_domain;
