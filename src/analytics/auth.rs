//! Who may read the stats: `Authorization: Bearer <STATS_TOKEN>`, or HTTP Basic with the
//! token as the password (any user name), so that a browser asks for it natively. The
//! comparison takes the same time whatever the guess.

use base64::Engine;
use crate::config::parse::same;

/// `WWW-Authenticate` of a 401: makes a browser show its login dialog.
pub const CHALLENGE: &str = "Basic realm=\"tagrelay stats\", charset=\"UTF-8\"";

/// Whether `authorization` (the header's value) carries `token`.
pub fn authorized(authorization: Option<&str>, token: &str) -> bool {
    let Some(header) = authorization.map(str::trim) else { return false };
    let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
    let credentials = credentials.trim();
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else { return false };
        let Ok(text) = String::from_utf8(decoded) else { return false };
        match text.split_once(':') {
            Some((_, password)) => password.to_string(),
            None => return false,
        }
    } else {
        return false;
    };
    same(&presented, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-token-0123456789";

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn bearer_and_basic() {
        assert!(authorized(Some(&format!("Bearer {TOKEN}")), TOKEN));
        assert!(authorized(Some(&format!("bearer   {TOKEN} ")), TOKEN));
        assert!(authorized(Some(&basic(&format!("owner:{TOKEN}"))), TOKEN));
        assert!(authorized(Some(&basic(&format!(":{TOKEN}"))), TOKEN), "any user name");
    }

    #[test]
    fn refusals() {
        assert!(!authorized(None, TOKEN));
        assert!(!authorized(Some(""), TOKEN));
        assert!(!authorized(Some("Bearer"), TOKEN));
        assert!(!authorized(Some("Bearer wrong"), TOKEN));
        assert!(!authorized(Some(&format!("Bearer {TOKEN}x")), TOKEN));
        assert!(!authorized(Some(&format!("Token {TOKEN}")), TOKEN));
        assert!(!authorized(Some(&basic(TOKEN)), TOKEN), "no colon: no password");
        assert!(!authorized(Some(&basic(&format!("{TOKEN}:x"))), TOKEN), "the token as the user name is not enough");
        assert!(!authorized(Some("Basic !!!"), TOKEN));
    }
}
