//! [`validate_path`]: the Java client's znode path checks.

/// `PathUtils.validatePath`: the checks (and messages) the Java client applies before
/// sending a request. `sequential` allows a trailing `/` (the server appends the number).
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    let owned;
    let path = if sequential {
        owned = format!("{path}1");
        owned.as_str()
    } else {
        path
    };
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<u16> = path.encode_utf16().collect();
    let mut reason = None;
    let mut lastc = '/' as u16;
    let (slash, dot) = ('/' as u16, '.' as u16);
    for i in 1..chars.len() {
        let c = chars[i];
        let at_end = |j: usize| j + 1 == chars.len() || chars[j + 1] == slash;
        if c == 0 {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == slash && lastc == slash {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == dot && lastc == dot {
            if chars[i - 2] == slash && at_end(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == dot {
            if chars[i - 1] == slash && at_end(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if (c > 0 && c <= 0x1f)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || c >= 0xfff0
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
        lastc = c;
    }
    match reason {
        Some(r) => Err(format!("Invalid path string \"{path}\" caused by {r}")),
        None => Ok(()),
    }
}
