//! `_tr_ud`: a visitor's match keys, kept for their later events (`USER_DATA_COOKIE=on`,
//! off by default). When a fresh tracked response's event carries `user_data` and the visitor
//! has agreed to marketing, the SHA-256 hashes tagrelay computed for Meta (and the two forms
//! Google and TikTok hash otherwise: [`GOOGLE_EMAIL`], [`E164_PHONE`]) are kept in this
//! cookie, signed with HMAC-SHA-256 under `USER_DATA_COOKIE_SECRET`, `HttpOnly`. A later
//! event from that browser whose header has no `user_data` (a cached product page, say)
//! carries them, so the platforms can match it to the person.
//!
//! Only hashes are stored, never a raw value. A cookie whose signature or shape is wrong is
//! ignored (never logged), an explicit denial of marketing expires it, a cache replay never
//! sets it, and bots never get it.

use crate::config::parse::{parse_flag, parse_secret, ConfigError, Get};
use crate::event::pii::{e164_phone, google_email, hash_with, is_sha256_hex, normalize_and_hash};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::fmt;

/// The cookie's name.
pub const COOKIE: &str = "_tr_ud";
/// Variable: `on` keeps match keys in [`COOKIE`]; `off` (the default) never does.
pub const VAR_USER_DATA_COOKIE: &str = "USER_DATA_COOKIE";
/// Secret: the HMAC key that signs the cookie; required when it is on.
pub const VAR_SECRET: &str = "USER_DATA_COOKIE_SECRET";
/// Variable: how many days the cookie lasts.
pub const VAR_DAYS: &str = "USER_DATA_COOKIE_DAYS";
/// Every variable of this feature.
pub const VARS: [&str; 3] = [VAR_USER_DATA_COOKIE, VAR_SECRET, VAR_DAYS];
/// Days the cookie lasts by default.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest a browser keeps a cookie (Chrome caps `Max-Age` at 400 days).
const MAX_DAYS: u32 = 400;
/// The shortest secret accepted, in bytes: 256 bits, as long as the HMAC's own output.
const MIN_SECRET_BYTES: usize = 32;
/// Seconds in a day.
const DAY_SECONDS: u32 = 86_400;
/// The longest cookie value read: every key hashed fits in well under half of it.
const MAX_VALUE_LEN: usize = 3072;
/// Meta's keys, as the header names them (the hashes are Meta's).
pub const META_KEYS: [&str; 11] = crate::event::header::USER_DATA_KEYS;
/// The e-mail hashed by Google's rule (GA4), kept only when it differs from Meta's.
pub const GOOGLE_EMAIL: &str = "g_em";
/// The phone hashed in E.164 (`+` and digits: GA4 and TikTok); Meta's has no `+`.
pub const E164_PHONE: &str = "e164_ph";

/// `USER_DATA_COOKIE`, its secret and its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct UserDataCookieSettings {
    secret: Vec<u8>,
    /// `Max-Age` of the cookie, from `USER_DATA_COOKIE_DAYS`.
    pub max_age_seconds: u32,
}

impl fmt::Debug for UserDataCookieSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDataCookieSettings").field("max_age_seconds", &self.max_age_seconds).finish_non_exhaustive()
    }
}

impl UserDataCookieSettings {
    /// The settings; `None` when the feature is off (the default).
    pub fn parse(get: Get<'_>) -> Result<Option<UserDataCookieSettings>, ConfigError> {
        if !parse_flag(get, VAR_USER_DATA_COOKIE, false, "on or off")? {
            return Ok(None);
        }
        const EXPECTED: &str = "a random secret of at least 32 characters, such as the output of `openssl rand -hex 32`";
        let secret = parse_secret(get, VAR_SECRET, EXPECTED)?.ok_or(ConfigError::Missing { var: VAR_SECRET, needed_by: "USER_DATA_COOKIE=on", expected: EXPECTED })?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::invalid(VAR_SECRET, EXPECTED, "<hidden>"));
        }
        let days = match get(VAR_DAYS)? {
            None => DEFAULT_DAYS,
            Some(v) => v.parse::<u32>().ok().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(|| ConfigError::invalid(VAR_DAYS, "a number of days from 1 to 400", &v))?,
        };
        Ok(Some(UserDataCookieSettings { secret: secret.into_bytes(), max_age_seconds: days * DAY_SECONDS }))
    }

    /// A fingerprint of the secret (not the secret), to key what was verified under it.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.secret.hash(&mut h);
        h.finish()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // An HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length")
    }
}

/// A visitor's kept match keys: (key, SHA-256 hex), one per key, keys from [`META_KEYS`],
/// [`GOOGLE_EMAIL`] and [`E164_PHONE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptKeys(Vec<(String, String)>);

impl KeptKeys {
    /// The keys of an event's raw `user_data` (the header's: key, values), hashed: the first
    /// value of each key that normalizes. Values the origin sent already hashed are kept for
    /// Meta only (their Google and E.164 forms cannot be known).
    pub fn from_user_data(user_data: &[(String, Vec<String>)]) -> KeptKeys {
        let mut kept = KeptKeys::default();
        for key in META_KEYS {
            let Some((_, values)) = user_data.iter().find(|(k, _)| k == key) else { continue };
            let Some((raw, hash)) = values.iter().find_map(|v| normalize_and_hash(key, v).map(|h| (v, h))) else { continue };
            let raw_value = !is_sha256_hex(raw.trim());
            match key {
                "em" if raw_value => {
                    if let Some(google) = hash_with(raw, google_email).filter(|g| *g != hash) {
                        kept.0.push((GOOGLE_EMAIL.into(), google));
                    }
                }
                "ph" if raw_value => {
                    if let Some(e164) = hash_with(raw, e164_phone) {
                        kept.0.push((E164_PHONE.into(), e164));
                    }
                }
                _ => {}
            }
            kept.0.push((key.into(), hash));
        }
        kept
    }

    /// The hash kept under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, h)| h.as_str())
    }

    /// Meta's keys, as (key, hash).
    pub fn meta(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter(|(k, _)| META_KEYS.contains(&k.as_str())).map(|(k, h)| (k.as_str(), h.as_str()))
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a `_tr_ud` cookie was not used (its value is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Not `<payload>.<signature>` in base64url, or too long.
    Malformed,
    /// The signature does not match (tampered, or signed under another secret).
    BadSignature,
    /// Signed, but not an object of known keys and SHA-256 hashes.
    BadContent,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::Malformed => "the _tr_ud cookie is malformed; it is ignored",
            Unusable::BadSignature => "the _tr_ud cookie's signature does not match (tampered with, or USER_DATA_COOKIE_SECRET changed); it is ignored",
            Unusable::BadContent => "the _tr_ud cookie holds no usable match keys; it is ignored",
        })
    }
}

/// The cookie's value for `keys`: `<base64url JSON>.<base64url HMAC-SHA-256 of the first part>`.
pub fn encode(keys: &KeptKeys, settings: &UserDataCookieSettings) -> String {
    let object: Map<String, Value> = keys.0.iter().map(|(k, h)| (k.clone(), Value::String(h.clone()))).collect();
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(object).to_string());
    let mut mac = settings.mac();
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// The keys of a cookie `value`, when its signature is `settings`' and its content usable.
pub fn decode(value: &str, settings: &UserDataCookieSettings) -> Result<KeptKeys, Unusable> {
    // A returning buyer's pages carry the same cookie: once its signature checked out under
    // this secret, the isolate remembers its keys (errors are never remembered).
    let key = (settings.fingerprint(), value.to_string());
    if let Some(kept) = VERIFIED.with_borrow(|v| v.get(&key).cloned()) {
        return Ok(kept);
    }
    let kept = decode_uncached(value, settings)?;
    VERIFIED.with_borrow_mut(|v| {
        if v.len() >= VERIFIED_ENTRIES {
            v.clear();
        }
        v.insert(key, kept.clone());
    });
    Ok(kept)
}

/// Cookie values an isolate remembers as verified; past it, the memory starts afresh.
const VERIFIED_ENTRIES: usize = 256;

thread_local! {
    /// Verified cookie values, by the secret's fingerprint and the value.
    static VERIFIED: std::cell::RefCell<std::collections::HashMap<(u64, String), KeptKeys>> = std::cell::RefCell::new(std::collections::HashMap::new());
}

/// [`decode`] without the isolate's memory of verified values.
fn decode_uncached(value: &str, settings: &UserDataCookieSettings) -> Result<KeptKeys, Unusable> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Unusable::Malformed);
    }
    let (payload, signature) = value.split_once('.').ok_or(Unusable::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Unusable::Malformed)?;
    let mut mac = settings.mac();
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| Unusable::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Unusable::BadContent)?;
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&json) else { return Err(Unusable::BadContent) };
    let known = |k: &str| META_KEYS.contains(&k) || k == GOOGLE_EMAIL || k == E164_PHONE;
    let mut kept = KeptKeys::default();
    for (key, hash) in object {
        match hash {
            Value::String(h) if known(&key) && is_sha256_hex(&h) => kept.0.push((key, h.to_ascii_lowercase())),
            _ => return Err(Unusable::BadContent),
        }
    }
    if kept.is_empty() {
        return Err(Unusable::BadContent);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::pii::sha256_hex;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn settings() -> UserDataCookieSettings {
        let vars = [("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", SECRET)];
        UserDataCookieSettings::parse(&|n| Ok(vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))).unwrap().unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
        pairs.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect()
    }

    #[test]
    fn off_by_default_and_the_secret_is_required() {
        let parse = |vars: &[(&str, &str)]| UserDataCookieSettings::parse(&|n| Ok(vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())));
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&[("USER_DATA_COOKIE", "off")]).unwrap(), None);
        let missing = parse(&[("USER_DATA_COOKIE", "on")]).unwrap_err();
        assert_eq!(missing.var(), "USER_DATA_COOKIE_SECRET");
        let short = parse(&[("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", "short-secret")]).unwrap_err().to_string();
        assert!(short.contains("USER_DATA_COOKIE_SECRET") && !short.contains("short-secret"), "{short}");
        assert_eq!(settings().max_age_seconds, 30 * 86_400);
        let days = parse(&[("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", SECRET), ("USER_DATA_COOKIE_DAYS", "7")]).unwrap().unwrap();
        assert_eq!(days.max_age_seconds, 7 * 86_400);
        assert_eq!(parse(&[("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", SECRET), ("USER_DATA_COOKIE_DAYS", "0")]).unwrap_err().var(), "USER_DATA_COOKIE_DAYS");
        assert!(!format!("{:?}", settings()).contains(SECRET));
    }

    #[test]
    fn meta_hashes_and_the_other_platforms_forms_are_kept() {
        let keys = KeptKeys::from_user_data(&raw(&[("em", " John.Doe@Gmail.com "), ("ph", "+39 333 123 4567"), ("fn", "Ann"), ("zz", "ignored")]));
        assert_eq!(keys.get("em"), Some(sha256_hex("john.doe@gmail.com").as_str()));
        assert_eq!(keys.get(GOOGLE_EMAIL), Some(sha256_hex("johndoe@gmail.com").as_str()));
        assert_eq!(keys.get("ph"), Some(sha256_hex("393331234567").as_str()));
        assert_eq!(keys.get(E164_PHONE), Some(sha256_hex("+393331234567").as_str()));
        assert_eq!(keys.get("fn"), Some(sha256_hex("ann").as_str()));
        assert_eq!(keys.len(), 5);
        let plain = KeptKeys::from_user_data(&raw(&[("em", "ann@example.com")]));
        assert_eq!(plain.get(GOOGLE_EMAIL), None, "the same hash for Google: kept once");
        let hashed = KeptKeys::from_user_data(&raw(&[("ph", &sha256_hex("393331234567"))]));
        assert_eq!((hashed.get("ph").is_some(), hashed.get(E164_PHONE)), (true, None), "a pre-hashed phone has no E.164 form");
    }

    #[test]
    fn signed_round_trip_and_every_tampering_refused() {
        let s = settings();
        let keys = KeptKeys::from_user_data(&raw(&[("em", "ann@example.com"), ("external_id", "u-1")]));
        let value = encode(&keys, &s);
        assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'), "a cookie-safe value: {value}");
        assert_eq!(decode(&value, &s), Ok(keys.clone()));
        let (payload, signature) = value.split_once('.').unwrap();
        let other = KeptKeys::from_user_data(&raw(&[("em", "eve@example.com")]));
        let forged = format!("{}.{signature}", encode(&other, &s).split_once('.').unwrap().0);
        assert_eq!(decode(&forged, &s), Err(Unusable::BadSignature));
        let mut flipped = signature.to_string();
        flipped.replace_range(0..1, if flipped.starts_with('A') { "B" } else { "A" });
        assert_eq!(decode(&format!("{payload}.{flipped}"), &s), Err(Unusable::BadSignature));
        let vars = [("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", "another-secret-of-at-least-32-bytes!!")];
        let rotated = UserDataCookieSettings::parse(&|n| Ok(vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))).unwrap().unwrap();
        assert_eq!(decode(&value, &rotated), Err(Unusable::BadSignature));
        for bad in ["", "nodot", "a.b.c", "!!.!!", &"x".repeat(4000)] {
            assert!(decode(bad, &s).is_err(), "{bad:.20}");
        }
        // Signed, but not what tagrelay writes.
        let mut mac = s.mac();
        let odd = URL_SAFE_NO_PAD.encode(r#"{"em":"not-a-hash"}"#);
        mac.update(odd.as_bytes());
        let signed_odd = format!("{odd}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(decode(&signed_odd, &s), Err(Unusable::BadContent));
    }
}
