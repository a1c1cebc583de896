//! What a user allowed the tools that sign in through gatehouse, as the account
//! page lists it; withdrawing a consent means the next sign-in asks again.

use crate::domain::access::Principal;
use crate::domain::{AuditEvent, Auth, Ctx, Error};

/// One consent, as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentInfo {
    /// The client.
    pub client_id: String,
    /// Its name (or the id, if it has been removed since).
    pub client_name: String,
    /// Scopes allowed.
    pub scopes: Vec<String>,
    /// When.
    pub granted_at: i64,
}

impl Auth {
    /// The caller's consents.
    pub fn consents(&self, who: &Principal) -> Result<Vec<ConsentInfo>, Error> {
        self.store.read(|r| {
            let mut out = Vec::new();
            for (client_id, c) in r.consents_of(who.id())? {
                let client_name = r.client(&client_id)?.map_or_else(|| client_id.clone(), |c| c.name);
                out.push(ConsentInfo { client_id, client_name, scopes: c.scopes, granted_at: c.granted_at });
            }
            Ok(out)
        })
    }

    /// Withdraws the caller's consent to `client_id` (404 when there is none).
    pub fn revoke_consent(&self, ctx: &Ctx, who: &Principal, client_id: &str) -> Result<(), Error> {
        self.store.write(|tx| {
            if !tx.delete_consent(who.id(), client_id)? {
                return Err(Error::NotFound("Consent not found"));
            }
            let what = format!("to client {client_id}, by its user");
            tx.append_audit(&self.audit_record(
                ctx,
                AuditEvent::ConsentRevoked,
                Some(&who.user),
                Some(what),
            ))?;
            Ok(())
        })
    }
}
