//! One-time passwords: HOTP (RFC 4226) over HMAC-SHA-1 and TOTP (RFC 6238) with
//! 30-second steps and six digits, the parameters every authenticator app uses.
//!
//! [`matching_step`] says which time step a presented code belongs to, looking one
//! step either side of now and only at steps *after* the last one accepted, so
//! the caller (who stores the step it returns in the same transaction) accepts
//! every code at most once. Secrets travel as RFC 4648 base32, unpadded, as the
//! `otpauth://` URI format wants them.

use ring::hmac;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes in a secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

/// The HOTP value of `counter` under `secret`, `digits` long (RFC 4226 §5.3).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The time step containing `unix_secs` (never negative).
pub fn step_at(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs.max(0) / STEP_SECS).unwrap_or(0)
}

/// The six-digit code of `step`, zero-padded.
pub fn code_at(secret: &[u8], step: u64) -> String {
    format!("{:0width$}", hotp(secret, step, DIGITS), width = DIGITS as usize)
}

/// The step (now − 1, now or now + 1) whose code is `code`, considering only steps
/// later than `after` (the last step accepted; 0 when none was). `None` when the
/// code is malformed, wrong, or already used. The comparison runs in constant time
/// over every candidate, so timing says nothing about which step was close.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: i64, after: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
        let expected = code_at(secret, step);
        let same = super::secrets::constant_time_eq(expected.as_bytes(), code.as_bytes());
        if same && step > after && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// `secret` as unpadded base32 (RFC 4648), what authenticator apps read.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Decodes unpadded, upper-case base32 (strictly: `None` for anything else).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(s.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d() {
        let want = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, code) in want.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), code, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        for (t, code) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(RFC_SECRET, step_at(t), 8), code, "T = {t}");
        }
    }

    #[test]
    fn window_is_one_step_each_side() {
        let t = 1_700_000_015; // inside a step
        let now = step_at(t);
        for step in [now - 1, now, now + 1] {
            assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step), t, 0), Some(step));
        }
        for step in [now - 2, now + 2] {
            assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, step), t, 0), None);
        }
    }

    #[test]
    fn a_used_step_and_any_before_it_are_refused() {
        let t = 1_700_000_015;
        let now = step_at(t);
        let code = code_at(RFC_SECRET, now);
        assert_eq!(matching_step(RFC_SECRET, &code, t, now), None, "replay of the same step");
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, now - 1), t, now), None, "older step");
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, now + 1), t, now), Some(now + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let t = 1_700_000_015;
        let good = code_at(RFC_SECRET, step_at(t));
        for bad in ["", "12345", "1234567", "12345a", " 12345", "１２３４５６"] {
            assert_eq!(matching_step(RFC_SECRET, bad, t, 0), None, "{bad:?}");
        }
        let spaced = format!("{} ", &good[..5]);
        assert_eq!(matching_step(RFC_SECRET, &spaced, t, 0), None);
    }

    #[test]
    fn base32_round_trip_is_strict() {
        let s = base32(RFC_SECRET);
        assert_eq!(s, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode(&s).as_deref(), Some(RFC_SECRET));
        assert_eq!(base32_decode("gezdgnbv"), None, "lower case");
        assert_eq!(base32_decode("A"), None, "non-canonical length");
    }
}
