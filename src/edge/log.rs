//! Writes log lines to the console, where `wrangler tail` and the dashboard read them.

use crate::log::line::{render, render_background, Decision, Line, RequestLabel};
use serde_json::Value;

/// Logs one line; errors go to `console.error` so the dashboard flags them.
pub fn line(label: &RequestLabel, decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) {
    emit(decision, render(label, decision, fields));
}

/// Logs a line about work no request waits for (see [`render_background`]).
pub fn background(decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) {
    emit(decision, render_background(decision, fields));
}

/// Logs a line built with [`Line`].
pub fn write(line: Line) {
    let decision = line.decision();
    emit(decision, line.finish());
}

fn emit(decision: Decision, text: String) {
    if decision.level() == "error" {
        web_sys::console::error_1(&text.into());
    } else {
        web_sys::console::log_1(&text.into());
    }
}
