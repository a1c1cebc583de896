//! The tutorial's authorization tables, in one place: permissions per role, the role
//! hierarchy, the OAuth2 scope list and which scopes each role may hold. Handlers ask
//! these functions; they never compare roles themselves.

use crate::store::records::Role;

/// The tutorial's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// read:own_profile
    ReadOwnProfile,
    /// update:own_profile
    UpdateOwnProfile,
    /// delete:own_account
    DeleteOwnAccount,
    /// create:post
    CreatePost,
    /// read:post
    ReadPost,
    /// update:own_post
    UpdateOwnPost,
    /// delete:own_post
    DeleteOwnPost,
    /// read:all_users
    ReadAllUsers,
    /// update:any_user
    UpdateAnyUser,
    /// delete:any_user
    DeleteAnyUser,
    /// update:any_post
    UpdateAnyPost,
    /// delete:any_post
    DeleteAnyPost,
    /// manage:roles
    ManageRoles,
    /// view:audit_log
    ViewAuditLog,
    /// manage:system
    ManageSystem,
}

impl Permission {
    /// The tutorial's string value.
    pub fn as_str(self) -> &'static str {
        use Permission::*;
        match self {
            ReadOwnProfile => "read:own_profile",
            UpdateOwnProfile => "update:own_profile",
            DeleteOwnAccount => "delete:own_account",
            CreatePost => "create:post",
            ReadPost => "read:post",
            UpdateOwnPost => "update:own_post",
            DeleteOwnPost => "delete:own_post",
            ReadAllUsers => "read:all_users",
            UpdateAnyUser => "update:any_user",
            DeleteAnyUser => "delete:any_user",
            UpdateAnyPost => "update:any_post",
            DeleteAnyPost => "delete:any_post",
            ManageRoles => "manage:roles",
            ViewAuditLog => "view:audit_log",
            ManageSystem => "manage:system",
        }
    }
}

const USER_PERMS: &[Permission] = &[
    Permission::ReadOwnProfile,
    Permission::UpdateOwnProfile,
    Permission::DeleteOwnAccount,
    Permission::CreatePost,
    Permission::ReadPost,
    Permission::UpdateOwnPost,
    Permission::DeleteOwnPost,
];
const MODERATOR_EXTRA: &[Permission] =
    &[Permission::UpdateAnyPost, Permission::DeleteAnyPost, Permission::ReadAllUsers];
const ADMIN_EXTRA: &[Permission] = &[
    Permission::UpdateAnyUser,
    Permission::DeleteAnyUser,
    Permission::ManageRoles,
    Permission::ViewAuditLog,
];

/// ROLE_PERMISSIONS: whether `role` holds `perm`.
pub fn has_permission(role: Role, perm: Permission) -> bool {
    match role {
        Role::SuperAdmin => true,
        Role::Admin => {
            USER_PERMS.contains(&perm) || MODERATOR_EXTRA.contains(&perm) || ADMIN_EXTRA.contains(&perm)
        }
        Role::Moderator => USER_PERMS.contains(&perm) || MODERATOR_EXTRA.contains(&perm),
        Role::User => USER_PERMS.contains(&perm),
    }
}

/// ROLE_HIERARCHY level (user 1 … super_admin 4).
pub fn level(role: Role) -> u8 {
    match role {
        Role::User => 1,
        Role::Moderator => 2,
        Role::Admin => 3,
        Role::SuperAdmin => 4,
    }
}

/// OAUTH2_SCOPES, in the tutorial's order, with descriptions.
pub const SCOPES: [(&str, &str); 8] = [
    ("profile:read", "Read your profile information"),
    ("profile:write", "Update your profile information"),
    ("posts:read", "Read posts"),
    ("posts:write", "Create and edit posts"),
    ("posts:delete", "Delete posts"),
    ("users:read", "Read user information (admin)"),
    ("users:write", "Modify user accounts (admin)"),
    ("admin", "Full administrative access"),
];

/// Scopes gatehouse adds to the tutorial's list. They are never granted by
/// default: a login or API key gets one only by asking for it. The OpenID ones
/// are for the tools that sign people in through gatehouse.
pub const EXTRA_SCOPES: [(&str, &str); 5] = [
    ("introspect", "Ask gatehouse about tokens (RFC 7662 introspection)"),
    ("openid", "Sign you in"),
    ("profile", "See your name and username"),
    ("email", "See your email address"),
    ("offline_access", "Stay signed in after you leave"),
];

/// The OpenID Connect scopes: any role may hold them.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The scope's name as the tables spell it, if it is one.
pub fn known_scope(scope: &str) -> Option<&'static str> {
    SCOPES.iter().chain(EXTRA_SCOPES.iter()).map(|(s, _)| *s).find(|s| *s == scope)
}

/// Whether `role` may hold `scope`: the tutorial's map, plus `introspect` for
/// admins and super_admins.
pub fn scope_allowed(role: Role, scope: &str) -> bool {
    if scope == "introspect" {
        return matches!(role, Role::Admin | Role::SuperAdmin);
    }
    if OIDC_SCOPES.contains(&scope) {
        return true;
    }
    tutorial_scope_allowed(role, scope)
}

/// get_allowed_scopes_for_role: whether `role` may hold `scope`.
fn tutorial_scope_allowed(role: Role, scope: &str) -> bool {
    let base = matches!(scope, "profile:read" | "profile:write" | "posts:read");
    match role {
        Role::User => base || scope == "posts:write",
        Role::Moderator => base || matches!(scope, "posts:write" | "posts:delete" | "users:read"),
        Role::Admin => {
            base || matches!(scope, "posts:write" | "posts:delete" | "users:read" | "users:write" | "admin")
        }
        Role::SuperAdmin => SCOPES.iter().any(|(s, _)| *s == scope),
    }
}

/// Every tutorial scope `role` may hold, in the canonical order: what a login that
/// asks for none is granted.
pub fn allowed_scopes(role: Role) -> Vec<String> {
    SCOPES.iter().filter(|(s, _)| tutorial_scope_allowed(role, s)).map(|(s, _)| (*s).to_owned()).collect()
}

/// The tutorial's login rule: none requested → everything the role allows;
/// otherwise the requested scopes the role allows (unknown ones dropped), in the
/// order asked, without duplicates.
pub fn grant_scopes(role: Role, requested: &[String]) -> Vec<String> {
    if requested.is_empty() {
        return allowed_scopes(role);
    }
    let mut out: Vec<String> = Vec::new();
    for s in requested {
        if scope_allowed(role, s) && !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Narrows scopes kept by a session to what `role` allows now (refresh after demotion).
pub fn narrow_scopes(role: Role, held: &[String]) -> Vec<String> {
    held.iter().filter(|s| scope_allowed(role, s)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_table_matches_tutorial() {
        assert!(has_permission(Role::User, Permission::ReadPost));
        assert!(!has_permission(Role::User, Permission::ReadAllUsers));
        assert!(has_permission(Role::Moderator, Permission::ReadAllUsers));
        assert!(!has_permission(Role::Moderator, Permission::ManageRoles));
        assert!(has_permission(Role::Admin, Permission::ManageRoles));
        assert!(has_permission(Role::Admin, Permission::ViewAuditLog));
        assert!(!has_permission(Role::Admin, Permission::ManageSystem));
        assert!(has_permission(Role::SuperAdmin, Permission::ManageSystem));
    }

    #[test]
    fn scopes_per_role() {
        assert_eq!(
            allowed_scopes(Role::User),
            ["profile:read", "profile:write", "posts:read", "posts:write"]
        );
        assert_eq!(
            allowed_scopes(Role::Moderator),
            ["profile:read", "profile:write", "posts:read", "posts:write", "posts:delete", "users:read"]
        );
        assert_eq!(allowed_scopes(Role::Admin).len(), 8);
        assert_eq!(allowed_scopes(Role::SuperAdmin).len(), 8);
    }

    #[test]
    fn grant_filters_requested() {
        let req = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            grant_scopes(Role::User, &req(&["admin", "posts:read", "bogus", "posts:read"])),
            ["posts:read"]
        );
        assert!(grant_scopes(Role::User, &req(&["admin"])).is_empty());
        assert!(grant_scopes(Role::User, &req(&["introspect"])).is_empty());
        assert_eq!(grant_scopes(Role::Admin, &req(&["introspect"])), ["introspect"]);
        assert!(!allowed_scopes(Role::SuperAdmin).contains(&"introspect".to_string()), "never by default");
        assert_eq!(grant_scopes(Role::User, &[]), allowed_scopes(Role::User));
        assert_eq!(narrow_scopes(Role::User, &req(&["admin", "profile:read"])), ["profile:read"]);
    }
}
