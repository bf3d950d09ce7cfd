//! Per-isolate state: the parsed configuration and the bot matcher, each built once, and
//! the cache of decoded tracking headers. Vars and secrets are fixed for an isolate's life
//! (a change deploys a new one).

use crate::bots::{BotMatcher, BotTableError};
use crate::config::parse::{ConfigError, VarValue};
use crate::config::{all_vars, Config};
use crate::event::decode_cache::DecodeCache;
use crate::destinations::Routes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use wasm_bindgen::JsValue;

static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();
static BOTS: OnceLock<Result<BotMatcher, BotTableError>> = OnceLock::new();
static ROUTES: OnceLock<Routes> = OnceLock::new();

thread_local! {
    /// Tracking headers decoded before (a Worker isolate runs one thread).
    static DECODE_CACHE: RefCell<DecodeCache> = RefCell::new(DecodeCache::default());
}

/// The configuration, parsed from `env` on the first request of the isolate.
pub fn config(env: &JsValue) -> Result<&'static Config, &'static ConfigError> {
    CONFIG
        .get_or_init(|| {
            let values: HashMap<&str, VarValue> = all_vars()
                .iter()
                .filter_map(|name| var_value(&super::js::get(env, name)).map(|v| (*name, v)))
                .collect();
            Config::parse(|name| values.get(name).cloned())
        })
        .as_ref()
}

/// The destinations that are on (and those misconfigured), from the configuration.
pub fn routes(config: &'static Config) -> &'static Routes {
    ROUTES.get_or_init(|| config.routes())
}

/// A binding as a variable's value: `None` when it is missing (or `null`).
fn var_value(value: &JsValue) -> Option<VarValue> {
    if value.is_undefined() || value.is_null() {
        None
    } else if let Some(text) = value.as_string() {
        Some(VarValue::Text(text))
    } else if let Some(b) = value.as_bool() {
        Some(VarValue::Bool(b))
    } else if let Some(n) = value.as_f64() {
        Some(VarValue::Number(n))
    } else if js_sys::Array::is_array(value) {
        Some(VarValue::Unsupported("an array"))
    } else {
        Some(VarValue::Unsupported("an object"))
    }
}

/// The crawler matcher, loaded on the first tracked request of the isolate.
pub fn bot_matcher() -> Result<&'static BotMatcher, &'static BotTableError> {
    BOTS.get_or_init(BotMatcher::new).as_ref()
}

/// Runs `f` with the isolate's cache of decoded tracking headers.
pub fn with_decode_cache<T>(f: impl FnOnce(&mut DecodeCache) -> T) -> T {
    DECODE_CACHE.with(|cache| f(&mut cache.borrow_mut()))
}
