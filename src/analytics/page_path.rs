//! The path a page view is counted under: the URL's path, without query or fragment, at most
//! [`MAX_PATH_BYTES`] bytes (cut at a character boundary), never empty.

/// Longest path stored.
pub const MAX_PATH_BYTES: usize = 512;

/// The counted path of `url` (an absolute URL as the Worker sees it).
pub fn page_path(url: &str) -> &str {
    super::values::clip(crate::proxy::upstream::path_only(url), MAX_PATH_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(page_path("https://shop.example/p/42?utm_source=x#top"), "/p/42");
        assert_eq!(page_path("https://shop.example"), "/");
        assert_eq!(page_path("https://shop.example?x=1"), "/");
        assert_eq!(page_path("http://127.0.0.1:8787/a,b\"c"), "/a,b\"c");
        let long = format!("https://shop.example/{}", "é".repeat(400));
        let p = page_path(&long);
        assert!(p.len() <= MAX_PATH_BYTES && p.len() >= MAX_PATH_BYTES - 1);
        assert!(p.ends_with('é'));
    }
}
