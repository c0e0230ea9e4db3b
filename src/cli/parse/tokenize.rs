//! Splitting an interactive line into words, as zkCli does.

/// Splits an interactive line into words the way zkCli does
/// (`\s*([^"']\S*|"[^"]*"|'[^']*')\s*` plus stripping the surrounding quotes).
/// A quote without its closing partner is skipped.
pub fn tokenize(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            match chars[i + 1..].iter().position(|&x| x == c) {
                Some(end) => {
                    out.push(chars[i + 1..i + 1 + end].iter().collect());
                    i += end + 2;
                }
                None => i += 1,
            }
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}
