//! The configuration text: nesting limit, YAML / JSON parsing, error positions.

use super::*;

/// Deepest nesting a configuration (or a policy file) may have. libyaml's cost grows with the
/// square of the nesting depth (100 KB of `[[[…` took seconds of admin CPU), so deeper input
/// is refused before it reaches the parser. Real configs nest about a dozen levels.
pub const MAX_NESTING_DEPTH: usize = 64;

/// A cheap upper bound of the YAML nesting depth: flow collections (`[`, `{`) outside quotes
/// and comments, plus the block sequence / mapping-key indicators (`- `, `? `) that open a
/// level on the same line. Over-counts only for unbalanced brackets inside plain scalars.
pub(super) fn nesting_depth(text: &str) -> usize {
    let mut max = 0usize;
    let mut flow = 0usize;
    for line in text.lines() {
        // Block indicators at the start of the line: `- - - x` nests three sequences.
        let mut block = 0usize;
        let mut rest = line.trim_start_matches([' ', '\t']);
        while let Some(r) = rest
            .strip_prefix('-')
            .or_else(|| rest.strip_prefix('?'))
            .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
        {
            block += 1;
            rest = r.trim_start_matches([' ', '\t']);
        }
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut prev_space = true;
        for c in line.chars() {
            match quote {
                Some('"') => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == '\'' {
                        quote = None;
                    }
                }
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '#' if prev_space => break,
                    '[' | '{' => {
                        flow += 1;
                        max = max.max(flow + block);
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev_space = c == ' ' || c == '\t';
        }
        // A single-quoted or double-quoted scalar may span lines; keep it simple: a quote
        // left open at the end of a line is closed there (the count only errs upwards).
        max = max.max(flow + block);
    }
    max
}

/// Refuse input nested deeper than [`MAX_NESTING_DEPTH`] (see there).
pub(crate) fn check_depth(text: &str) -> Result<(), String> {
    let d = nesting_depth(text);
    if d > MAX_NESTING_DEPTH {
        return Err(format!(
            "nested deeper than {MAX_NESTING_DEPTH} levels (the nesting limit), found at least {d}"
        ));
    }
    Ok(())
}

/// Where a YAML error is, without the error's own text (which may quote the input).
pub(super) fn yaml_position(e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(l) => format!("at line {} column {}", l.line(), l.column()),
        None => "(no position)".to_owned(),
    }
}

/// Where a JSON error is, and its category, without any of the input.
pub(super) fn json_position(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// A document that starts with `{` is read as JSON (see [`parse_text`]).
pub(super) fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

pub(super) fn parse_text(text: &str) -> Result<Value, ConfigErrors> {
    // JSON is YAML, but a JSON document parses several times faster with a JSON parser:
    // machine-generated configs (large, swapped often) take this path. A document that starts
    // with `{` is JSON: its error is the JSON error with its line and column (no YAML retry,
    // which would cost a second parse of possibly hostile input). serde_json bounds nesting.
    if is_json(text) {
        let v = serde_json::from_str::<Value>(text)
            .map_err(|e| ConfigError::new("", format!("JSON syntax error: {e}")))?;
        return match v {
            Value::Object(_) => Ok(v),
            _ => Err(ConfigError::new("", "the configuration must be a mapping").into()),
        };
    }
    check_depth(text).map_err(|e| ConfigError::new("", e))?;
    let v: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::new("", format!("syntax error: {e}")))?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Err(ConfigError::new("", "the configuration is empty").into()),
        other => Err(ConfigError::new(
            "",
            format!("the configuration must be a mapping (gateway, identities, authorizers, apis), found {}", kind(&other)),
        )
        .into()),
    }
}
