//! The event ids for the browser pixel (`PIXEL_EVENT_IDS=on`): a shop that keeps Meta's or
//! TikTok's pixel next to tagrelay deduplicates by event id, but a cached page cannot know the
//! id tagrelay chose for this visitor. So the page itself tells the pixel, in a JSON data
//! block the adapter injects as the HTML streams:
//! `<script type="application/json" id="tagrelay-events">[{"event_name":…,"event_id":…}]</script>`.
//! A data block is never executed, so a strict Content-Security-Policy does not block it.

use serde_json::{json, Value};

/// The data block's element id, which the shop's snippet reads.
pub const ELEMENT_ID: &str = "tagrelay-events";

/// An event the browser pixel may send too, with the id the platforms got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelEvent {
    /// The event's name as the origin gave it (what `fbq('track', …)` takes).
    pub event_name: String,
    /// The id sent to the platforms for it.
    pub event_id: String,
}

/// The data block for `events`. Its JSON escapes `<`, `>` and `&` (and U+2028, U+2029), so no
/// event name can close the element or open a comment.
pub fn data_block(events: &[PixelEvent]) -> String {
    let list: Vec<Value> = events.iter().map(|e| json!({"event_name": e.event_name, "event_id": e.event_id})).collect();
    let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(r#"<script type="application/json" id=""#);
    out.push_str(ELEMENT_ID);
    out.push_str(r#"">"#);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push_str("</script>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_block_that_no_name_can_break_out_of() {
        let events = [
            PixelEvent { event_name: "ViewContent".into(), event_id: "e-1".into() },
            PixelEvent { event_name: "</script><script>alert(1)</script>&\u{2028}".into(), event_id: "e-2".into() },
        ];
        let block = data_block(&events);
        assert!(block.starts_with(r#"<script type="application/json" id="tagrelay-events">[{"event_id":"e-1","event_name":"ViewContent"}"#), "{block}");
        assert_eq!(block.matches("</script>").count(), 1, "only its own end tag: {block}");
        let json = block.trim_start_matches(|c| c != '[').trim_end_matches("</script>");
        let back: Value = serde_json::from_str(json).unwrap();
        assert_eq!(back[1]["event_name"], "</script><script>alert(1)</script>&\u{2028}", "the JSON still reads back exactly");
    }
}
