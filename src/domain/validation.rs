//! Input rules, exactly as the tutorial's Pydantic models state them (and applied to
//! change-password too, which the tutorial forgot). Each failure is a [`FieldError`]
//! in Pydantic's words, so the HTTP layer can render FastAPI's 422 list unchanged.

use crate::crypto::password::MAX_PASSWORD_CHARS;

/// One invalid field, as Pydantic v2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field name (the HTTP layer prefixes `"body"`).
    pub field: String,
    /// Human message.
    pub msg: String,
    /// Pydantic error type (`value_error`, `missing`, ...).
    pub kind: &'static str,
}

impl FieldError {
    /// A validator's `ValueError`: Pydantic prefixes the message with "Value error, ".
    pub fn value(field: &str, msg: &str) -> Self {
        Self { field: field.into(), msg: format!("Value error, {msg}"), kind: "value_error" }
    }
}

/// Longest accepted display name (the tutorial's `String(100)` column).
pub const MAX_FULL_NAME_CHARS: usize = 100;
/// Longest accepted email address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Longest username (the tutorial's 50 characters): no account has a longer one.
pub const MAX_USERNAME_CHARS: usize = 50;

/// Username: 3–50 of `[A-Za-z0-9_-]`; returns it lower-cased.
pub fn username(v: &str) -> Result<String, FieldError> {
    let n = v.chars().count();
    if n < 3 {
        return Err(FieldError::value("username", "Username must be at least 3 characters"));
    }
    if n > MAX_USERNAME_CHARS {
        return Err(FieldError::value("username", "Username must not exceed 50 characters"));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(FieldError::value(
            "username",
            "Username can only contain letters, numbers, hyphens, and underscores",
        ));
    }
    Ok(v.to_ascii_lowercase())
}

/// The tutorial's special characters: `[!@#$%^&*(),.?":{}|<>]`.
const SPECIALS: &str = "!@#$%^&*(),.?\":{}|<>";

/// Password strength for a new password, reported against `field`.
pub fn new_password(field: &str, v: &str) -> Result<(), FieldError> {
    let n = v.chars().count();
    let fail = |m: &str| Err(FieldError::value(field, m));
    if n < 8 {
        return fail("Password must be at least 8 characters");
    }
    if n > MAX_PASSWORD_CHARS {
        return fail("Password must not exceed 128 characters");
    }
    if !v.chars().any(|c| c.is_ascii_uppercase()) {
        return fail("Password must contain an uppercase letter");
    }
    if !v.chars().any(|c| c.is_ascii_lowercase()) {
        return fail("Password must contain a lowercase letter");
    }
    if !v.chars().any(|c| c.is_ascii_digit()) {
        return fail("Password must contain a digit");
    }
    if !v.chars().any(|c| SPECIALS.contains(c)) {
        return fail("Password must contain a special character");
    }
    Ok(())
}

/// A password presented for login: only the length cap, checked before hashing.
pub fn presented_password(field: &str, v: &str) -> Result<(), FieldError> {
    if v.chars().count() > MAX_PASSWORD_CHARS {
        return Err(FieldError::value(field, "Password must not exceed 128 characters"));
    }
    Ok(())
}

/// Email address, in the spirit of Pydantic's `EmailStr`: one `@`, a sensible local
/// part, a dotted domain of letters, digits and hyphens. Returns it with the domain
/// lower-cased (as email-validator normalises it).
pub fn email(field: &str, v: &str) -> Result<String, FieldError> {
    let bad = |why: &str| {
        Err(FieldError {
            field: field.into(),
            msg: format!("value is not a valid email address: {why}"),
            kind: "value_error",
        })
    };
    if v.chars().count() > MAX_EMAIL_CHARS {
        return bad("The email address is too long.");
    }
    let Some((local, domain)) = v.split_once('@') else {
        return bad("An email address must have an @-sign.");
    };
    if domain.contains('@') {
        return bad("The part after the @-sign contains invalid characters: '@'.");
    }
    if local.is_empty() {
        return bad("There must be something before the @-sign.");
    }
    if local.len() > 64 {
        return bad("The email address is too long before the @-sign.");
    }
    const LOCAL_OK: &str = "!#$%&'*+-/=?^_`{|}~.";
    if !local.chars().all(|c| c.is_ascii_alphanumeric() || LOCAL_OK.contains(c) || !c.is_ascii())
        || local.chars().any(char::is_control)
    {
        return bad("The email address contains invalid characters before the @-sign.");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("The email address contains a period in an invalid position.");
    }
    if domain.is_empty() {
        return bad("There must be something after the @-sign.");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad("The part after the @-sign is not valid. It should have a period.");
    }
    for label in &labels {
        let ok_chars = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if label.is_empty() || label.len() > 63 || !ok_chars || label.starts_with('-') || label.ends_with('-')
        {
            return bad("The part after the @-sign is not valid.");
        }
    }
    if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return bad("The part after the @-sign is not valid.");
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Optional display name: at most 100 characters, no control characters.
pub fn full_name(v: &str) -> Result<(), FieldError> {
    if v.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(FieldError {
            field: "full_name".into(),
            msg: "String should have at most 100 characters".into(),
            kind: "string_too_long",
        });
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::value("full_name", "Full name must not contain control characters"));
    }
    Ok(())
}

/// Longest second-factor code accepted (a TOTP code is 6 digits, a recovery code
/// 19 characters; room for spaces people paste along).
pub const MAX_CODE_CHARS: usize = 64;

/// A presented one-time code: at most [`MAX_CODE_CHARS`] characters (what it
/// matches is decided where it is spent).
pub fn one_time_code(field: &str, v: &str) -> Result<(), FieldError> {
    if v.chars().count() > MAX_CODE_CHARS {
        return Err(FieldError {
            field: field.into(),
            msg: format!("String should have at most {MAX_CODE_CHARS} characters"),
            kind: "string_too_long",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username("John_Doe-1").unwrap(), "john_doe-1");
        assert_eq!(username("abc").unwrap(), "abc");
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(51)).is_err());
        assert!(username(&"a".repeat(50)).is_ok());
        for bad in ["a b c", "ab.c", "abç", "ab\0c", "a/../b", "<script>"] {
            assert!(username(bad).is_err(), "{bad}");
        }
        assert_eq!(username("ab").unwrap_err().msg, "Value error, Username must be at least 3 characters");
    }

    #[test]
    fn passwords() {
        assert!(new_password("password", "SecurePass123!").is_ok());
        let msg = |p: &str| new_password("password", p).unwrap_err().msg;
        assert_eq!(msg("weak"), "Value error, Password must be at least 8 characters");
        assert_eq!(msg("securepass123!"), "Value error, Password must contain an uppercase letter");
        assert_eq!(msg("SECUREPASS123!"), "Value error, Password must contain a lowercase letter");
        assert_eq!(msg("SecurePass!!!"), "Value error, Password must contain a digit");
        assert_eq!(msg("SecurePass123"), "Value error, Password must contain a special character");
        assert_eq!(
            msg(&format!("Aa1!{}", "x".repeat(125))),
            "Value error, Password must not exceed 128 characters"
        );
        assert!(new_password("password", &format!("Aa1!{}", "x".repeat(124))).is_ok());
        // Length is in characters, as Python counts it.
        assert!(new_password("password", &format!("Aa1!{}", "é".repeat(124))).is_ok());
        assert!(presented_password("password", &"x".repeat(129)).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("email", "John.Doe@Example.COM").unwrap(), "John.Doe@example.com");
        assert!(email("email", "a+tag@sub.example.org").is_ok());
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a b@c.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@b.c_m",
            "a@1.2.3.4",
            "a@b.com\n",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?}");
        }
        assert!(email("email", &format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn full_names() {
        assert!(full_name("Ada Lovelace").is_ok());
        assert!(full_name(&"x".repeat(101)).is_err());
        assert!(full_name("a\u{0}b").is_err());
    }
}
