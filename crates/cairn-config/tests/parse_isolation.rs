//! `ingest.parse_isolation`, `ingest.parse_timeout_ms`, `ingest.parse_memory_mb`:
//! documented defaults, file and environment values, and checks that name the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves

use cairn_config::{Error, ParseIsolation, load_from_str};

fn invalid_key(text: &str) -> String {
    match load_from_str(text, "t", &[]) {
        Err(Error::Invalid { key, .. }) => key,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn parsing_is_isolated_in_processes_by_default() {
    let (c, _) = load_from_str("", "t", &[]).unwrap();
    assert_eq!(c.ingest.parse_isolation, ParseIsolation::Process);
    assert_eq!(c.ingest.parse_timeout_ms, 120_000);
    assert_eq!(c.ingest.parse_memory_mb, 2048);
}

#[test]
fn parse_settings_come_from_the_file_and_the_environment() {
    let text = "[ingest]\nparse_isolation = \"thread\"\nparse_timeout_ms = 5000\n";
    let env = vec![("CAIRN_INGEST__PARSE_MEMORY_MB".to_owned(), "512".to_owned())];
    let (c, _) = load_from_str(text, "t", &env).unwrap();
    assert_eq!(c.ingest.parse_isolation, ParseIsolation::Thread);
    assert_eq!(c.ingest.parse_timeout_ms, 5000);
    assert_eq!(c.ingest.parse_memory_mb, 512);
}

#[test]
fn bad_parse_settings_name_their_key() {
    assert_eq!(
        invalid_key("[ingest]\nparse_isolation = \"fork\""),
        "ingest.parse_isolation"
    );
    assert_eq!(
        invalid_key("[ingest]\nparse_timeout_ms = 10"),
        "ingest.parse_timeout_ms"
    );
    assert_eq!(
        invalid_key("[ingest]\nparse_memory_mb = 16"),
        "ingest.parse_memory_mb"
    );
}
