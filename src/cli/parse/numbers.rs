//! Java's integer parsing as zkCli applies it (`Integer.parseInt`, `Integer.decode`).

use super::CliError;

/// Java's `Integer.parseInt` failure as zkCli shows it (an unchecked exception's text).
pub(super) fn parse_version(v: &str) -> Result<i32, CliError> {
    v.parse::<i32>().map_err(|_| {
        CliError::Malformed(format!(
            "java.lang.NumberFormatException: For input string: \"{v}\""
        ))
    })
}

/// `Integer.decode`: decimal, `0x`/`#` hex or leading-zero octal, optional sign.
pub(super) fn parse_java_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(h) = body.strip_prefix('#') {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}
