//! `[auth]`, `[limits]` and `[guard]`: identity, rate limits and quotas, guardrails.

use serde::{Deserialize, Serialize};

/// `[auth]`: who may call the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// `required` (default): every route but `public_routes` needs an API key or a JWT.
    /// `off`: every request acts as the local operator; refused unless `server.listen`
    /// is a loopback address.
    pub mode: String,
    /// Exact paths served without credentials.
    pub public_routes: Vec<String>,
    /// File holding the 32-byte master key (base64 or hex) that seals secrets at rest
    /// with AES-256-GCM. `CAIRN_MASTER_KEY` takes precedence. Default:
    /// `<data_dir>/master.key` when it exists.
    pub master_key_file: String,
    /// Argon2id checks of API keys not verified recently, per minute for the whole
    /// server (each costs ~20 ms of CPU). Past it, unrecognized keys get 429 at once;
    /// recently verified keys are not affected.
    pub key_checks_per_minute: f64,
    /// OIDC-style bearer tokens (`[auth.jwt]`, enabled when `jwks_file` or `jwks_url`
    /// is set); the verifier's own settings, with its documented defaults.
    pub jwt: cairn_auth::JwtSettings,
    /// Single sign-on for the web UI (`[auth.oidc]`, enabled when `issuer` is set):
    /// the OpenID Connect code flow with PKCE, ending in a server-side session.
    pub oidc: cairn_auth::OidcSettings,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            mode: "required".into(),
            public_routes: ["/healthz", "/readyz", "/openapi.json", "/docs"]
                .map(String::from)
                .to_vec(),
            master_key_file: String::new(),
            key_checks_per_minute: 600.0,
            jwt: cairn_auth::JwtSettings::default(),
            oidc: cairn_auth::OidcSettings::default(),
        }
    }
}

/// `[limits]`: token buckets per API key (or JWT user) and per tenant, and quotas per
/// tenant. A tenant's settings (`PUT /api/v1/tenant/settings`) override these. 0 turns
/// a limit off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Requests per minute per key.
    pub key_rpm: f64,
    /// Model tokens (prompt + completion) per minute per key.
    pub key_tpm: f64,
    pub tenant_rpm: f64,
    pub tenant_tpm: f64,
    /// Bucket size as a multiple of the per-minute rate (1 = a minute's worth).
    pub burst: f64,
    /// Quotas per tenant per UTC day and calendar month (tokens; USD).
    pub daily_tokens: u64,
    pub monthly_tokens: u64,
    pub daily_cost_usd: f64,
    pub monthly_cost_usd: f64,
    /// Budgets per API key (or JWT user) per UTC day and calendar month, in dollars,
    /// the way virtual keys carry them; 0: none.
    pub key_daily_cost_usd: f64,
    pub key_monthly_cost_usd: f64,
    /// What a thousand model tokens cost, for the cost quotas (local models: 0).
    pub usd_per_1k_tokens: f64,
}

impl LimitsSection {
    /// The first unusable value, as (dotted key, what is wrong). Checked when the file
    /// loads and when a tenant stores its overrides.
    pub fn check(&self) -> Result<(), (String, &'static str)> {
        for (key, v) in [
            ("key_rpm", self.key_rpm),
            ("key_tpm", self.key_tpm),
            ("tenant_rpm", self.tenant_rpm),
            ("tenant_tpm", self.tenant_tpm),
            ("daily_cost_usd", self.daily_cost_usd),
            ("monthly_cost_usd", self.monthly_cost_usd),
            ("key_daily_cost_usd", self.key_daily_cost_usd),
            ("key_monthly_cost_usd", self.key_monthly_cost_usd),
            ("usd_per_1k_tokens", self.usd_per_1k_tokens),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err((
                    format!("limits.{key}"),
                    "must be a number >= 0 (0 = no limit)",
                ));
            }
        }
        if !self.burst.is_finite() || self.burst <= 0.0 {
            return Err(("limits.burst".into(), "must be > 0"));
        }
        Ok(())
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            key_rpm: 600.0,
            key_tpm: 200_000.0,
            tenant_rpm: 3_000.0,
            tenant_tpm: 1_000_000.0,
            burst: 1.0,
            daily_tokens: 0,
            monthly_tokens: 0,
            daily_cost_usd: 0.0,
            monthly_cost_usd: 0.0,
            key_daily_cost_usd: 0.0,
            key_monthly_cost_usd: 0.0,
            usd_per_1k_tokens: 0.0,
        }
    }
}
