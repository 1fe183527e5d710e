//! What a chat message may hold, checked the same way on every send path
//! (WebSocket, HTTP, nearby).

use super::ChatError;

/// Checks content: at most `max` characters after trimming, and at least
/// one unless the message carries an attachment (whose caption is
/// optional); no control characters but newline and tab. Stored verbatim
/// (not trimmed).
pub fn check_content(content: &str, max: usize, attachment: bool) -> Result<(), ChatError> {
    let n = content.trim().chars().count();
    let min = usize::from(!attachment);
    if n < min || n > max {
        return Err(ChatError::Invalid(format!("content: must be {min} to {max} characters")));
    }
    if content.chars().any(|c| c != '\n' && c != '\t' && crate::http::input::forbidden_in_text(c)) {
        return Err(ChatError::Invalid(
            "content: control, direction-changing and invisible characters are not allowed".into(),
        ));
    }
    Ok(())
}

/// The kinds a client may send; `system` is the server's own.
pub fn check_kind(kind: Option<&str>) -> Result<&'static str, ChatError> {
    match kind.unwrap_or("text") {
        "" | "text" => Ok("text"),
        "emoji" => Ok("emoji"),
        "image" => Ok("image"),
        "file" => Ok("file"),
        other => Err(ChatError::Invalid(format!("type: must be text, emoji, image or file, got {other:?}"))),
    }
}

/// The `type`, `clientId` and `mediaId` of a message, as every send path
/// checks them: `image` and `file` need a `mediaId`, the others take none.
pub fn check_meta(
    kind: Option<&str>,
    client_id: Option<&str>,
    media_id: Option<&str>,
) -> Result<&'static str, ChatError> {
    let kind = check_kind(kind)?;
    check_client_id(client_id)?;
    match (kind, media_id) {
        ("image" | "file", None) => Err(ChatError::Invalid(format!("mediaId: a {kind} message needs one"))),
        ("text" | "emoji", Some(_)) => Err(ChatError::Invalid("mediaId: send it with type image or file".into())),
        (_, Some(id))
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Err(ChatError::Invalid("mediaId: not an upload id".into()))
        }
        _ => Ok(kind),
    }
}

pub fn check_client_id(id: Option<&str>) -> Result<(), ChatError> {
    match id {
        Some(s) if s.len() > 64 || s.chars().any(char::is_control) => {
            Err(ChatError::Invalid("clientId: at most 64 printable characters".into()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        assert!(check_content("hi", 2000, false).is_ok());
        assert!(check_content("line\nbreak\tand tab", 2000, false).is_ok());
        assert!(check_content("   ", 2000, false).is_err());
        assert!(check_content("", 2000, false).is_err());
        assert!(check_content("", 2000, true).is_ok(), "an attachment's caption is optional");
        assert!(check_content(&"a".repeat(2001), 2000, true).is_err());
        assert!(check_content(&format!("  {}  ", "a".repeat(2000)), 2000, false).is_ok(), "counted after trimming");
        assert!(check_content("bell\u{7}", 2000, false).is_err());
        assert!(check_content("<script>alert(1)</script>", 2000, false).is_ok(), "stored verbatim as text");
    }

    #[test]
    fn kinds_and_attachments() {
        assert_eq!(check_kind(None).unwrap(), "text");
        assert_eq!(check_kind(Some("emoji")).unwrap(), "emoji");
        assert!(check_kind(Some("system")).is_err());
        assert_eq!(check_meta(Some("image"), None, Some("0190-ab")).unwrap(), "image");
        assert_eq!(check_meta(Some("file"), None, Some("0190-ab")).unwrap(), "file");
        assert!(check_meta(Some("image"), None, None).is_err());
        assert!(check_meta(None, None, Some("0190-ab")).is_err());
        assert!(check_meta(Some("file"), None, Some("../../etc/passwd")).is_err());
        assert!(check_meta(Some("file"), None, Some(&"a".repeat(65))).is_err());
    }
}
