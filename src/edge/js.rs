//! The few JavaScript globals the adapter calls directly.

use crate::event::id::{uuid_v4, UUID_BYTES};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn crypto_get_random_values(buf: &mut [u8]);
}

/// Random bytes drawn from the CSPRNG at once: 64 event ids per call into JavaScript.
const RANDOM_POOL_BYTES: usize = 64 * UUID_BYTES;

thread_local! {
    /// Unused CSPRNG bytes, and how many have been used.
    static RANDOM_POOL: RefCell<([u8; RANDOM_POOL_BYTES], usize)> = const { RefCell::new(([0; RANDOM_POOL_BYTES], RANDOM_POOL_BYTES)) };
}

/// A fresh random (v4) UUID from the runtime's CSPRNG (`crypto.getRandomValues`, drawn in
/// bulk; each byte is used for one id only).
pub fn random_uuid() -> String {
    RANDOM_POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used == RANDOM_POOL_BYTES {
            crypto_get_random_values(bytes);
            *used = 0;
        }
        let mut id = [0; UUID_BYTES];
        id.copy_from_slice(&bytes[*used..*used + UUID_BYTES]);
        *used += UUID_BYTES;
        uuid_v4(id)
    })
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A uniform random number in `[0, 1)`.
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// A readable one-line description of a thrown JS value.
pub fn describe(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    err.as_string().unwrap_or_else(|| format!("{err:?}"))
}

/// `obj[key]` as a JS value (undefined when missing or not an object).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
