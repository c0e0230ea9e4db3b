//! ZooKeeper's path rules (PathUtils.validatePath) and path helpers.

/// Why a path is invalid; the server answers BadArguments for any of these.
pub fn validate(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("path length must be > 0");
    }
    if !path.starts_with('/') {
        return Err("path must start with / character");
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("path must not end with / character");
    }
    let chars: Vec<char> = path.chars().collect();
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        let next_is_end = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            return Err("null character not allowed");
        }
        if c == '/' && last == '/' {
            return Err("empty node name specified");
        }
        if c == '.' && last == '.' && i >= 2 && chars[i - 2] == '/' && next_is_end {
            return Err("relative paths not allowed");
        }
        if c == '.' && last == '/' && next_is_end {
            return Err("relative paths not allowed");
        }
        let u = c as u32;
        // Characters outside the BMP are surrogate pairs in Java, which ZooKeeper refuses.
        if (u > 0 && u <= 0x1f)
            || (0x7f..=0x9f).contains(&u)
            || (0xd800..=0xf8ff).contains(&u)
            || (0xfff0..=0xffff).contains(&u)
            || u > 0xffff
        {
            return Err("invalid character");
        }
    }
    Ok(())
}

/// Parent path of an absolute path: "/" for top-level nodes. None for the root or a path
/// without a slash.
pub fn parent(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    if path == "/" {
        return None;
    }
    Some(if i == 0 { "/" } else { &path[..i] })
}

/// Last component of a path.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Child path from a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Whether `path` is `ancestor` or below it.
pub fn is_at_or_below(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a/...",
            "/zookeeper",
            "/ü",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\u{0}",
            "/a\u{1}",
            "/\u{85}",
            "/\u{fff5}",
            "/😀",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parents_and_names() {
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/q/"), Some("/q"));
        assert_eq!(parent("/"), None);
        assert_eq!(parent("a"), None);
        assert_eq!(name("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_at_or_below("/a/b", "/a"));
        assert!(!is_at_or_below("/ab", "/a"));
        assert!(is_at_or_below("/a", "/"));
    }
}
