//! Search filters. The tenant and collection are not filters: they select the space.
//! Everything here is applied inside the search (see the crate invariants).

use crate::catalog::DocAttrs;
use serde::{Deserialize, Serialize};

/// Whose view of the collection a search takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Access {
    /// Every document of the tenant (local operator, tenant admin).
    #[default]
    All,
    /// Documents whose ACL is empty or names this user or one of these groups.
    Principal {
        user: Option<String>,
        #[serde(default)]
        groups: Vec<String>,
    },
}

impl Access {
    /// The principal terms a document must carry one of (`*` = public), or `None` for
    /// unrestricted access.
    pub fn terms(&self) -> Option<Vec<String>> {
        match self {
            Self::All => None,
            Self::Principal { user, groups } => {
                let mut t = vec![PUBLIC.to_owned()];
                t.extend(user.iter().map(|u| format!("u:{u}")));
                t.extend(groups.iter().map(|g| format!("g:{g}")));
                Some(t)
            }
        }
    }
}

/// The principal term of documents with an empty ACL.
pub const PUBLIC: &str = "*";

/// Restrictions on what a search may return. Empty lists mean "no restriction"; within a
/// list any value matches; across fields all must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    #[serde(default)]
    pub access: Access,
    /// Full source or file name.
    #[serde(default)]
    pub sources: Vec<String>,
    /// `metadata.type` or the format label (`html`, `pdf`, ...).
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Inclusive bounds on the document date, Unix ms.
    #[serde(default)]
    pub date_from: Option<i64>,
    #[serde(default)]
    pub date_to: Option<i64>,
}

impl SearchFilter {
    /// Whether nothing is restricted.
    pub fn is_open(&self) -> bool {
        self.access == Access::All
            && self.sources.is_empty()
            && self.kinds.is_empty()
            && self.tags.is_empty()
            && self.date_from.is_none()
            && self.date_to.is_none()
    }

    /// The predicate the dense side evaluates per candidate.
    pub fn matches(&self, d: &DocAttrs) -> bool {
        let access = match self.access.terms() {
            None => true,
            Some(terms) => {
                d.principals.is_empty() || d.principals.iter().any(|p| terms.contains(p))
            }
        };
        access
            && (self.sources.is_empty()
                || d.source_values().iter().any(|s| self.sources.contains(s)))
            && (self.kinds.is_empty() || self.kinds.contains(&d.kind))
            && (self.tags.is_empty() || d.tags.iter().any(|t| self.tags.contains(t)))
            && self.date_from.is_none_or(|f| d.date >= f)
            && self.date_to.is_none_or(|t| d.date <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(principals: &[&str]) -> DocAttrs {
        DocAttrs {
            document: "d".into(),
            principals: principals.iter().map(|s| (*s).to_owned()).collect(),
            source: "/x/y/guide.html".into(),
            kind: "html".into(),
            tags: vec!["ops".into()],
            date: 1_000,
        }
    }

    #[test]
    fn access_follows_the_acl() {
        let alice = SearchFilter {
            access: Access::Principal {
                user: Some("alice".into()),
                groups: vec!["eng".into()],
            },
            ..SearchFilter::default()
        };
        assert!(alice.matches(&doc(&[])));
        assert!(alice.matches(&doc(&["u:alice"])));
        assert!(alice.matches(&doc(&["g:eng"])));
        assert!(!alice.matches(&doc(&["u:bob", "g:hr"])));
        assert!(SearchFilter::default().matches(&doc(&["u:bob"])));
    }

    #[test]
    fn metadata_fields_combine() {
        let f = SearchFilter {
            sources: vec!["guide.html".into()],
            kinds: vec!["html".into()],
            tags: vec!["ops".into(), "x".into()],
            date_from: Some(500),
            date_to: Some(1_000),
            ..SearchFilter::default()
        };
        assert!(f.matches(&doc(&[])));
        let late = SearchFilter {
            date_from: Some(1_001),
            ..SearchFilter::default()
        };
        assert!(!late.matches(&doc(&[])));
        let pdf = SearchFilter {
            kinds: vec!["pdf".into()],
            ..SearchFilter::default()
        };
        assert!(!pdf.matches(&doc(&[])));
    }
}
