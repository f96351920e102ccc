//! Mapping verified claims onto a [`TokenIdentity`].

use serde_json::Value;

use super::{JwtSettings, TokenIdentity};
use crate::{AuthError, Result, Role};

/// Finds a claim: the exact name first (claim names may contain dots, as in
/// `https://example.com/tenant`), then the name as a dotted path into objects.
pub(crate) fn lookup<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    if !name.contains('.') {
        return None;
    }
    name.split('.')
        .try_fold(claims, |value, part| value.get(part))
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// A string or number claim as text.
fn scalar_text(claims: &Value, name: &str) -> Result<Option<String>> {
    match present(lookup(claims, name)) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(AuthError::unauthorized(format!(
            "claim `{name}` must be a string"
        ))),
    }
}

/// Splits `"a b,c"` into `["a", "b", "c"]`.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
}

/// Strings from an array claim or a space/comma-separated string claim.
fn string_list(value: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    match present(value) {
        Some(Value::String(s)) => split_list(s).for_each(&mut push),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) => push(s.trim()),
                    Value::Number(n) => push(&n.to_string()),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

pub(crate) fn map_claims(claims: &Value, settings: &JwtSettings) -> Result<TokenIdentity> {
    let tenant = match scalar_text(claims, &settings.tenant_claim)? {
        Some(t) => t,
        None => settings.default_tenant.clone().ok_or_else(|| {
            AuthError::unauthorized(format!(
                "token has no `{}` (tenant) claim and no default tenant is configured",
                settings.tenant_claim
            ))
        })?,
    };
    if cairn_types::validate_slug(&tenant).is_err() {
        return Err(AuthError::unauthorized(format!(
            "claim `{}` is not a valid tenant name: use 1-64 characters of a-z, 0-9, '-' or '_'",
            settings.tenant_claim
        )));
    }
    let user = scalar_text(claims, &settings.user_claim)?.ok_or_else(|| {
        AuthError::unauthorized(format!(
            "token has no `{}` (user) claim",
            settings.user_claim
        ))
    })?;
    let groups = string_list(lookup(claims, &settings.groups_claim));
    let by_group = groups
        .iter()
        .filter_map(|g| settings.group_roles.get(g).copied());
    let role = string_list(lookup(claims, &settings.role_claim))
        .iter()
        .filter_map(|r| Role::parse(r))
        .chain(by_group)
        .max()
        .or(settings.default_role)
        .unwrap_or(Role::Member);
    let expires_at = claims.get("exp").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            .or_else(|| v.as_f64().map(|f| f as i64))
    });
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(TokenIdentity {
        tenant,
        user,
        groups,
        role,
        expires_at,
        issuer,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn settings() -> JwtSettings {
        JwtSettings::default().with_defaults()
    }

    #[test]
    fn exact_names_win_over_paths() {
        let claims = json!({"org.id": "flat", "org": {"id": "nested"}, "a": {"b": {"c": 1}}});
        assert_eq!(lookup(&claims, "org.id"), Some(&json!("flat")));
        assert_eq!(lookup(&claims, "a.b.c"), Some(&json!(1)));
        assert_eq!(lookup(&claims, "a.x.c"), None);
        assert_eq!(lookup(&claims, "missing"), None);
    }

    #[test]
    fn groups_and_roles_from_strings_and_arrays() {
        assert_eq!(
            string_list(Some(&json!("eng, ops  sales,,eng"))),
            vec!["eng", "ops", "sales"]
        );
        assert_eq!(
            string_list(Some(&json!(["eng", 7, {"x": 1}, "eng", " "]))),
            vec!["eng", "7"]
        );
        assert!(string_list(Some(&Value::Null)).is_empty());

        let mut claims =
            json!({"sub": "u", "tenant": "acme", "role": ["viewer", "Admin", "wizard"]});
        assert_eq!(map_claims(&claims, &settings()).unwrap().role, Role::Admin);
        claims["role"] = json!("wizard");
        assert_eq!(map_claims(&claims, &settings()).unwrap().role, Role::Member);
        let mut s = settings();
        s.default_role = Some(Role::Viewer);
        assert_eq!(map_claims(&claims, &s).unwrap().role, Role::Viewer);
    }

    #[test]
    fn groups_grant_their_mapped_role_and_the_highest_wins() {
        let mut s = settings();
        s.group_roles.insert("cairn-admins".into(), Role::Admin);
        s.group_roles.insert("readers".into(), Role::Viewer);
        let claims = |groups: Value, role: Value| json!({"sub": "u", "tenant": "acme", "groups": groups, "role": role});
        let role = |c: &Value| map_claims(c, &s).unwrap().role;
        assert_eq!(
            role(&claims(json!(["eng", "cairn-admins"]), Value::Null)),
            Role::Admin
        );
        assert_eq!(role(&claims(json!(["readers"]), Value::Null)), Role::Viewer);
        assert_eq!(
            role(&claims(json!(["readers"]), json!("editor"))),
            Role::Editor
        );
        assert_eq!(role(&claims(json!(["eng"]), Value::Null)), Role::Member);
        // A group name is matched exactly: no case folding, no prefixes.
        assert_eq!(
            role(&claims(
                json!(["Cairn-Admins", "cairn-admins-x"]),
                Value::Null
            )),
            Role::Member
        );
    }

    #[test]
    fn missing_or_bad_tenant_and_user() {
        let err = map_claims(&json!({"sub": "u"}), &settings()).unwrap_err();
        assert!(err.message().contains("no `tenant`"), "{err}");
        let mut s = settings();
        s.default_tenant = Some("default".into());
        assert_eq!(
            map_claims(&json!({"sub": "u"}), &s).unwrap().tenant,
            "default"
        );

        let err = map_claims(&json!({"tenant": "acme"}), &settings()).unwrap_err();
        assert!(err.message().contains("no `sub`"), "{err}");
        let err = map_claims(&json!({"tenant": "Acme Corp", "sub": "u"}), &settings()).unwrap_err();
        assert!(err.message().contains("not a valid tenant"), "{err}");
        let err = map_claims(&json!({"tenant": ["acme"], "sub": "u"}), &settings()).unwrap_err();
        assert!(err.message().contains("must be a string"), "{err}");
        let id = map_claims(
            &json!({"tenant": "acme", "sub": 42, "exp": 1700000000}),
            &settings(),
        )
        .unwrap();
        assert_eq!(id.user, "42");
        assert_eq!(id.expires_at, Some(1_700_000_000));
        assert!(id.groups.is_empty());
    }
}
