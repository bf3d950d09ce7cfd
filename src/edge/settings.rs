//! Per-isolate state: the parsed configuration and the bot matcher, each built once.
//! Vars and secrets are fixed for an isolate's life (a change deploys a new one).

use crate::bots::{BotMatcher, BotTableError};
use crate::config::{Config, ConfigError, ALL_VARS};
use std::collections::HashMap;
use std::sync::OnceLock;
use wasm_bindgen::JsValue;

static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();
static BOTS: OnceLock<Result<BotMatcher, BotTableError>> = OnceLock::new();

/// The configuration, parsed from `env` on the first request of the isolate.
pub fn config(env: &JsValue) -> Result<&'static Config, &'static ConfigError> {
    CONFIG
        .get_or_init(|| {
            let values: HashMap<&str, String> = ALL_VARS
                .iter()
                .filter_map(|name| super::js::get(env, name).as_string().map(|v| (*name, v)))
                .collect();
            Config::parse(|name| values.get(name).cloned())
        })
        .as_ref()
}

/// The crawler matcher, loaded on the first tracked request of the isolate.
pub fn bot_matcher() -> Result<&'static BotMatcher, &'static BotTableError> {
    BOTS.get_or_init(BotMatcher::new).as_ref()
}
