//! Lenient decoding and strict checking of request fields.
//!
//! Old clients send numbers as strings (`"x": "5"`) and booleans as
//! strings; serde accepts both through these helpers. What a value may be
//! is checked after decoding, with `validator` rules on each body type plus
//! the custom rules below, so every failure names its field.

use serde::{Deserialize, Deserializer, de};
use validator::ValidationError;

/// An integer given as a JSON number or a numeric string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Int(i64),
    Float(f64),
    Str(String),
}

fn to_i32<E: de::Error>(v: NumOrStr) -> Result<i32, E> {
    let n = match v {
        NumOrStr::Int(n) => n,
        // Exact: the guard admits only whole numbers below 1e15, and std has
        // no checked float-to-integer conversion.
        #[allow(clippy::cast_possible_truncation)]
        NumOrStr::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
        NumOrStr::Float(f) => return Err(E::custom(format!("expected a whole number, got {f}"))),
        NumOrStr::Str(s) => {
            s.trim().parse::<i64>().map_err(|_| E::custom(format!("expected a whole number, got {s:?}")))?
        }
    };
    i32::try_from(n).map_err(|_| E::custom(format!("{n} is out of range")))
}

pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    to_i32(NumOrStr::deserialize(d)?)
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOrStr {
    Bool(bool),
    Str(String),
}

/// A boolean given as `true`/`false` or as the strings `"true"`/`"false"`.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match BoolOrStr::deserialize(d)? {
        BoolOrStr::Bool(b) => Ok(b),
        BoolOrStr::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        BoolOrStr::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        BoolOrStr::Str(s) => Err(de::Error::custom(format!("expected true or false, got {s:?}"))),
    }
}

fn err(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// The one rule for text people see (names, descriptions, chat): no
/// control characters (NUL included, which PostgreSQL cannot store), no
/// bidirectional embeddings, overrides or isolates (they reorder what
/// follows, so `txt.exe` can show as `exe.txt`), and no invisible
/// characters but the zero-width joiner and variation selectors that emoji
/// are made of. Line breaks and tabs are the caller's call.
pub fn forbidden_in_text(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}' | '\u{200C}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Names (usernames) are stricter: nothing invisible at all, so a name
/// always looks like what it is (UTS #39's spirit: no joiners, variation
/// selectors, soft hyphens, Hangul fillers or direction marks).
fn forbidden_in_name(c: char) -> bool {
    forbidden_in_text(c)
        || c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{200D}'..='\u{200F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{E0100}'..='\u{E01EF}')
}

/// 3 to 64 visible characters, no whitespace.
pub fn username(s: &str) -> Result<(), ValidationError> {
    let n = s.chars().count();
    if !(3..=64).contains(&n) {
        return Err(err("length", "must be 3 to 64 characters"));
    }
    if s.chars().any(forbidden_in_name) {
        return Err(err("charset", "must be visible characters without whitespace"));
    }
    Ok(())
}

/// A display name: not blank, one line, nothing [`forbidden_in_text`].
pub fn display_text(s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(err("blank", "must not be blank"));
    }
    if s.chars().any(forbidden_in_text) {
        return Err(err("charset", "must not contain control, direction-changing or invisible characters"));
    }
    Ok(())
}

/// A description: may be empty and span lines, else as [`display_text`].
pub fn description(s: &str) -> Result<(), ValidationError> {
    if s.chars().any(|c| c != '\n' && c != '\t' && forbidden_in_text(c)) {
        return Err(err("charset", "must not contain control, direction-changing or invisible characters"));
    }
    Ok(())
}

/// An image or asset address: an absolute http(s) URL or a path on this
/// server. Other schemes (`javascript:`, `data:`) are refused because
/// clients put these into `src` attributes.
pub fn image_url(s: &str) -> Result<(), ValidationError> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("charset", "must not contain whitespace"));
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || (s.starts_with('/') && !s.starts_with("//")) {
        Ok(())
    } else {
        Err(err("scheme", "must be an http(s) URL or a path starting with /"))
    }
}

/// Parses `"WxH"` (e.g. `"100x200"`) with each side in `1..=max`.
pub fn dimensions(s: &str, max: i32) -> Result<(i32, i32), String> {
    let bad = || format!("must be \"WIDTHxHEIGHT\" with each side from 1 to {max}, got {s:?}");
    let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let side = |t: &str| -> Option<i32> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<i32>().ok().filter(|v| (1..=max).contains(v))
    };
    Ok((side(w).ok_or_else(bad)?, side(h).ok_or_else(bad)?))
}

pub fn format_dimensions(width: i32, height: i32) -> String {
    format!("{width}x{height}")
}

/// Parses `ids` of the bulk metadata query: `[a,b]`, `a,b` or `["a","b"]`.
pub fn id_list(raw: &str, max: usize) -> Result<Vec<String>, String> {
    let inner = raw.trim();
    let inner = match (inner.starts_with('['), inner.ends_with(']')) {
        (true, true) => &inner[1..inner.len() - 1],
        (false, false) => inner,
        _ => return Err("unbalanced brackets".into()),
    };
    let ids: Vec<String> =
        inner.split(',').map(|p| p.trim().trim_matches('"').trim().to_owned()).filter(|p| !p.is_empty()).collect();
    if ids.len() > max {
        return Err(format!("at most {max} ids"));
    }
    if ids.iter().any(|id| id.len() > 64 || id.chars().any(|c| c.is_whitespace() || c.is_control())) {
        return Err("ids must be short tokens without whitespace".into());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct P {
        #[serde(deserialize_with = "int")]
        x: i32,
        #[serde(deserialize_with = "boolean")]
        b: bool,
    }

    fn p(json: &str) -> Result<P, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_and_numeric_strings() {
        assert_eq!(p(r#"{"x": 5, "b": true}"#).unwrap().x, 5);
        let q = p(r#"{"x": "5", "b": "false"}"#).unwrap();
        assert_eq!((q.x, q.b), (5, false));
        assert!(p(r#"{"x": 1, "b": "TRUE"}"#).unwrap().b);
        assert_eq!(p(r#"{"x": 5.0, "b": false}"#).unwrap().x, 5);
        assert!(p(r#"{"x": "five", "b": true}"#).is_err());
        assert!(p(r#"{"x": 5.5, "b": true}"#).is_err());
        assert!(p(r#"{"x": 99999999999, "b": true}"#).is_err());
        assert!(p(r#"{"x": [1], "b": true}"#).is_err());
        assert!(p(r#"{"x": 1, "b": "yes"}"#).is_err());
    }

    #[test]
    fn usernames() {
        assert!(username("bob").is_ok());
        assert!(username("émilie_42").is_ok());
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        assert!(username("two words").is_err());
        assert!(username("tab\there").is_err());
        assert!(username("nul\0").is_err());
        // Invisible and direction-changing characters make look-alikes.
        for hidden in ["ad\u{200B}a", "ad\u{200D}a", "\u{202E}ada", "ada\u{2066}", "a\u{00AD}da", "\u{3164}ada"] {
            assert!(username(hidden).is_err(), "{hidden:?}");
        }
    }

    #[test]
    fn display_text_and_descriptions() {
        assert!(display_text("Lobby ❤️ 👨‍👩‍👧").is_ok(), "emoji need joiners and variation selectors");
        for bad in ["a\0b", "name\u{202E}txt.exe", "zero\u{200B}width", "two\nlines", "\u{FEFF}bom"] {
            assert!(display_text(bad).is_err(), "{bad:?}");
        }
        assert!(description("").is_ok());
        assert!(description("line one\nline two\twith a tab").is_ok());
        assert!(description("nul \0 here").is_err());
        assert!(description("\u{2067}isolate").is_err());
    }

    #[test]
    fn image_urls() {
        assert!(image_url("https://cdn.example/x.png").is_ok());
        assert!(image_url("/assets/x.png").is_ok());
        assert!(image_url("javascript:alert(1)").is_err());
        assert!(image_url("//evil.example/x.png").is_err());
        assert!(image_url("https://a b").is_err());
    }

    #[test]
    fn dimension_strings() {
        assert_eq!(dimensions("100x200", 1024), Ok((100, 200)));
        assert_eq!(dimensions("1X1", 1024), Ok((1, 1)));
        for bad in ["0x10", "10x0", "1025x10", "10", "x", "10x", "-1x5", "1.5x2", "10x10x10", "", "+5x5"] {
            assert!(dimensions(bad, 1024).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_lists() {
        assert_eq!(id_list("[a,b]", 10).unwrap(), vec!["a", "b"]);
        assert_eq!(id_list("a, b", 10).unwrap(), vec!["a", "b"]);
        assert_eq!(id_list(r#"["a","b"]"#, 10).unwrap(), vec!["a", "b"]);
        assert!(id_list("[]", 10).unwrap().is_empty());
        assert!(id_list("[a,b", 10).is_err());
        assert!(id_list("a,b,c", 2).is_err());
    }
}
