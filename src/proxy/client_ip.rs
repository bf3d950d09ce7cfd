//! The client IP sent to Meta: taken from `CF-Connecting-IP` only.
//!
//! `X-Forwarded-For` and `X-Real-IP` are never read: a client can set them. Cloudflare sets
//! `CF-Connecting-IP` itself, but it can hold a pseudo IPv4 from 240.0.0.0/4 (Pseudo IPv4
//! feature) which is not the client's address, so that is dropped.

use std::net::IpAddr;

/// The canonical form of a valid, real client address, or `None`.
pub fn client_ip(cf_connecting_ip: Option<&str>) -> Option<String> {
    let ip: IpAddr = cf_connecting_ip?.trim().parse().ok()?;
    let usable = match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && v4.octets()[0] < 240,
        IpAddr::V6(v6) => !v6.is_unspecified(),
    };
    usable.then(|| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn keeps_real_addresses_in_canonical_form() {
        assert_eq!(client_ip(Some("203.0.113.7")).as_deref(), Some("203.0.113.7"));
        assert_eq!(client_ip(Some(" 2001:DB8:0:0::1 ")).as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn drops_invalid_and_pseudo_addresses() {
        for bad in [None, Some(""), Some("1.2.3"), Some("1.2.3.4, 5.6.7.8"), Some("240.0.0.1"), Some("255.255.255.255"), Some("0.0.0.0"), Some("::"), Some("evil")] {
            assert_eq!(client_ip(bad), None, "{bad:?}");
        }
    }
}
