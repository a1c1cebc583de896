//! Spending a presented one-time code against a user's [`MfaRecord`]: a TOTP code
//! (six digits) or a recovery code. Pure functions on the record: the caller runs
//! them inside the write transaction that stores the record again, so a code is
//! spent at most once even when requests race (the store has one writer at a
//! time, and an engine with several re-runs the transaction on conflict).

use crate::clock::Micros;
use crate::crypto::secrets::{constant_time_eq, random_bytes, sha256};
use crate::crypto::totp;
use crate::store::records::mfa::{MfaRecord, RecoveryCode};

/// How many recovery codes a user holds after (re)generating them.
pub const RECOVERY_CODES: usize = 10;

/// Characters of a recovery code, without its dashes (80 random bits).
const RECOVERY_CHARS: usize = 16;

/// Which kind of code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// A TOTP code from the authenticator app.
    Totp,
    /// One of the recovery codes (now used up).
    Recovery,
    /// A passkey's assertion (checked in `passkey_login.rs`, never by [`spend`]).
    Passkey,
}

/// The code as typed, without the spaces and dashes people copy along with it.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Spends `code` against `rec`: a TOTP code of a step after the last one accepted,
/// or an unused recovery code. On success the record is updated (the step
/// remembered, the recovery code marked used) and must be stored in the same
/// transaction. A pending (unconfirmed) TOTP secret never counts.
pub fn spend(rec: &mut MfaRecord, code: &str, now_secs: i64, now: Micros) -> Option<Spent> {
    let code = normalise(code);
    if code.is_empty() || code.len() > 64 {
        return None;
    }
    if code.len() == totp::DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit()) {
        let factor = rec.totp.as_mut()?;
        let step = totp::matching_step(&factor.secret, &code, now_secs, factor.last_step)?;
        factor.last_step = step;
        return Some(Spent::Totp);
    }
    if !rec.has_factor() {
        return None;
    }
    let digest = sha256(code.as_bytes());
    // Look at every code, so the time taken does not say which one matched.
    let mut hit = None;
    for (i, c) in rec.recovery.iter().enumerate() {
        if constant_time_eq(&c.digest, &digest) && c.used_at.is_none() && hit.is_none() {
            hit = Some(i);
        }
    }
    let slot = rec.recovery.get_mut(hit?)?;
    slot.used_at = Some(now);
    Some(Spent::Recovery)
}

/// Unused recovery codes left.
pub fn recovery_left(rec: &MfaRecord) -> usize {
    rec.recovery.iter().filter(|c| c.used_at.is_none()).count()
}

/// A fresh set of recovery codes: the codes to show once (`xxxx-xxxx-xxxx-xxxx`,
/// lower-case base32) and the digests to keep.
pub fn new_recovery_codes() -> Result<(Vec<String>, Vec<RecoveryCode>), crate::crypto::secrets::RandomError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut kept = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = totp::base32(&random_bytes::<10>()?).to_lowercase();
        debug_assert_eq!(raw.len(), RECOVERY_CHARS);
        kept.push(RecoveryCode { digest: sha256(raw.as_bytes()), used_at: None });
        let groups: Vec<&str> = [0, 4, 8, 12].iter().filter_map(|&i| raw.get(i..i + 4)).collect();
        shown.push(groups.join("-"));
    }
    Ok((shown, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::mfa::TotpFactor;

    const NOW: i64 = 1_700_000_015;

    fn record() -> (MfaRecord, Vec<String>) {
        let (shown, kept) = new_recovery_codes().unwrap();
        let rec = MfaRecord {
            totp: Some(TotpFactor { secret: vec![42; 20], enrolled_at: 1, last_step: 0 }),
            recovery: kept,
            ..MfaRecord::default()
        };
        (rec, shown)
    }

    #[test]
    fn a_totp_code_is_spent_once() {
        let (mut rec, _) = record();
        let code = totp::code_at(&[42; 20], totp::step_at(NOW));
        assert_eq!(spend(&mut rec, &code, NOW, 5), Some(Spent::Totp));
        assert_eq!(spend(&mut rec, &code, NOW, 6), None, "replayed within its window");
        assert_eq!(spend(&mut rec, &code, NOW + 29, 6), None, "replayed in the next step's window");
        let previous = totp::code_at(&[42; 20], totp::step_at(NOW) - 1);
        assert_eq!(spend(&mut rec, &previous, NOW, 6), None, "an older step after a newer one");
    }

    #[test]
    fn spaced_codes_are_accepted_as_typed() {
        let (mut rec, shown) = record();
        let code = totp::code_at(&[42; 20], totp::step_at(NOW));
        let typed = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(spend(&mut rec, &typed, NOW, 5), Some(Spent::Totp));
        let upper = shown[0].to_uppercase().replace('-', " ");
        assert_eq!(spend(&mut rec, &upper, NOW, 5), Some(Spent::Recovery));
    }

    #[test]
    fn recovery_codes_are_single_use() {
        let (mut rec, shown) = record();
        assert_eq!(recovery_left(&rec), 10);
        assert_eq!(spend(&mut rec, &shown[3], NOW, 7), Some(Spent::Recovery));
        assert_eq!(rec.recovery[3].used_at, Some(7));
        assert_eq!(spend(&mut rec, &shown[3], NOW, 8), None, "reused");
        assert_eq!(recovery_left(&rec), 9);
        assert_eq!(spend(&mut rec, "aaaa-bbbb-cccc-dddd", NOW, 8), None, "never issued");
    }

    #[test]
    fn nothing_counts_without_a_factor() {
        let (mut rec, shown) = record();
        let code = totp::code_at(&[42; 20], totp::step_at(NOW));
        rec.totp = None;
        assert_eq!(spend(&mut rec, &code, NOW, 5), None);
        assert_eq!(spend(&mut rec, &shown[0], NOW, 5), None, "recovery codes need a factor to recover");
    }

    #[test]
    fn codes_look_right_and_differ() {
        let (shown, kept) = new_recovery_codes().unwrap();
        assert_eq!(shown.len(), 10);
        for s in &shown {
            assert_eq!(s.len(), 19, "{s}");
            assert!(s.chars().all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c)), "{s}");
        }
        let mut uniq = shown.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 10);
        assert_eq!(kept[0].digest, sha256(shown[0].replace('-', "").as_bytes()));
    }
}
