//! Reading one cookie from a `Cookie` request header.

/// The value of the first cookie called `name`, with surrounding quotes removed.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::cookie;

    #[test]
    fn finds_first_exact_name() {
        let h = "a=1; _fbp=fb.1.2.3;x_fbp=no; _fbc=\"fb.1.2.abc\"; _fbp=second";
        assert_eq!(cookie(h, "_fbp"), Some("fb.1.2.3"));
        assert_eq!(cookie(h, "_fbc"), Some("fb.1.2.abc"));
        assert_eq!(cookie(h, "missing"), None);
        assert_eq!(cookie("", "a"), None);
        assert_eq!(cookie("novalue; a", "a"), None);
        assert_eq!(cookie("a=", "a"), Some(""));
    }
}
