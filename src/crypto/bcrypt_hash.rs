//! bcrypt hashes brought in from the tutorial's app (passlib's `$2b$12$…`), checked
//! with the pure-Rust `bcrypt` crate and never written: a successful login replaces
//! one with scrypt (see `password.rs`).
//!
//! Only the modular-crypt forms `$2a$`, `$2b$` and `$2y$` are accepted, 60 characters
//! in all, and the cost is capped at [`MAX_COST`] *before* any work: each step of
//! the cost doubles the time, and every login is padded to the most expensive hash
//! stored, so a hash with cost 31 (days of CPU) must never reach the verifier.
//! Passwords longer than 72 bytes are truncated, as passlib and the bcrypt C
//! library did when the hash was made; refusing them would lock those users out.

use std::fmt;

/// The highest cost verified. The tutorial hashes at 12 (about 250 ms here); 14 is
/// four times that (about 1 s), and every sign-in while such a hash is stored
/// pays it, so anything above is refused at import and never verified.
pub const MAX_COST: u32 = 14;
/// The lowest cost bcrypt defines.
pub const MIN_COST: u32 = 4;

/// Why a string is not a bcrypt hash gatehouse will verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not in the `$2a$`/`$2b$`/`$2y$` modular-crypt form.
    NotBcrypt,
    /// A cost outside 4..=[`MAX_COST`].
    Cost(u32),
    /// The right prefix, but not 60 characters of bcrypt's base64 after it.
    Malformed,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotBcrypt => f.write_str("not a bcrypt hash ($2a$, $2b$ or $2y$)"),
            Problem::Cost(c) if *c < MIN_COST => write!(f, "bcrypt cost {c} is below bcrypt's minimum of {MIN_COST}"),
            Problem::Cost(c) => write!(
                f,
                "bcrypt cost {c} is over the limit of {MAX_COST} (each step doubles the work, and every sign-in would pay it)"
            ),
            Problem::Malformed => f.write_str("a bcrypt prefix, but not a well-formed bcrypt hash"),
        }
    }
}

/// Whether `stored` claims to be bcrypt (well-formed or not): the verifier then
/// treats it as bcrypt, never as a PHC string.
pub fn looks_like_bcrypt(stored: &str) -> bool {
    stored.starts_with("$2")
}

/// The cost of a bcrypt hash gatehouse will verify, or why it will not.
pub fn cost_of(stored: &str) -> Result<u32, Problem> {
    let b = stored.as_bytes();
    let prefix_ok = matches!(b, [b'$', b'2', b'a' | b'b' | b'y', b'$', ..]);
    if !prefix_ok {
        return Err(Problem::NotBcrypt);
    }
    let cost_digits = b.get(4..6).filter(|d| d.iter().all(u8::is_ascii_digit));
    let (Some(digits), Some(b'$')) = (cost_digits, b.get(6)) else {
        return Err(Problem::Malformed);
    };
    let cost = u32::from(digits[0] - b'0') * 10 + u32::from(digits[1] - b'0');
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/');
    if b.len() != 60 || !b[7..].iter().all(alphabet) {
        return Err(Problem::Malformed);
    }
    if !(MIN_COST..=MAX_COST).contains(&cost) {
        return Err(Problem::Cost(cost));
    }
    // The crate's own parser too (it refuses stray bits in the last salt character).
    stored.parse::<::bcrypt::HashParts>().map_err(|_| Problem::Malformed)?;
    Ok(cost)
}

/// Checks `password` against a hash [`cost_of`] accepted: `Some(true)` on a match,
/// `None` if the crate refuses the hash after all.
pub fn verify(password: &str, stored: &str) -> Option<bool> {
    ::bcrypt::verify(password.as_bytes(), stored).ok()
}

/// One bcrypt computation at `cost` whose result is thrown away: the work a login
/// spends for a hash it does not have (capped like a stored one).
pub fn burn(password: &str, cost: u32) {
    if (MIN_COST..=MAX_COST).contains(&cost) {
        let _ = ::bcrypt::hash_with_salt(password.as_bytes(), cost, *b"gatehouse-burn!!");
    }
}

/// Work of one hash at `cost`, in bcrypt's expensive key-schedule rounds (2^cost).
pub fn work(cost: u32) -> u64 {
    1u64.checked_shl(cost).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by the tutorial's stack (passlib 1.7.4 + bcrypt 4.2.0, rounds 12), and by
    // bcrypt.gensalt(prefix=b"2a") / passlib ident="2y" at cost 4 for speed.
    const TUTORIAL: (&str, &str) =
        ("Passw0rd!alice", "$2b$12$nsk0mM8WsoI8YLOB3lWZK.71I20XsZnv41XpeKB0182Q5EpfCfQGW");

    #[test]
    fn costs_and_forms() {
        assert_eq!(cost_of(TUTORIAL.1), Ok(12));
        let body = &TUTORIAL.1[7..];
        assert_eq!(cost_of(&format!("$2a$04${body}")), Ok(4));
        assert_eq!(cost_of(&format!("$2y$14${body}")), Ok(14));
        assert_eq!(cost_of(&format!("$2b$15${body}")), Err(Problem::Cost(15)));
        assert_eq!(cost_of(&format!("$2b$31${body}")), Err(Problem::Cost(31)));
        assert_eq!(cost_of(&format!("$2b$03${body}")), Err(Problem::Cost(3)));
        assert_eq!(cost_of(&format!("$2x$12${body}")), Err(Problem::NotBcrypt));
        assert_eq!(cost_of(&format!("$2b$1a${body}")), Err(Problem::Malformed));
        assert_eq!(cost_of(&format!("$2b$12${body}x")), Err(Problem::Malformed));
        assert_eq!(cost_of(&format!("$2b$12${}", &body[1..])), Err(Problem::Malformed));
        assert_eq!(cost_of(&format!("$2b$12${}é", &body[2..])), Err(Problem::Malformed));
        assert_eq!(cost_of("$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA"), Err(Problem::NotBcrypt));
        assert_eq!(cost_of("$2"), Err(Problem::NotBcrypt));
        assert_eq!(cost_of(""), Err(Problem::NotBcrypt));
    }

    /// (password, hash) from passlib 1.7.4 + bcrypt 4.2.0 (the tutorial's pins).
    const PASSLIB: [(&str, &str); 5] = [
        ("Str0ngPassw0rd!", "$2a$04$BKn5BKh2P8Sq8FVrOi/Szudla03jlUlfGh16SArhYLkAqE4iXieNm"),
        ("Str0ngPassw0rd!", "$2b$04$2aoPv3NF7/cVx5zZZ7T7dekNYicy7chpch0Hia53vip3gSSQ8cNc6"),
        ("Str0ngPassw0rd!", "$2y$04$zCOe4PSk53EjSF3jVLFKW.gdxHByeYHL9oBUUlww9tierqRGP5GK6"),
        ("pässwörd-ünïcode-✓", "$2b$04$zYkKC54VzWHNVSxdU/HIZewNgYs9rfJSVK3PjH43/g4bCdOlIm2lq"),
        // 80 bytes: bcrypt 4.2 hashed the first 72.
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "$2b$04$ldpClm4c8HMxkOw/Qtezdulm1yzid0myWB3H4bQiM.nHcVr0zyu9W",
        ),
    ];

    #[test]
    fn verifies_what_passlib_wrote() {
        for (pw, hash) in PASSLIB {
            assert_eq!(cost_of(hash), Ok(4), "{hash}");
            assert_eq!(verify(pw, hash), Some(true), "{hash}");
            assert_eq!(verify(&format!("x{}", &pw[1..]), hash), Some(false), "{hash}");
        }
        let (pw, hash) = TUTORIAL;
        assert_eq!(verify(pw, hash), Some(true));
        assert_eq!(verify("Passw0rd!alicf", hash), Some(false));
    }

    #[test]
    fn long_passwords_are_truncated_at_72_bytes_as_passlib_did() {
        let long = "A1!".repeat(30); // 90 bytes
        let hash = ::bcrypt::hash_with_salt(long.as_bytes(), 4, [7; 16]).unwrap().to_string();
        assert_eq!(verify(&long, &hash), Some(true));
        assert_eq!(verify(&long[..72], &hash), Some(true));
        assert_eq!(verify(&long[..71], &hash), Some(false));
    }
}
