//! Commons-CLI style option parsing (`DefaultParser`) of one command's arguments.

use super::CliError;

/// Option table entry: single character name and whether it takes a value.
type OptSpec = (char, bool);

/// Result of a Commons-CLI style parse: options in order and the remaining arguments
/// (the command name included as `args[0]`).
#[derive(Debug, Default)]
pub(super) struct Parsed {
    opts: Vec<(char, Option<String>)>,
    pub(super) args: Vec<String>,
}

impl Parsed {
    pub(super) fn has(&self, c: char) -> bool {
        self.opts.iter().any(|(o, _)| *o == c)
    }

    pub(super) fn value(&self, c: char) -> Option<&str> {
        self.opts
            .iter()
            .find(|(o, _)| *o == c)
            .and_then(|(_, v)| v.as_deref())
    }
}

fn unrecognized(token: &str) -> CliError {
    CliError::Parse(format!("Unrecognized option: {token}"))
}

fn missing_argument(c: char) -> CliError {
    CliError::Parse(format!("Missing argument for option: {c}"))
}

/// Mirrors `DefaultParser.parse(options, args)`: options may appear anywhere,
/// `--` ends option processing, `-` alone is an argument, `-v5` / `-v=5` attach a value,
/// `-se` concatenates flags, and any other `-token` is an unrecognized option.
pub(super) fn parse_flags(tokens: &[String], specs: &[OptSpec]) -> Result<Parsed, CliError> {
    let spec = |c: char| specs.iter().find(|(n, _)| *n == c).copied();
    let is_option = |t: &str| -> bool {
        let Some(body) = t.strip_prefix('-') else {
            return false;
        };
        let name = body.split('=').next().unwrap_or("");
        name.chars().next().is_some_and(|c| spec(c).is_some())
    };
    let mut parsed = Parsed::default();
    let mut i = 0;
    let mut stop = false;
    while i < tokens.len() {
        let t = &tokens[i];
        i += 1;
        if stop || t == "-" || !t.starts_with('-') {
            parsed.args.push(t.clone());
            continue;
        }
        if t == "--" {
            stop = true;
            continue;
        }
        if t.starts_with("--") {
            return Err(unrecognized(t));
        }
        let body = &t[1..];
        let mut chars = body.chars();
        let first = chars.next().unwrap_or('-');
        let Some((_, has_arg)) = spec(first) else {
            return Err(unrecognized(t));
        };
        let rest = &body[first.len_utf8()..];
        if has_arg {
            let value = if let Some(v) = rest.strip_prefix('=') {
                v.to_string()
            } else if !rest.is_empty() {
                rest.to_string()
            } else if i < tokens.len() && !is_option(&tokens[i]) {
                i += 1;
                tokens[i - 1].clone()
            } else {
                return Err(missing_argument(first));
            };
            parsed.opts.push((first, Some(value)));
            continue;
        }
        // A flag; anything after it must be further concatenated options.
        parsed.opts.push((first, None));
        let rest_chars: Vec<char> = rest.chars().collect();
        let mut j = 0;
        while j < rest_chars.len() {
            let c = rest_chars[j];
            match spec(c) {
                None => return Err(unrecognized(t)),
                Some((_, false)) => parsed.opts.push((c, None)),
                Some((_, true)) => {
                    let tail: String = rest_chars[j + 1..].iter().collect();
                    let value = if !tail.is_empty() {
                        tail
                    } else if i < tokens.len() && !is_option(&tokens[i]) {
                        i += 1;
                        tokens[i - 1].clone()
                    } else {
                        return Err(missing_argument(c));
                    };
                    parsed.opts.push((c, Some(value)));
                    break;
                }
            }
            j += 1;
        }
    }
    Ok(parsed)
}
