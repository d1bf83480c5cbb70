//! Checks of what a user typed, shared by every use case: dates, free text and names.

use crate::error::ValidationError;

/// A date as the user typed it (YYYY-MM-DD); `what` names the field in the error.
pub fn parse_date(what: &str, s: &str) -> Result<chrono::NaiveDate, ValidationError> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ValidationError::new(format!(
            "{what} \"{s}\" is not a valid date (use YYYY-MM-DD)"
        ))
    })
}

/// Longest payee or description, and longest memo, in characters.
pub const MAX_TEXT: usize = 500;
pub const MAX_MEMO: usize = 4_000;

/// Checks a payee, description or memo (length, no control characters) and trims it.
pub fn check_text(what: &str, s: &str) -> Result<String, ValidationError> {
    let limit = if what == "memo" { MAX_MEMO } else { MAX_TEXT };
    // Most bank text is printable ASCII: one pass over the bytes settles it.
    if s.len() <= limit && s.bytes().all(|b| (b' '..=b'~').contains(&b) || b == b'\t') {
        return Ok(s.trim().to_string());
    }
    if s.chars().count() > limit {
        return Err(ValidationError::new(format!(
            "{what} is longer than {limit} characters"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ValidationError::new(format!(
            "{what} \"{}\" contains control characters",
            s.escape_debug()
        )));
    }
    Ok(s.trim().to_string())
}

/// Checks a name given for an account, category, user or token.
pub fn check_name(what: &str, name: &str) -> Result<String, ValidationError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(ValidationError::new(format!(
            "{what} name must not be empty"
        )));
    }
    if n.chars().count() > 200 {
        return Err(ValidationError::new(format!(
            "{what} name \"{}…\" is longer than 200 characters",
            n.chars().take(20).collect::<String>()
        )));
    }
    if n.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(ValidationError::new(format!(
            "{what} name \"{}\" contains control characters",
            n.escape_debug()
        )));
    }
    Ok(n.to_string())
}

/// Invisible characters that reorder the text around them (a name that reads as another).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            check_name("account", "  Checking ").expect("ok"),
            "Checking"
        );
        assert!(check_name("account", "   ").is_err());
        assert!(check_name("account", "a\u{7}b").is_err());
    }

    #[test]
    fn texts_are_trimmed_and_control_characters_or_excess_length_refused() {
        assert_eq!(
            check_text("payee", "  ACME\tCORP  ").expect("ok"),
            "ACME\tCORP"
        );
        assert_eq!(check_text("payee", " Café ").expect("ok"), "Café");
        for bad in [
            "a\u{7}b",
            "a\u{7f}b",
            "line\nbreak",
            "a\u{85}b",
            "\u{1b}[31mred",
        ] {
            assert!(check_text("payee", bad).is_err(), "{bad:?}");
        }
        let at_limit = "x".repeat(MAX_TEXT);
        assert_eq!(check_text("payee", &at_limit).expect("ok"), at_limit);
        assert!(check_text("payee", &format!("{at_limit}x")).is_err());
        // The limit counts characters, not bytes.
        assert!(check_text("payee", &"é".repeat(MAX_TEXT)).is_ok());
        assert!(check_text("payee", &"é".repeat(MAX_TEXT + 1)).is_err());
        assert!(check_text("memo", &"x".repeat(MAX_MEMO)).is_ok());
        assert!(check_text("memo", &"x".repeat(MAX_MEMO + 1)).is_err());
    }
}
