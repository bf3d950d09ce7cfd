//! What a page says about itself, as the neutral event a tracking header would carry:
//! schema.org `Product` / `ProductGroup` and `Order` in JSON-LD, and a GA4 `purchase` pushed
//! to the dataLayer as strict JSON. Nothing is guessed: a page that does not say it plainly
//! gives no event, and the reason.

use super::rules::PageSource;
use serde_json::{json, Map, Value};
use std::fmt;

/// Most bytes of script text read per page (JSON-LD, or inline scripts for the dataLayer).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The text that starts a dataLayer push.
pub const DATALAYER_PUSH: &str = "dataLayer.push(";

/// Why a page gave no event (logged `rejected`, code [`Unreadable::CODE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// No `<script type="application/ld+json">` (or no inline `dataLayer.push(`) in the page.
    NoScript(PageSource),
    /// The page's scripts held none of what the rule reads; the JSON-LD that did not parse,
    /// if any, says why.
    NotFound(PageSource, Option<String>),
    /// The page's scripts passed [`MAX_TEXT_BYTES`] before the rule found its data.
    TooLarge(PageSource),
}

impl Unreadable {
    /// The `code` of the `rejected` line.
    pub const CODE: &'static str = "page_event_unreadable";
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = |s: &PageSource| match s {
            PageSource::JsonLdProduct => "a schema.org Product (or ProductGroup with a variant) in JSON-LD",
            PageSource::JsonLdOrder => "a schema.org Order in JSON-LD",
            PageSource::DataLayerPurchase => "a strict-JSON dataLayer.push with \"event\":\"purchase\" and an ecommerce object",
        };
        match self {
            Unreadable::NoScript(s) if s.reads_json_ld() => write!(f, "{}: the page has no <script type=\"application/ld+json\">; it needs {}", s.code(), what(s)),
            Unreadable::NoScript(s) => write!(f, "{}: no inline script holds dataLayer.push(; the page needs {}", s.code(), what(s)),
            Unreadable::NotFound(s, Some(bad)) => write!(f, "{}: no {} found; a JSON-LD script does not parse: {bad}", s.code(), what(s)),
            Unreadable::NotFound(s, None) => write!(f, "{}: the page's scripts hold no {}", s.code(), what(s)),
            Unreadable::TooLarge(s) => write!(f, "{}: the page's scripts pass {} KB before {}; nothing is read past that", s.code(), MAX_TEXT_BYTES / 1024, what(s)),
        }
    }
}

/// The event `event_name` that `texts` (the page's script texts, in order, as the rule's
/// source reads them; `truncated` when reading stopped at [`MAX_TEXT_BYTES`]) declare, as
/// one tracking-header event (`{"event_name", "custom_data"}`).
pub fn event(source: PageSource, event_name: &str, page_url: &str, texts: &[String], truncated: bool) -> Result<Value, Unreadable> {
    if texts.is_empty() {
        return Err(if truncated { Unreadable::TooLarge(source) } else { Unreadable::NoScript(source) });
    }
    let found = match source {
        PageSource::JsonLdProduct | PageSource::JsonLdOrder => json_ld(source, page_url, texts),
        PageSource::DataLayerPurchase => Ok(texts.iter().find_map(|t| datalayer_purchase(t))),
    };
    match found {
        Ok(Some(custom_data)) => Ok(json!({"event_name": event_name, "custom_data": custom_data})),
        Ok(None) if truncated => Err(Unreadable::TooLarge(source)),
        Ok(None) => Err(Unreadable::NotFound(source, None)),
        Err(_) if truncated => Err(Unreadable::TooLarge(source)),
        Err(bad) => Err(Unreadable::NotFound(source, Some(bad))),
    }
}

/// The first Product or Order in `texts`; `Err` with the first parse error when none is
/// found and a script did not parse.
fn json_ld(source: PageSource, page_url: &str, texts: &[String]) -> Result<Option<Value>, String> {
    let mut bad = None;
    for text in texts {
        let value: Value = match parse_json_ld(text) {
            Ok(v) => v,
            Err(e) => {
                bad.get_or_insert_with(|| e.to_string());
                continue;
            }
        };
        let mut nodes = Vec::new();
        flatten(&value, &mut nodes);
        let found = nodes.into_iter().find_map(|node| match source {
            PageSource::JsonLdOrder if is_type(node, "Order") => Some(order(node)),
            PageSource::JsonLdProduct if is_type(node, "Product") => Some(product(node, None)),
            PageSource::JsonLdProduct if is_type(node, "ProductGroup") => variant(node, page_url).map(|v| product(v, Some(node))),
            _ => None,
        });
        if found.is_some() {
            return Ok(found);
        }
    }
    bad.map_or(Ok(None), Err)
}

/// A JSON-LD text as JSON. Templates that print a value with a line break inside a string
/// (PrestaShop's classic theme does, for a combination's name) write text JSON refuses but
/// every browser and search engine reads: a control character is then read as the space it
/// stands for (outside strings it is whitespace anyway), and nothing else is forgiven.
fn parse_json_ld(text: &str) -> Result<Value, serde_json::Error> {
    let text = text.trim();
    match serde_json::from_str(text) {
        Err(e) if text.bytes().any(|b| b < 0x20) => serde_json::from_str(&text.replace(|c: char| c < ' ', " ")).map_err(|_| e),
        other => other,
    }
}

/// The nodes of a JSON-LD value: an object, the members of an array or of `@graph`, in order.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Object(map) => {
            out.push(value);
            if let Some(graph) = map.get("@graph") {
                flatten(graph, out);
            }
        }
        _ => {}
    }
}

/// Whether `node`'s `@type` (a name, a URL or a list of them) is `name`.
fn is_type(node: &Value, name: &str) -> bool {
    let one = |t: &Value| t.as_str().is_some_and(|t| t.rsplit(['/', ':', '#']).next() == Some(name));
    match node.get("@type") {
        Some(Value::Array(types)) => types.iter().any(one),
        Some(t) => one(t),
        None => false,
    }
}

/// A text or number field as text (`sku` may be either), trimmed; `None` when empty.
fn text_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// A price: a JSON number, or a text holding a plain decimal (`"12.50"`), as a JSON number.
fn price_of(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Number(n) => Some(Value::Number(n.clone())),
        Value::String(s) => {
            let s = s.trim();
            let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.bytes().filter(|b| *b == b'.').count() <= 1;
            plain.then(|| s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)).flatten()
        }
        _ => None,
    }
}

/// A count as JSON: a whole number when it is one (`3`, not `3.0`).
fn count(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 { json!(n as i64) } else { json!(n) }
}

/// The members of a list, or the value itself (schema.org allows either for most fields).
fn members(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    }
}

/// The first member of a list, or the value itself.
fn first(v: Option<&Value>) -> Option<&Value> {
    match v? {
        Value::Array(items) => items.first(),
        other => Some(other),
    }
}

/// The price and currency an offer states: its `price` (else `lowPrice`) and `priceCurrency`,
/// else its `priceSpecification`'s current price (the first without a `priceType`, which
/// marks a list or strike-through price, else the first).
fn offer_price(offer: &Value) -> (Option<Value>, Option<String>) {
    let price = price_of(offer.get("price")).or_else(|| price_of(offer.get("lowPrice")));
    let currency = text_of(offer.get("priceCurrency"));
    if price.is_some() {
        return (price, currency);
    }
    let specs = members(offer.get("priceSpecification"));
    let current = specs.iter().find(|s| s.get("priceType").is_none()).or(specs.first());
    match current {
        Some(spec) => (price_of(spec.get("price")), text_of(spec.get("priceCurrency")).or(currency)),
        None => (None, currency),
    }
}

/// A product's id for the platforms: `sku`, else `productID`, else `@id`.
fn product_id(node: &Value) -> Option<String> {
    text_of(node.get("sku")).or_else(|| text_of(node.get("productID"))).or_else(|| text_of(node.get("@id")))
}

/// The variant of a `ProductGroup` the page shows: the one whose offer's URL or `@id` names
/// the page URL's `variant` parameter (Shopify's), else the first.
fn variant<'a>(group: &'a Value, page_url: &str) -> Option<&'a Value> {
    let variants: Vec<&Value> = members(group.get("hasVariant")).into_iter().filter(|v| v.is_object()).collect();
    let wanted = page_url.split_once('?').and_then(|(_, q)| q.split('&').find_map(|p| p.strip_prefix("variant=")));
    let names = |v: &Value, id: &str| {
        let offer = first(v.get("offers"));
        [offer.and_then(|o| o.get("url")), offer.and_then(|o| o.get("@id")), v.get("@id"), v.get("url")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|u| u.contains(&format!("variant={id}")))
    };
    wanted.and_then(|id| variants.iter().copied().find(|v| names(v, id))).or(variants.first().copied())
}

/// A Product's (or a variant's, with its `group`) `custom_data`.
fn product(node: &Value, group: Option<&Value>) -> Value {
    let mut data = Map::new();
    let id = product_id(node).or_else(|| group.and_then(|g| text_of(g.get("productGroupID")).or_else(|| product_id(g))));
    let name = text_of(node.get("name")).or_else(|| group.and_then(|g| text_of(g.get("name"))));
    let offer = first(node.get("offers")).or_else(|| group.and_then(|g| first(g.get("offers"))));
    let (price, currency) = offer.map(offer_price).unwrap_or((None, None));
    data.insert("content_type".into(), json!("product"));
    if let Some(name) = name {
        data.insert("content_name".into(), json!(name));
    }
    if let Some(id) = &id {
        data.insert("content_ids".into(), json!([id]));
        let mut item = json!({"id": id, "quantity": 1});
        if let Some(p) = &price {
            item["item_price"] = p.clone();
        }
        data.insert("contents".into(), json!([item]));
    }
    if let (Some(price), Some(currency)) = (price, currency) {
        data.insert("value".into(), price);
        data.insert("currency".into(), json!(currency));
    }
    Value::Object(data)
}

/// An Order's `custom_data`: `order_id` from `orderNumber`, the value from `price` (else the
/// sum of `acceptedOffer` prices times quantities), the items as `contents`.
fn order(node: &Value) -> Value {
    let mut data = Map::new();
    if let Some(number) = text_of(node.get("orderNumber")) {
        data.insert("order_id".into(), json!(number));
    }
    let offers = members(node.get("acceptedOffer"));
    let mut contents = Vec::new();
    let mut sum = 0.0;
    let mut summable = !offers.is_empty();
    let mut currency = text_of(node.get("priceCurrency"));
    for offer in &offers {
        let item = offer.get("itemOffered");
        let quantity = offer.get("eligibleQuantity").and_then(|q| price_of(q.get("value"))).and_then(|q| q.as_f64()).unwrap_or(1.0);
        let (price, offer_currency) = offer_price(offer);
        currency = currency.or(offer_currency);
        match price.as_ref().and_then(Value::as_f64) {
            Some(p) => sum += p * quantity,
            None => summable = false,
        }
        if let Some(id) = item.and_then(product_id) {
            let mut c = json!({"id": id, "quantity": count(quantity)});
            if let Some(p) = price {
                c["item_price"] = p;
            }
            contents.push(c);
        }
    }
    let value = price_of(node.get("price")).or_else(|| (summable).then(|| serde_json::Number::from_f64((sum * 100.0).round() / 100.0).map(Value::Number)).flatten());
    if let (Some(value), Some(currency)) = (value, currency) {
        data.insert("value".into(), value);
        data.insert("currency".into(), json!(currency));
    }
    insert_contents(&mut data, contents);
    Value::Object(data)
}

/// The `custom_data` of the first strict-JSON `dataLayer.push({...})` in `script` whose
/// object has `"event":"purchase"` and an `ecommerce` object in GA4's shape. A push written
/// as a JavaScript literal (unquoted keys, comments) is not JSON and is skipped.
pub fn datalayer_purchase(script: &str) -> Option<Value> {
    let mut rest = script;
    while let Some(at) = rest.find(DATALAYER_PUSH) {
        rest = &rest[at + DATALAYER_PUSH.len()..];
        let candidate = rest.trim_start();
        if !candidate.starts_with('{') {
            continue;
        }
        let Some(Ok(Value::Object(push))) = serde_json::Deserializer::from_str(candidate).into_iter::<Value>().next() else { continue };
        if push.get("event").and_then(Value::as_str) != Some("purchase") {
            continue;
        }
        let Some(Value::Object(ecommerce)) = push.get("ecommerce") else { continue };
        return Some(ga4_purchase(ecommerce));
    }
    None
}

/// A GA4 `ecommerce` object (`transaction_id`, `value`, `currency`, `items`) as `custom_data`.
fn ga4_purchase(ecommerce: &Map<String, Value>) -> Value {
    let mut data = Map::new();
    if let Some(id) = text_of(ecommerce.get("transaction_id")) {
        data.insert("order_id".into(), json!(id));
    }
    if let (Some(value), Some(currency)) = (price_of(ecommerce.get("value")), text_of(ecommerce.get("currency"))) {
        data.insert("value".into(), value);
        data.insert("currency".into(), json!(currency));
    }
    let items = ecommerce.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let contents: Vec<Value> = items
        .iter()
        .filter_map(|item| {
            let id = text_of(item.get("item_id"))?;
            let mut c = json!({"id": id, "quantity": count(item.get("quantity").and_then(Value::as_f64).unwrap_or(1.0))});
            if let Some(p) = price_of(item.get("price")) {
                c["item_price"] = p;
            }
            Some(c)
        })
        .collect();
    if !contents.is_empty() {
        data.insert("num_items".into(), count(contents.iter().filter_map(|c| c["quantity"].as_f64()).sum::<f64>()));
    }
    insert_contents(&mut data, contents);
    Value::Object(data)
}

/// An order's items (`{"id","quantity","item_price"}`) as `contents`, with their
/// `content_ids` and `content_type: product`; nothing when there is none.
fn insert_contents(data: &mut Map<String, Value>, contents: Vec<Value>) {
    if contents.is_empty() {
        return;
    }
    data.insert("content_ids".into(), Value::Array(contents.iter().map(|c| c["id"].clone()).collect()));
    data.insert("content_type".into(), json!("product"));
    data.insert("contents".into(), Value::Array(contents));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: PageSource, url: &str, texts: &[&str]) -> Result<Value, Unreadable> {
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        event(source, "ViewContent", url, &texts, false).map(|e| e["custom_data"].clone())
    }

    #[test]
    fn a_product_with_offers_gives_ids_name_value_and_currency() {
        let got = one(
            PageSource::JsonLdProduct,
            "https://s.example/p",
            &[r#"{"@context":"https://schema.org","@type":"Organization","name":"Shop"}"#, r#"{"@context":"https://schema.org/","@type":"Product","name":"Pecorino","sku":"PEC-1","offers":{"@type":"Offer","price":"12.50","priceCurrency":"EUR"}}"#],
        )
        .unwrap();
        assert_eq!(got, json!({"content_type": "product", "content_name": "Pecorino", "content_ids": ["PEC-1"], "contents": [{"id": "PEC-1", "quantity": 1, "item_price": 12.5}], "value": 12.5, "currency": "EUR"}));
    }

    #[test]
    fn googles_product_snippet_example() {
        // Google Search Central's Product snippet example (the Executive Anvil).
        let anvil = r#"{"@context":"https://schema.org/","@type":"Product","name":"Executive Anvil",
            "image":["https://example.com/photos/1x1/photo.jpg","https://example.com/photos/4x3/photo.jpg","https://example.com/photos/16x9/photo.jpg"],
            "description":"Sleeker than ACME's Classic Anvil, the Executive Anvil is perfect for the business traveler looking for something to drop from a height.",
            "sku":"0446310786","mpn":"925872","brand":{"@type":"Brand","name":"ACME"},
            "review":{"@type":"Review","reviewRating":{"@type":"Rating","ratingValue":4,"bestRating":5},"author":{"@type":"Person","name":"Fred Benson"}},
            "aggregateRating":{"@type":"AggregateRating","ratingValue":4.4,"reviewCount":89},
            "offers":{"@type":"Offer","url":"https://example.com/anvil","priceCurrency":"USD","price":119.99,"priceValidUntil":"2020-11-20",
              "itemCondition":"https://schema.org/UsedCondition","availability":"https://schema.org/InStock"}}"#;
        let got = one(PageSource::JsonLdProduct, "https://example.com/anvil", &[anvil]).unwrap();
        assert_eq!((got["content_ids"].clone(), got["content_name"].clone(), got["value"].clone(), got["currency"].clone()), (json!(["0446310786"]), json!("Executive Anvil"), json!(119.99), json!("USD")));
    }

    #[test]
    fn ids_fall_back_from_sku_to_product_id_to_at_id_and_types_may_be_urls_or_lists() {
        let id = |node: &str| one(PageSource::JsonLdProduct, "", &[node]).unwrap()["content_ids"][0].clone();
        assert_eq!(id(r#"{"@type":"Product","sku":1234,"productID":"x"}"#), json!("1234"));
        assert_eq!(id(r#"{"@type":"http://schema.org/Product","productID":"isbn:123"}"#), json!("isbn:123"));
        assert_eq!(id(r#"{"@type":["Product","Book"],"@id":"/p#product"}"#), json!("/p#product"));
    }

    #[test]
    fn a_price_specification_gives_the_current_price_not_the_list_price() {
        let node = r#"{"@type":"Product","sku":"S","offers":[{"@type":"Offer","priceSpecification":[{"@type":"UnitPriceSpecification","price":"11.50","priceCurrency":"EUR"},{"@type":"UnitPriceSpecification","price":"12.50","priceCurrency":"EUR","priceType":"https://schema.org/ListPrice"}]}]}"#;
        let got = one(PageSource::JsonLdProduct, "", &[node]).unwrap();
        assert_eq!((got["value"].clone(), got["currency"].clone()), (json!(11.5), json!("EUR")));
        let aggregate = r#"{"@type":"Product","sku":"S","offers":{"@type":"AggregateOffer","lowPrice":"9.00","highPrice":"19.00","priceCurrency":"EUR"}}"#;
        assert_eq!(one(PageSource::JsonLdProduct, "", &[aggregate]).unwrap()["value"], json!(9.0));
    }

    #[test]
    fn a_product_group_gives_the_variant_the_url_names_else_the_first() {
        let group = r#"{"@type":"ProductGroup","name":"Tee","productGroupID":"G1","hasVariant":[
            {"@type":"Product","sku":"TEE-S","name":"Tee - S","offers":{"@type":"Offer","price":"10.00","priceCurrency":"USD","url":"https://s.example/products/tee?variant=11"}},
            {"@type":"Product","sku":"TEE-M","name":"Tee - M","offers":{"@type":"Offer","price":"12.00","priceCurrency":"USD","url":"https://s.example/products/tee?variant=22"}}]}"#;
        let first = one(PageSource::JsonLdProduct, "https://s.example/products/tee", &[group]).unwrap();
        assert_eq!((first["content_ids"][0].clone(), first["value"].clone()), (json!("TEE-S"), json!(10.0)));
        let m = one(PageSource::JsonLdProduct, "https://s.example/products/tee?variant=22", &[group]).unwrap();
        assert_eq!((m["content_ids"][0].clone(), m["content_name"].clone()), (json!("TEE-M"), json!("Tee - M")));
        let no_variant = r#"{"@type":"ProductGroup","name":"Tee"}"#;
        assert!(matches!(one(PageSource::JsonLdProduct, "", &[no_variant]), Err(Unreadable::NotFound(..))));
    }

    #[test]
    fn the_first_product_wins_in_a_graph_and_a_missing_price_gives_no_value() {
        let graph = r#"{"@context":"https://schema.org/","@graph":[{"@type":"BreadcrumbList"},{"@type":"Product","sku":"A"},{"@type":"Product","sku":"B","offers":{"price":1,"priceCurrency":"EUR"}}]}"#;
        let got = one(PageSource::JsonLdProduct, "", &[graph]).unwrap();
        assert_eq!(got["content_ids"], json!(["A"]));
        assert!(got.get("value").is_none() && got.get("currency").is_none());
    }

    #[test]
    fn bad_or_missing_json_ld_is_named_never_guessed() {
        assert_eq!(one(PageSource::JsonLdProduct, "", &[]), Err(Unreadable::NoScript(PageSource::JsonLdProduct)));
        let bad = one(PageSource::JsonLdProduct, "", &[r#"{"@type":"Product",}"#]).unwrap_err();
        assert!(matches!(&bad, Unreadable::NotFound(_, Some(_))) && bad.to_string().contains("does not parse"), "{bad}");
        let recovered = one(PageSource::JsonLdProduct, "", &["{oops", r#"{"@type":"Product","sku":"OK"}"#]).unwrap();
        assert_eq!(recovered["content_ids"], json!(["OK"]), "a broken unrelated script does not hide the product");
        let texts = vec![r#"{"@type":"WebSite"}"#.to_string()];
        assert_eq!(event(PageSource::JsonLdProduct, "ViewContent", "", &texts, true), Err(Unreadable::TooLarge(PageSource::JsonLdProduct)));
    }

    #[test]
    fn a_line_break_inside_a_string_is_read_as_a_space_and_nothing_else_is_forgiven() {
        let prestashop = "{\"@type\":\"Product\",\"sku\":\"demo_7\",\"offers\":[{\"@type\":\"Offer\",\"name\":\"Mug - White\n  \n Size S\",\"price\":\"11.9\",\"priceCurrency\":\"EUR\"}]}";
        let got = one(PageSource::JsonLdProduct, "", &[prestashop]).unwrap();
        assert_eq!((got["content_ids"][0].clone(), got["value"].clone()), (json!("demo_7"), json!(11.9)));
        let trailing_comma = "{\"@type\":\"Product\",\n\"sku\":\"x\",}";
        assert!(matches!(one(PageSource::JsonLdProduct, "", &[trailing_comma]), Err(Unreadable::NotFound(_, Some(_)))));
    }

    #[test]
    fn an_order_gives_its_number_value_and_items() {
        // Google's Gmail Order markup, as its documentation shows it.
        let order = r#"{"@context":"http://schema.org","@type":"Order","merchant":{"@type":"Organization","name":"Amazon.com"},"orderNumber":"123-4567890-1234567","priceCurrency":"USD","price":"29.99",
            "acceptedOffer":{"@type":"Offer","itemOffered":{"@type":"Product","name":"Google Chromecast","sku":"CC-1"},"price":"29.99","priceCurrency":"USD","eligibleQuantity":{"@type":"QuantitativeValue","value":"1"}},
            "orderStatus":"http://schema.org/OrderProcessing"}"#;
        let got = one(PageSource::JsonLdOrder, "", &[order]).unwrap();
        assert_eq!(got, json!({"order_id": "123-4567890-1234567", "value": 29.99, "currency": "USD", "content_ids": ["CC-1"], "content_type": "product", "contents": [{"id": "CC-1", "quantity": 1, "item_price": 29.99}]}));
        let summed = r#"{"@type":"Order","orderNumber":"7","acceptedOffer":[{"itemOffered":{"sku":"a"},"price":"2.50","priceCurrency":"EUR","eligibleQuantity":{"value":2}},{"itemOffered":{"sku":"b"},"price":1,"priceCurrency":"EUR"}]}"#;
        let got = one(PageSource::JsonLdOrder, "", &[summed]).unwrap();
        assert_eq!((got["value"].clone(), got["currency"].clone()), (json!(6.0), json!("EUR")));
    }

    #[test]
    fn a_datalayer_purchase_is_read_from_strict_json_only() {
        let script = r#"
            window.dataLayer = window.dataLayer || [];
            dataLayer.push({ ecommerce: null });
            dataLayer.push({"event":"view_item","ecommerce":{"items":[]}});
            dataLayer.push({"event":"purchase","ecommerce":{"transaction_id":"T_12345","value":72.05,"tax":3.6,"shipping":5.99,"currency":"USD","coupon":"SUMMER_SALE",
              "items":[{"item_id":"SKU_12345","item_name":"Stan and Friends Tee","price":10.01,"quantity":3},{"item_id":"SKU_12346","item_name":"Google Grey Women's Tee","price":21.01,"quantity":2}]}});
        "#;
        let got = datalayer_purchase(script).unwrap();
        assert_eq!(got["order_id"], "T_12345");
        assert_eq!((got["value"].clone(), got["currency"].clone(), got["num_items"].clone()), (json!(72.05), json!("USD"), json!(5)));
        assert_eq!(got["contents"][1], json!({"id": "SKU_12346", "quantity": 2, "item_price": 21.01}));
        let literal = r#"dataLayer.push({ event: "purchase", ecommerce: { transaction_id: "T_1", value: 1, currency: "USD" } });"#;
        assert_eq!(datalayer_purchase(literal), None, "a JavaScript literal is not JSON: never guessed");
        assert!(matches!(one(PageSource::DataLayerPurchase, "", &[literal]), Err(Unreadable::NotFound(PageSource::DataLayerPurchase, None))));
    }
}
