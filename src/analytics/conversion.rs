//! What one event decoded from a tracking header on a human request counts as on the stats
//! page: its name, the id that makes a reload count once (only an id that can repeat: the
//! origin's own, or the one an order fixes), and its revenue (`custom_data.value` in
//! `custom_data.currency`). Counted whatever the visitor's consent: the counts hold nothing
//! personal, like the page views'.

use super::delivery_counts::event_label;
use super::revenue::{self, Amount};
use super::values::clip;
use serde_json::{Map, Value};

/// Longest event id kept to count an event once (an order's derived id is 36 characters).
pub const MAX_ID_LEN: usize = 128;

/// One event as the stats count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The event's name as the stats store it ([`event_label`]).
    pub event_name: String,
    /// The id under which a reload of the same event by the same visitor on the same UTC day
    /// counts once; `None` when the id was minted for this response and cannot repeat.
    pub once_id: Option<String>,
    /// The revenue: the currency (ISO 4217, upper case) and the amount in thousandths, when
    /// the event carries both `value` and `currency`.
    pub revenue: Option<(String, Amount)>,
}

impl Conversion {
    /// The conversion of event `event_name`, whose id `once_id` can repeat (see
    /// [`Conversion::once_id`]), with `custom_data` as the header decoder normalized it.
    pub fn new(event_name: &str, once_id: Option<&str>, custom_data: Option<&Map<String, Value>>) -> Conversion {
        let revenue = custom_data.and_then(|d| {
            let currency = d.get("currency")?.as_str().filter(|c| c.len() == 3)?;
            Some((currency.to_string(), revenue::amount_of(d.get("value")?)?))
        });
        Conversion {
            event_name: event_label(event_name).to_string(),
            once_id: once_id.filter(|id| !id.is_empty()).map(|id| clip(id, MAX_ID_LEN).to_string()),
            revenue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::delivery_counts::{MAX_EVENT_LEN, OTHER_EVENT};
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn revenue_needs_a_value_and_a_currency() {
        let c = Conversion::new("Purchase", Some("o-1"), Some(&data(json!({"value": 59.98, "currency": "EUR"}))));
        assert_eq!(c, Conversion { event_name: "Purchase".into(), once_id: Some("o-1".into()), revenue: Some(("EUR".into(), 59_980)) });
        assert_eq!(Conversion::new("Purchase", None, Some(&data(json!({"value": 5})))).revenue, None, "no currency");
        assert_eq!(Conversion::new("Lead", None, Some(&data(json!({"currency": "EUR"})))).revenue, None, "no value");
        assert_eq!(Conversion::new("Lead", None, None).revenue, None);
    }

    #[test]
    fn names_and_ids_are_bounded() {
        let c = Conversion::new(&"N".repeat(300), Some(&"i".repeat(300)), None);
        assert_eq!((c.event_name.len(), c.once_id.unwrap().len()), (MAX_EVENT_LEN, MAX_ID_LEN));
        assert_eq!(Conversion::new("", Some(""), None).event_name, OTHER_EVENT);
        assert_eq!(Conversion::new("x", Some(""), None).once_id, None);
    }
}
