//! The adapter of events from the page itself (`PAGE_EVENTS`, pure half:
//! `crate::page_events`). The JS entry (src/edge/js/page_events.js) matches a page's path
//! against the rules, asks [`page_reader_wanted`] whether the visitor is human (remembering
//! the answer per user agent and bot verdict), reads the page's script texts with
//! HTMLRewriter as it streams, and hands them to [`page_event`] when the page has gone out
//! (remembering, per isolate, the header each distinct page made); the header value it
//! returns goes through `track` like the origin's own, with no response headers to write.

use super::{log, settings};
use crate::bots::skip_rules::{skip_rule_with, SkipFacts};
use crate::log::line::{Decision, RequestLabel};
use crate::page_events::extract::{self, Unreadable};
use crate::page_events::rules::{PageRule, PageRules};
use serde_json::json;
use std::cell::Cell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// `PAGE_EVENTS`'s unusable rules were logged by this isolate.
    static DISABLED_WARNED: Cell<bool> = const { Cell::new(false) };
}

/// The rules, when they are usable; their error is logged once per isolate.
pub fn rules(env: &JsValue) -> Option<&'static PageRules> {
    let config = settings::config(env).ok()?;
    match &config.page_events {
        Ok(rules) => Some(rules),
        Err(err) => {
            if !DISABLED_WARNED.replace(true) {
                log::background(Decision::Disabled, [("feature", json!("page_events")), ("reason", json!(err.to_string()))]);
            }
            None
        }
    }
}

/// The rules as the JS entry matches them: `[{pattern, jsonLd}]`, each pattern a regular
/// expression's source ([`PageRule::path_regex`]), or `null` when there is none.
pub fn js_rules(env: &JsValue) -> JsValue {
    let Some(rules) = rules(env).filter(|r| !r.0.is_empty()) else { return JsValue::NULL };
    let list = js_sys::Array::new();
    for rule in &rules.0 {
        let item = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&item, &JsValue::from_str("pattern"), &JsValue::from_str(&rule.path_regex()));
        let _ = js_sys::Reflect::set(&item, &JsValue::from_str("jsonLd"), &JsValue::from_bool(rule.source.reads_json_ld()));
        list.push(&item);
    }
    list.into()
}

/// The status the skip rules are given for a page about to be read: the JS entry reads only
/// pages answered 2xx.
const READ_PAGE_STATUS: u16 = 200;

/// Whether a page-rule page's request is a human's, by the same rules as events: only then
/// is its page read.
#[wasm_bindgen]
pub fn page_reader_wanted(env: &JsValue, method: &str, user_agent: Option<String>, purpose: Option<String>, verified_bot: Option<bool>, bot_score: Option<f64>) -> bool {
    let Ok(config) = settings::config(env) else { return false };
    let Ok(bots) = settings::bot_matcher() else { return false };
    let facts = SkipFacts { method, user_agent: user_agent.as_deref(), purpose: purpose.as_deref(), verified_bot, bot_score: super::facts::bot_score(bot_score) };
    skip_rule_with(&facts, READ_PAGE_STATUS, config.bot_score_threshold(), |ua| bots.is_bot(ua)).is_none()
}

/// The tracking-header value of the event page rule `rule` reads in `texts` (the page's
/// script texts, `truncated` when reading stopped at its limit) for the page at `url`, or
/// `undefined` when the page does not say it (logged `rejected`, code
/// `page_event_unreadable`; the page itself went out untouched). The JS entry remembers what
/// each distinct page made, so a page read again does not come here.
#[wasm_bindgen]
pub fn page_event(env: &JsValue, rule: u32, url: &str, texts: Vec<String>, truncated: bool) -> Option<String> {
    let rule = rules(env)?.0.get(rule as usize)?;
    match extract::event(rule.source, &rule.event_name, url, &texts, truncated) {
        Ok(event) => Some(event.to_string()),
        Err(why) => {
            unreadable(url, rule, &why);
            None
        }
    }
}

/// Logs why a page-rule page gave no event.
fn unreadable(url: &str, rule: &PageRule, why: &Unreadable) {
    let label = RequestLabel { method: "GET".into(), path: crate::proxy::upstream::path_only(url).to_string(), status: Some(200), ray: None };
    let fields = [
        ("code", json!(Unreadable::CODE)),
        ("rule", json!(format!("{}={}:{}", rule.pattern, rule.event_name, rule.source.code()))),
        ("reason", json!(why.to_string())),
    ];
    log::line(&label, Decision::Rejected, fields);
}
