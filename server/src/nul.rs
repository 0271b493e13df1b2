//! U+0000 in text: PostgreSQL cannot store it in a text column (and a string that holds it is never a real name,
//! email or note), while SQLite would keep it silently. So every byte of a request that becomes text is checked here
//! first and a NUL is refused the same way on both backends, naming where it was: the path and query string (400),
//! a JSON body (422, with the field's path), a form field, a token's claims (`auth`). It lives outside `api` so the
//! authenticator uses the same scanner.

use serde_json::Value;

/// Whether `text` holds a NUL.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// The first query parameter (by name) whose name or value holds a NUL once percent-decoded; `Ok(None)` when none.
pub fn in_query(query: &str) -> Option<String> {
    if !query.contains("%00") && !query.contains('\0') {
        return None;
    }
    // Parsed leniently: a malformed pair is reported by the extractor later, with its own message.
    url_pairs(query).find_map(|(name, value)| (has_nul(&name) || has_nul(&value)).then(|| shown(&name)))
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name as it can be shown in a problem: its NULs written as `\u0000`.
pub fn shown(name: &str) -> String {
    name.replace('\0', "\\u0000")
}

/// Whether a path holds a NUL once percent-decoded.
pub fn in_path(path: &str) -> bool {
    path.contains("%00") || path.contains('\0')
}

/// The JSON path (`.a.b[2]`) of the first string — key or value — that holds a NUL in a JSON body. JSON can only
/// carry a NUL as the escape `\u0000`, so bodies without that text are passed over without parsing.
pub fn in_json(raw: &[u8]) -> Option<String> {
    if !json_may_hold_nul(raw) {
        return None;
    }
    let value: Value = serde_json::from_slice(raw).ok()?;
    find(&value, String::new())
}

/// Whether JSON text may carry a NUL: it can only as the escape `\u0000` (raw control characters are not JSON).
pub fn json_may_hold_nul(raw: &[u8]) -> bool {
    raw.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

fn find(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if has_nul(s) => Some(if path.is_empty() { ".".into() } else { path }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if has_nul(key) {
                Some(shown(&here))
            } else {
                find(item, here)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_nul_wherever_text_hides_it() {
        assert_eq!(in_query("q=a%00b&limit=5"), Some("q".into()));
        assert_eq!(in_query("limit=5&x%00y=1"), Some("x\\u0000y".into()));
        assert_eq!(in_query("q=a%2500b"), None, "an escaped percent sign is not a NUL");
        assert_eq!(in_query("q=ab"), None);
        assert!(in_path("/v1/participants/%00"));
        assert_eq!(in_json(br#"{"a": {"b": ["x", "y\u0000"]}}"#), Some("a.b[1]".into()));
        assert_eq!(in_json(br#"{"k\u0000": 1}"#), Some("k\\u0000".into()));
        assert_eq!(
            in_json(br#"{"a": "\\u0000"}"#),
            None,
            "an escaped backslash is not a NUL"
        );
        assert_eq!(in_json(br#""\u0000""#), Some(".".into()));
    }
}
