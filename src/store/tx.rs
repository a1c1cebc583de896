//! Typed transactions over the tables listed in `store/mod.rs`. Reads are shared by
//! both kinds through the `reads!` macro; writes keep the unique indexes and the
//! dashboard counters in step with every user change.

use super::records::{ApiKeyRecord, AuditRecord, KeySet, RefreshSession, SessionRecord, Stats, User};
use super::{
    decode_u64, fold, StoreError, UniqueField, API_KEYS, API_KEY_IDS, AUDIT, AUDIT_BY_EVENT, AUDIT_BY_USER,
    DENYLIST, DENYLIST_EXPIRY, EMAILS, LOGIN_HOURS, META, META_KEYS, META_NEXT_ID, META_STATS, REFRESH,
    REFRESH_EXPIRY, SESSIONS, USERNAMES, USERS,
};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

/// One page of users, and how many rows reading it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The users, in id order.
    pub users: Vec<User>,
    /// Rows read from the users table to produce the page.
    pub rows_scanned: u64,
}

/// Reads shared by both transaction kinds.
macro_rules! reads {
    () => {
        /// A user by id.
        pub fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
            match self.t_users()?.get(id)? {
                Some(v) => Ok(Some(User::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user id by username (case-insensitive).
        pub fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.t_usernames()?.get(fold(username).as_str())?.map(|v| v.value()))
        }

        /// A user id by email (case-insensitive).
        pub fn user_id_by_email(&self, email: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.t_emails()?.get(fold(email).as_str())?.map(|v| v.value()))
        }

        /// A user by username (case-insensitive).
        pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
            match self.user_id_by_name(username)? {
                Some(id) => self.user(id),
                None => Ok(None),
            }
        }

        /// A refresh session by the hash of its jti.
        pub fn refresh(&self, key: &[u8; 32]) -> Result<Option<RefreshSession>, StoreError> {
            match self.t_refresh()?.get(key.as_slice())? {
                Some(v) => Ok(Some(RefreshSession::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// One of a user's sessions.
        pub fn session(&self, user_id: u64, id: &str) -> Result<Option<SessionRecord>, StoreError> {
            match self.t_sessions()?.get((user_id, id))? {
                Some(v) => Ok(Some(SessionRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user's sessions (at most `max` rows read; one user's range, never a scan).
        pub fn sessions_of(&self, user_id: u64, max: usize) -> Result<Vec<SessionRecord>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_sessions()?.range((user_id, "")..(user_id.saturating_add(1), ""))?.take(max) {
                out.push(SessionRecord::decode(row?.1.value())?);
            }
            Ok(out)
        }

        /// Login totals per hour for hours `from..to` (hours since the epoch), as
        /// (hour, successes, failures); hours without logins are absent.
        pub fn login_hours(&self, from: u64, to: u64) -> Result<Vec<(u64, u64, u64)>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_login_hours()?.range(from..to)? {
                let (k, v) = row?;
                let (ok, failed) = v.value();
                out.push((k.value(), ok, failed));
            }
            Ok(out)
        }

        /// Whether an access token's jti has been revoked.
        pub fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
            Ok(self.t_denylist()?.get(jti)?.is_some())
        }

        /// The dashboard counters.
        pub fn stats(&self) -> Result<Stats, StoreError> {
            match self.t_meta()?.get(META_STATS)? {
                Some(v) => Ok(Stats::decode(v.value())?),
                None => Ok(Stats::default()),
            }
        }

        /// The signing keys.
        pub fn keys(&self) -> Result<KeySet, StoreError> {
            match self.t_meta()?.get(META_KEYS)? {
                Some(v) => Ok(KeySet::decode(v.value())?),
                None => Ok(KeySet::default()),
            }
        }

        /// Users in id order: `limit` of them after skipping `skip`. While no user
        /// has ever been deleted, ids are dense and the page is one range read of
        /// exactly the rows returned; `rows_scanned` says how many rows were read.
        pub fn users_page(&self, skip: u64, limit: usize) -> Result<UserPage, StoreError> {
            let next_id = match self.t_meta()?.get(META_NEXT_ID)? {
                Some(v) => decode_u64(v.value()).unwrap_or(1),
                None => 1,
            };
            let dense = self.stats()?.total + 1 == next_id;
            let mut page = UserPage { users: Vec::with_capacity(limit.min(1024)), rows_scanned: 0 };
            let users = self.t_users()?;
            let rows: Box<dyn Iterator<Item = _>> = if dense {
                Box::new(users.range(skip.saturating_add(1)..)?)
            } else {
                Box::new(users.iter()?.skip(usize::try_from(skip).unwrap_or(usize::MAX)))
            };
            for row in rows.take(limit) {
                let (_, v) = row?;
                page.users.push(User::decode(v.value())?);
            }
            page.rows_scanned = if dense { page.users.len() as u64 } else { skip + page.users.len() as u64 };
            Ok(page)
        }

        /// Ids of users whose username or email starts with `prefix` (case-insensitive),
        /// at most `limit`, by ordered index range reads (no scan).
        pub fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<u64>, StoreError> {
            let p = fold(prefix);
            let mut ids: Vec<u64> = Vec::new();
            for index in [self.t_usernames()?, self.t_emails()?] {
                for row in index.range(p.as_str()..)? {
                    let (k, v) = row?;
                    if !k.value().starts_with(p.as_str()) || ids.len() >= limit {
                        break;
                    }
                    if !ids.contains(&v.value()) {
                        ids.push(v.value());
                    }
                }
            }
            ids.sort_unstable();
            ids.truncate(limit);
            Ok(ids)
        }

        /// An API key by its lookup id (the first 16 bytes of the key's SHA-256).
        pub fn api_key(&self, lookup: &[u8; 16]) -> Result<Option<ApiKeyRecord>, StoreError> {
            match self.t_api_keys()?.get(lookup.as_slice())? {
                Some(v) => Ok(Some(ApiKeyRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user's API keys with their lookup ids, in key-id order.
        pub fn api_keys_of(&self, user_id: u64) -> Result<Vec<([u8; 16], ApiKeyRecord)>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_api_key_ids()?.range((user_id, "")..(user_id.saturating_add(1), ""))? {
                let (_, h) = row?;
                let hash: [u8; 16] =
                    h.value().try_into().map_err(|_| StoreError::Decode("api key lookup id".into()))?;
                if let Some(rec) = self.api_key(&hash)? {
                    out.push((hash, rec));
                }
            }
            Ok(out)
        }
    };
}

/// A read-only snapshot. Tables are opened on first use, so a token check that
/// reads one user and one denylist entry opens two tables, not all of them.
pub struct ReadTx {
    txn: ReadTransaction,
}

macro_rules! read_tables {
    ($($name:ident: $def:ident => $k:ty, $v:ty;)*) => {
        impl ReadTx {
            $(
                pub(super) fn $name(&self) -> Result<ReadOnlyTable<$k, $v>, StoreError> {
                    Ok(self.txn.open_table($def)?)
                }
            )*
        }
        #[allow(dead_code)] // not every table is read back inside a write
        impl<'t> WriteTx<'t> {
            $(
                pub(super) fn $name(&self) -> Result<&Table<'t, $k, $v>, StoreError> {
                    Ok(&self.$name)
                }
            )*
        }
    };
}

read_tables! {
    t_meta: META => &'static str, &'static [u8];
    t_users: USERS => u64, &'static [u8];
    t_usernames: USERNAMES => &'static str, u64;
    t_emails: EMAILS => &'static str, u64;
    t_refresh: REFRESH => &'static [u8], &'static [u8];
    t_denylist: DENYLIST => &'static str, i64;
    t_api_keys: API_KEYS => &'static [u8], &'static [u8];
    t_api_key_ids: API_KEY_IDS => (u64, &'static str), &'static [u8];
    t_audit: AUDIT => (u64, u64), &'static [u8];
    t_audit_by_user: AUDIT_BY_USER => (u64, u64, u64), ();
    t_audit_by_event: AUDIT_BY_EVENT => (u8, u64, u64), ();
    t_sessions: SESSIONS => (u64, &'static str), &'static [u8];
    t_login_hours: LOGIN_HOURS => u64, (u64, u64);
}

impl ReadTx {
    pub(super) fn open(txn: ReadTransaction) -> Self {
        Self { txn }
    }
    reads!();
}

/// An open write transaction.
pub struct WriteTx<'t> {
    t_meta: Table<'t, &'static str, &'static [u8]>,
    t_users: Table<'t, u64, &'static [u8]>,
    t_usernames: Table<'t, &'static str, u64>,
    t_emails: Table<'t, &'static str, u64>,
    t_refresh: Table<'t, &'static [u8], &'static [u8]>,
    t_denylist: Table<'t, &'static str, i64>,
    t_api_keys: Table<'t, &'static [u8], &'static [u8]>,
    t_api_key_ids: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(super) t_audit: Table<'t, (u64, u64), &'static [u8]>,
    pub(super) t_audit_by_user: Table<'t, (u64, u64, u64), ()>,
    pub(super) t_audit_by_event: Table<'t, (u8, u64, u64), ()>,
    pub(super) t_refresh_expiry: Table<'t, (i64, &'static [u8]), ()>,
    pub(super) t_denylist_expiry: Table<'t, (i64, &'static str), ()>,
    t_sessions: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(super) t_login_hours: Table<'t, u64, (u64, u64)>,
    /// Audit rows written in this transaction, logged once it commits.
    pub(super) audit_written: Vec<AuditRecord>,
}

impl<'t> WriteTx<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            t_meta: txn.open_table(META)?,
            t_users: txn.open_table(USERS)?,
            t_usernames: txn.open_table(USERNAMES)?,
            t_emails: txn.open_table(EMAILS)?,
            t_refresh: txn.open_table(REFRESH)?,
            t_denylist: txn.open_table(DENYLIST)?,
            t_api_keys: txn.open_table(API_KEYS)?,
            t_api_key_ids: txn.open_table(API_KEY_IDS)?,
            t_audit: txn.open_table(AUDIT)?,
            t_audit_by_user: txn.open_table(AUDIT_BY_USER)?,
            t_audit_by_event: txn.open_table(AUDIT_BY_EVENT)?,
            t_refresh_expiry: txn.open_table(REFRESH_EXPIRY)?,
            t_denylist_expiry: txn.open_table(DENYLIST_EXPIRY)?,
            t_sessions: txn.open_table(SESSIONS)?,
            t_login_hours: txn.open_table(LOGIN_HOURS)?,
            audit_written: Vec::new(),
        })
    }
    reads!();

    /// Inserts a new user, assigning its id. Fails with [`StoreError::Duplicate`] if
    /// the username or email is taken (username checked first).
    pub fn insert_user(&mut self, mut user: User) -> Result<User, StoreError> {
        let name = fold(&user.username);
        let email = fold(&user.email);
        if self.t_usernames.get(name.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Username));
        }
        if self.t_emails.get(email.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        let id = match self.t_meta.get(META_NEXT_ID)? {
            Some(v) => decode_u64(v.value()).ok_or_else(|| StoreError::Decode("user id counter".into()))?,
            None => 1,
        };
        self.t_meta.insert(META_NEXT_ID, (id + 1).to_le_bytes().as_slice())?;
        user.id = id;
        self.t_usernames.insert(name.as_str(), id)?;
        self.t_emails.insert(email.as_str(), id)?;
        self.t_users.insert(id, user.encode()?.as_slice())?;
        self.bump_stats(None, Some(&user))?;
        Ok(user)
    }

    /// Replaces a user record, keeping the email index and counters in step.
    /// The username never changes.
    pub fn update_user(&mut self, new: &User) -> Result<(), StoreError> {
        let old = self
            .user(new.id)?
            .ok_or_else(|| StoreError::Database(format!("user {} vanished during update", new.id)))?;
        let (old_email, new_email) = (fold(&old.email), fold(&new.email));
        if old_email != new_email {
            if self.t_emails.get(new_email.as_str())?.is_some() {
                return Err(StoreError::Duplicate(UniqueField::Email));
            }
            self.t_emails.remove(old_email.as_str())?;
            self.t_emails.insert(new_email.as_str(), new.id)?;
        }
        self.t_users.insert(new.id, new.encode()?.as_slice())?;
        self.bump_stats(Some(&old), Some(new))?;
        Ok(())
    }

    /// Deletes a user record and its username and email index entries.
    pub fn delete_user(&mut self, user: &User) -> Result<(), StoreError> {
        self.t_users.remove(user.id)?;
        self.t_usernames.remove(fold(&user.username).as_str())?;
        self.t_emails.remove(fold(&user.email).as_str())?;
        self.bump_stats(Some(user), None)?;
        Ok(())
    }

    fn bump_stats(&mut self, old: Option<&User>, new: Option<&User>) -> Result<(), StoreError> {
        let mut stats = self.stats()?;
        stats.apply(old, new);
        self.t_meta.insert(META_STATS, stats.encode()?.as_slice())?;
        Ok(())
    }

    /// Stores (inserts or replaces) a refresh session.
    pub fn put_refresh(&mut self, key: &[u8; 32], session: &RefreshSession) -> Result<(), StoreError> {
        self.t_refresh.insert(key.as_slice(), session.encode()?.as_slice())?;
        self.t_refresh_expiry.insert((session.expires_at, key.as_slice()), ())?;
        Ok(())
    }

    /// Stores (inserts or replaces) a session.
    pub fn put_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.t_sessions.insert((s.user_id, s.id.as_str()), s.encode()?.as_slice())?;
        Ok(())
    }

    pub(super) fn remove_session(&mut self, user_id: u64, id: &str) -> Result<(), StoreError> {
        self.t_sessions.remove((user_id, id))?;
        Ok(())
    }

    /// Adds an access-token jti to the denylist until `exp`.
    pub fn revoke_jti(&mut self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.t_denylist.insert(jti, exp)?;
        self.t_denylist_expiry.insert((exp, jti), ())?;
        Ok(())
    }

    pub(super) fn remove_refresh(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.t_refresh.remove(key)?;
        Ok(())
    }

    pub(super) fn remove_revoked(&mut self, jti: &str) -> Result<(), StoreError> {
        self.t_denylist.remove(jti)?;
        Ok(())
    }

    /// Records the schema version (migrations only).
    pub fn set_schema_version(&mut self, v: u32) -> Result<(), StoreError> {
        self.t_meta.insert(super::META_SCHEMA, v.to_le_bytes().as_slice())?;
        Ok(())
    }

    /// Every user id (migrations only; a full scan).
    pub fn all_user_ids(&self) -> Result<Vec<u64>, StoreError> {
        let mut ids = Vec::new();
        for row in self.t_users.iter()? {
            ids.push(row?.0.value());
        }
        Ok(ids)
    }

    /// Replaces the signing keys.
    pub fn put_keys(&mut self, keys: &KeySet) -> Result<(), StoreError> {
        self.t_meta.insert(META_KEYS, keys.encode()?.as_slice())?;
        Ok(())
    }

    /// Stores an API key (insert or replace) and indexes it under its owner.
    pub fn put_api_key(&mut self, hash: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.t_api_keys.insert(hash.as_slice(), key.encode()?.as_slice())?;
        self.t_api_key_ids.insert((key.user_id, key.id.as_str()), hash.as_slice())?;
        Ok(())
    }

    /// Deletes an API key and its index entry.
    pub fn delete_api_key(&mut self, hash: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.t_api_keys.remove(hash.as_slice())?;
        self.t_api_key_ids.remove((key.user_id, key.id.as_str()))?;
        Ok(())
    }
}
