//! Credentials: provider key formats, JWTs, PEM private keys, Cairn API keys, passwords in
//! URLs, and generic `api_key=` / `token:` / `password=` assignments.
//!
//! Provider formats are distinctive enough to trust (score 0.95). A generic assignment
//! only counts when its value looks like a secret: not a placeholder (`<token>`, `${VAR}`,
//! `****`, `changeme`), and for keys and tokens, long and high-entropy (Shannon ≥ 3 bits per
//! character with mixed character classes). Only the value is matched, so redaction keeps
//! `password=[SECRET_1]` readable.

use std::sync::LazyLock;

use regex::Regex;

use super::checks::shannon_entropy;
use super::{Candidate, PiiKind, char_at, char_before};

#[allow(clippy::expect_used)] // literal patterns, covered by tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// Provider formats: (name, pattern). The whole match is the secret.
static PROVIDERS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        (
            "aws_access_key",
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[0-9A-Z]{16}",
        ),
        (
            "github_token",
            r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}",
        ),
        ("github_pat", r"github_pat_[A-Za-z0-9_]{22,255}"),
        ("slack_token", r"xox[abposre]-[A-Za-z0-9-]{10,250}"),
        (
            "slack_webhook",
            r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
        ),
        ("stripe_key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}"),
        (
            "openai_key",
            r"sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,250}",
        ),
        ("google_api_key", r"AIza[0-9A-Za-z_-]{35}"),
        (
            "jwt",
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ),
        ("cairn_key", r"cairn_[A-Za-z0-9]{12}_[A-Za-z0-9]{20,}"),
        ("gitlab_token", r"glpat-[A-Za-z0-9_-]{20,}"),
        ("npm_token", r"npm_[A-Za-z0-9]{36}"),
        ("sendgrid_key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        ("huggingface_token", r"hf_[A-Za-z0-9]{34,}"),
    ]
    .into_iter()
    .map(|(name, p)| (name, re(p)))
    .collect()
});

static PEM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?:[ \t]*\r?\n[A-Za-z0-9+/=]{16,})*)",
    )
});
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)\b(api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|client[_-]?secret|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer[_-]?token|private[_-]?key|token|secret|password|passwd|passphrase|pwd)\b["']?\s*(?::=|=>|[:=])\s*["'`]?([^\s"'`,;<>)\]}]{6,512})"#,
    )
});
static BEARER: LazyLock<Regex> = LazyLock::new(|| re(r"\b[Bb]earer\s+([A-Za-z0-9\-._~+/]{20,}=*)"));
static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]{3,})@"));

/// Values that are obviously not real secrets.
fn placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let first = value.chars().next().unwrap_or(' ');
    matches!(first, '$' | '{' | '<' | '%' | '[' | '(')
        || value
            .chars()
            .all(|c| c == value.chars().next().unwrap_or(c))
        || value
            .chars()
            .filter(|c| *c == '*' || *c == 'x' || *c == 'X')
            .count()
            * 2
            >= value.len()
        || [
            "changeme",
            "password",
            "example",
            "your_",
            "your-",
            "yourtoken",
            "placeholder",
            "redacted",
            "xxxx",
            "dummy",
            "sample",
            "secret",
            "null",
            "none",
            "undefined",
            "true",
            "false",
            "env.",
            "environ",
            "getenv",
            "process.",
            "os.",
            "config.",
            "settings.",
            "[secret",
            "[redacted",
        ]
        .iter()
        .any(|p| lower.starts_with(p) || lower == p.trim_end_matches(['_', '-', '.']))
}

fn char_classes(s: &str) -> usize {
    [
        s.chars().any(|c| c.is_ascii_lowercase()),
        s.chars().any(|c| c.is_ascii_uppercase()),
        s.chars().any(|c| c.is_ascii_digit()),
        s.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count()
}

fn token_boundary(text: &str, start: usize, end: usize) -> bool {
    let ok = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
    ok(char_before(text, start)) && ok(char_at(text, end))
}

pub(crate) fn find(text: &str, out: &mut Vec<Candidate>) {
    for (_, regex) in PROVIDERS.iter() {
        for m in regex.find_iter(text) {
            if token_boundary(text, m.start(), m.end()) {
                out.push(Candidate {
                    kind: PiiKind::Secret,
                    start: m.start(),
                    end: m.end(),
                    score: 0.95,
                });
            }
        }
    }
    for m in PEM.find_iter(text) {
        out.push(Candidate {
            kind: PiiKind::Secret,
            start: m.start(),
            end: m.end(),
            score: 0.99,
        });
    }
    for caps in ASSIGNMENT.captures_iter(text) {
        let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        let v = value.as_str().trim_end_matches(['.', '!', '?']);
        if placeholder(v) {
            continue;
        }
        let key = key.as_str().to_ascii_lowercase();
        let password = matches!(key.as_str(), "password" | "passwd" | "passphrase" | "pwd");
        let looks_secret = if password {
            v.len() >= 6 && v.chars().any(|c| !c.is_ascii_alphabetic()) || v.len() >= 10
        } else {
            v.len() >= 12 && shannon_entropy(v) >= 3.0 && char_classes(v) >= 2
        };
        if looks_secret {
            let end = value.start() + v.len();
            out.push(Candidate {
                kind: PiiKind::Secret,
                start: value.start(),
                end,
                score: 0.85,
            });
        }
    }
    for caps in BEARER.captures_iter(text) {
        if let Some(v) = caps.get(1)
            && shannon_entropy(v.as_str()) >= 3.0
        {
            out.push(Candidate {
                kind: PiiKind::Secret,
                start: v.start(),
                end: v.end(),
                score: 0.9,
            });
        }
    }
    for caps in URL_PASSWORD.captures_iter(text) {
        if let Some(v) = caps.get(1)
            && !placeholder(v.as_str())
        {
            out.push(Candidate {
                kind: PiiKind::Secret,
                start: v.start(),
                end: v.end(),
                score: 0.9,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.into_iter()
            .map(|c| text[c.start..c.end].to_owned())
            .collect()
    }

    #[test]
    fn provider_formats() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "xoxb-123456789012-123456789012-abcdefghijklmnop",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "cairn_AbCdEf123456_abcdefghijABCDEFGHIJ0123456789abcdefghij",
        ];
        for secret in cases {
            assert_eq!(found(&format!("key: {secret} end")), [secret], "{secret}");
        }
    }

    #[test]
    fn pem_block() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234\nabcd==\n-----END RSA PRIVATE KEY-----";
        assert_eq!(found(&format!("here:\n{pem}\nthanks")), [pem]);
    }

    #[test]
    fn assignments() {
        assert_eq!(
            found("api_key=Zx8kQ2mN7vB4tR9wL1pY"),
            ["Zx8kQ2mN7vB4tR9wL1pY"]
        );
        assert_eq!(found(r#"{"password": "hunter2!x"}"#), ["hunter2!x"]);
        assert_eq!(found("postgres://app:s3cr3tPass@db:5432/x"), ["s3cr3tPass"]);
        assert!(found("api_key=${API_KEY}").is_empty());
        assert!(found("token: <your-token>").is_empty());
        assert!(found("password=********").is_empty());
        assert!(found("token=aaaaaaaaaaaaaaaa").is_empty());
        assert!(found("the token is rotated daily").is_empty());
    }
}
