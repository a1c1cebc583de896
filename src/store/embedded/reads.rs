//! The reads both redb transaction kinds share ([`super::tx::ReadTx`] and
//! [`super::tx::WriteTx`]), as one macro expanded inside each `impl Reads`: the
//! table handles differ (a snapshot's lazily opened read-only tables, a write
//! transaction's tables), the lookups and decoding do not. Names in the body
//! resolve where it is expanded, in tx.rs.

/// Reads shared by both transaction kinds.
macro_rules! reads {
    () => {
        /// A user by id.
        fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
            match self.t_users()?.get(id)? {
                Some(v) => Ok(Some(User::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user id by username (case-insensitive).
        fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.t_usernames()?.get(fold(username).as_str())?.map(|v| v.value()))
        }

        /// A user id by email (case-insensitive).
        fn user_id_by_email(&self, email: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.t_emails()?.get(fold(email).as_str())?.map(|v| v.value()))
        }

        /// A refresh session by the hash of its jti.
        fn refresh(&self, key: &[u8; 32]) -> Result<Option<RefreshSession>, StoreError> {
            match self.t_refresh()?.get(key.as_slice())? {
                Some(v) => Ok(Some(RefreshSession::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// One of a user's sessions.
        fn session(&self, user_id: u64, id: &str) -> Result<Option<SessionRecord>, StoreError> {
            match self.t_sessions()?.get((user_id, id))? {
                Some(v) => Ok(Some(SessionRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user's sessions (at most `max` rows read; one user's range, never a scan).
        fn sessions_of(&self, user_id: u64, max: usize) -> Result<Vec<SessionRecord>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_sessions()?.range((user_id, "")..(user_id.saturating_add(1), ""))?.take(max) {
                out.push(SessionRecord::decode(row?.1.value())?);
            }
            Ok(out)
        }

        /// Login totals per hour for hours `from..to` (hours since the epoch), as
        /// (hour, successes, failures); hours without logins are absent.
        fn login_hours(&self, from: u64, to: u64) -> Result<Vec<(u64, u64, u64)>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_login_hours()?.range(from..to)? {
                let (k, v) = row?;
                let (ok, failed) = v.value();
                out.push((k.value(), ok, failed));
            }
            Ok(out)
        }

        /// Whether an access token's jti has been revoked.
        fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
            Ok(self.t_denylist()?.get(jti)?.is_some())
        }

        /// The dashboard counters.
        fn stats(&self) -> Result<Stats, StoreError> {
            match self.t_meta()?.get(META_STATS)? {
                Some(v) => Ok(Stats::decode(v.value())?),
                None => Ok(Stats::default()),
            }
        }

        /// Imported bcrypt hashes (none recorded: none imported).
        fn imported_hashes(&self) -> Result<ImportedHashes, StoreError> {
            match self.t_meta()?.get(META_IMPORTED_HASHES)? {
                Some(v) => Ok(ImportedHashes::decode(v.value())?),
                None => Ok(ImportedHashes::default()),
            }
        }

        /// The most expensive password-hash parameters stored (`None`: never
        /// recorded, e.g. a database from before it was kept).
        fn hash_cost(&self) -> Result<Option<HashCost>, StoreError> {
            match self.t_meta()?.get(META_HASH_COST)? {
                Some(v) => Ok(Some(HashCost::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// The signing keys.
        fn keys(&self) -> Result<KeySet, StoreError> {
            match self.t_meta()?.get(META_KEYS)? {
                Some(v) => Ok(KeySet::decode(v.value())?),
                None => Ok(KeySet::default()),
            }
        }

        /// Users in id order: `limit` of them after skipping `skip`. While no user
        /// has ever been deleted, ids are dense and the page is one range read of
        /// exactly the rows returned; `rows_scanned` says how many rows were read.
        fn users_page(&self, skip: u64, limit: usize) -> Result<UserPage, StoreError> {
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
        fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<u64>, StoreError> {
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
        fn api_key(&self, lookup: &[u8; 16]) -> Result<Option<ApiKeyRecord>, StoreError> {
            match self.t_api_keys()?.get(lookup.as_slice())? {
                Some(v) => Ok(Some(ApiKeyRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user's API keys with their lookup ids, in key-id order.
        fn api_keys_of(&self, user_id: u64) -> Result<Vec<([u8; 16], ApiKeyRecord)>, StoreError> {
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

        fn each_password_hash(&self, f: &mut dyn FnMut(&str)) -> Result<(), StoreError> {
            for row in self.t_users()?.iter()? {
                f(&User::decode(row?.1.value())?.password_hash);
            }
            Ok(())
        }

        fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
            match self.t_clients()?.get(id)? {
                Some(v) => Ok(Some(ClientRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_clients()?.iter()? {
                out.push(ClientRecord::decode(row?.1.value())?);
            }
            Ok(out)
        }

        fn code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, StoreError> {
            match self.t_codes()?.get(key.as_slice())? {
                Some(v) => Ok(Some(CodeRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        fn consent(&self, user_id: u64, client_id: &str) -> Result<Option<ConsentRecord>, StoreError> {
            match self.t_consents()?.get((user_id, client_id))? {
                Some(v) => Ok(Some(ConsentRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        fn consents_of(&self, user_id: u64) -> Result<Vec<(String, ConsentRecord)>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_consents()?.range((user_id, "")..(user_id.saturating_add(1), ""))? {
                let (k, v) = row?;
                out.push((k.value().1.to_owned(), ConsentRecord::decode(v.value())?));
            }
            Ok(out)
        }

        fn mfa(&self, user_id: u64) -> Result<Option<MfaRecord>, StoreError> {
            match self.t_mfa()?.get(user_id)? {
                Some(v) => Ok(Some(MfaRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        fn mfa_users(&self) -> Result<u64, StoreError> {
            match self.t_meta()?.get(META_MFA_USERS)? {
                Some(v) => decode_u64(v.value()).ok_or_else(|| StoreError::Decode("mfa user counter".into())),
                None => Ok(0),
            }
        }

        fn passkeys_of(&self, user_id: u64) -> Result<Vec<PasskeyRecord>, StoreError> {
            let mut out = Vec::new();
            for row in self.t_passkeys()?.range((user_id, "")..(user_id.saturating_add(1), ""))? {
                out.push(PasskeyRecord::decode(row?.1.value())?);
            }
            Ok(out)
        }

        fn passkey(&self, user_id: u64, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
            match self.t_passkeys()?.get((user_id, id))? {
                Some(v) => Ok(Some(PasskeyRecord::decode(v.value())?)),
                None => Ok(None),
            }
        }

        fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError> {
            let Some(v) = self.t_passkey_credentials()?.get(credential_id)? else { return Ok(None) };
            let (user_id, id) = v.value();
            self.passkey(user_id, id)
        }
    };
}

pub(super) use reads;
