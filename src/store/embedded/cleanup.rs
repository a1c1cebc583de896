//! Removing what has expired, in small batches: each call deletes at most `max` rows
//! per table in one write transaction, so even a million expired rows never hold the
//! write lock for long. Callers loop until a batch comes back short.

use super::tx::WriteTx;
use crate::store::{Reads, StoreError};
use redb::ReadableTable;

fn key_array(key: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    if key.len() == 32 {
        a.copy_from_slice(key);
    }
    a
}

impl WriteTx<'_> {
    /// Deletes up to `max` refresh sessions that expired before `now` (seconds).
    pub(super) fn refresh_purge(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        let mut doomed: Vec<(i64, Vec<u8>)> = Vec::new();
        for row in self.t_refresh_expiry.range(..(now, &[][..]))?.take(max) {
            let (k, _) = row?;
            let (exp, key) = k.value();
            doomed.push((exp, key.to_vec()));
        }
        for (exp, key) in &doomed {
            self.t_refresh_expiry.remove((*exp, key.as_slice()))?;
            // A session lives as long as its newest refresh token: when that one
            // expires, the session row goes too.
            if let Some(r) = self.refresh(&key_array(key))? {
                if let Some(s) = self.session(r.user_id, &r.family)? {
                    if s.expires_at <= *exp {
                        self.remove_session(r.user_id, &r.family)?;
                    }
                }
            }
            self.remove_refresh(key)?;
        }
        Ok(doomed.len())
    }

    /// Deletes up to `max` denylist entries whose token expired before `now` (seconds).
    pub(super) fn denylist_purge(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        let mut doomed: Vec<(i64, String)> = Vec::new();
        for row in self.t_denylist_expiry.range(..(now, ""))?.take(max) {
            let (k, _) = row?;
            let (exp, jti) = k.value();
            doomed.push((exp, jti.to_owned()));
        }
        for (exp, jti) in &doomed {
            self.t_denylist_expiry.remove((*exp, jti.as_str()))?;
            self.remove_revoked(jti)?;
        }
        Ok(doomed.len())
    }
}
