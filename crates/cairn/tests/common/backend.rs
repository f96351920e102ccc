//! The two state store backends for tests that run one scenario on each: a home's
//! `cairn.toml` for either, and direct reads of the rows a test checks (sealed secrets).

use std::path::Path;

/// Where a test home keeps its state.
#[derive(Clone, Debug)]
pub enum Backend {
    /// `<home>/data/cairn.db`.
    Sqlite,
    /// A database of its own on the test server (its URL).
    Postgres(String),
}

impl Backend {
    /// A fresh PostgreSQL database (fails, saying how to get a server, without one).
    pub fn postgres() -> Backend {
        Backend::Postgres(
            cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// The `cairn.toml` lines that select this backend (with the in-process rate limits
    /// off on PostgreSQL, which otherwise wants Redis for them).
    pub fn toml(&self) -> String {
        match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres(url) => format!(
                "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n\n\
                 [limits]\nkey_rpm = 0\nkey_tpm = 0\ntenant_rpm = 0\ntenant_tpm = 0\n\n"
            ),
        }
    }

    /// Writes `<home>/cairn.toml`: this backend plus `extra`.
    pub fn configure(&self, home: &Path, extra: &str) {
        std::fs::write(home.join("cairn.toml"), format!("{}{extra}\n", self.toml())).unwrap();
    }

    /// Every stored secret, as the database holds it: (tenant, name, sealed, key id),
    /// by tenant then name.
    pub fn sealed_secrets(&self, home: &Path) -> Vec<(String, String, String, String)> {
        const SQL: &str =
            "SELECT tenant_id, name, sealed, key_id FROM secrets ORDER BY tenant_id, name";
        match self {
            Backend::Sqlite => {
                let db = rusqlite::Connection::open(home.join("data/cairn.db")).unwrap();
                let mut st = db.prepare(SQL).unwrap();
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Backend::Postgres(url) => {
                let mut pg = postgres::Client::connect(url, postgres::NoTls).unwrap();
                pg.query(SQL, &[])
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect()
            }
        }
    }
}

/// The associated data a secret is sealed with (`cairn_engine::security`).
pub fn secret_aad(tenant: &str, name: &str) -> Vec<u8> {
    format!("cairn-secret\u{1f}{tenant}\u{1f}{name}").into_bytes()
}

/// The key in a key file.
pub fn key_in(path: &Path) -> cairn_auth::SecretBox {
    cairn_auth::SecretBox::from_key_text(&std::fs::read_to_string(path).unwrap()).unwrap()
}
