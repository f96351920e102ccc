//! Usage written behind the response: each finished call's tokens and cost are added
//! to an in-memory ledger and written to the store by a background thread every
//! [`FLUSH_EVERY`], aggregated per tenant, period set, day and model, so a busy gateway
//! commits (and fsyncs) a handful of rows a tick instead of one transaction per request.
//!
//! Quotas and budgets stay exact: a check reads the store's counter plus what the
//! ledger holds for the same period but has not written yet. `GET
//! /api/v1/tenant/usage` flushes first, and so does shutdown. A crash can lose at most
//! the last tick's usage (never a request or a document).

use cairn_engine::Engine;
use cairn_store::{ModelUsage, RouteUsage, Usage};
use cairn_types::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

/// How long usage waits in memory at most.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One call's usage, charged to every period counter in `periods`.
#[derive(Clone, Debug)]
pub struct Entry {
    pub tenant: TenantId,
    pub periods: Vec<String>,
    /// `YYYY-MM-DD` of the per-model row.
    pub day: String,
    pub model: String,
    pub usage: ModelUsage,
}

/// A request's route row key: tenant, day, route, model.
type RouteKey = (TenantId, String, &'static str, String);

#[derive(Default)]
struct Pending {
    entries: Vec<Entry>,
    /// Finished requests per route, not yet written.
    routes: HashMap<RouteKey, RouteUsage>,
    /// Not yet written, per (tenant, period).
    totals: HashMap<(TenantId, String), Usage>,
    stopped: bool,
}

/// The ledger; share it behind an `Arc`.
pub struct UsageLedger {
    engine: Arc<Engine>,
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Held while a flush writes, so two flushes never write the same entries twice
    /// and a caller of [`Self::flush`] sees everything added before it.
    writing: Mutex<()>,
}

fn add(to: &mut Usage, u: &ModelUsage) {
    to.requests += u.requests;
    to.tokens += u.input_tokens + u.output_tokens;
    to.cost_micros += u.cost_micros;
}

impl UsageLedger {
    /// A ledger writing to `engine`'s store, with its flusher thread running.
    pub fn start(engine: Arc<Engine>) -> Arc<Self> {
        let ledger = Arc::new(Self {
            engine,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            writing: Mutex::new(()),
        });
        let weak: Weak<Self> = Arc::downgrade(&ledger);
        let spawned = std::thread::Builder::new()
            .name("usage-ledger".into())
            .spawn(move || {
                loop {
                    let Some(ledger) = weak.upgrade() else { return };
                    {
                        let g = ledger.lock();
                        if g.stopped {
                            return;
                        }
                        let _ = ledger
                            .wake
                            .wait_timeout(g, FLUSH_EVERY)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    ledger.flush();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the usage writer; usage is written by readers");
        }
        ledger
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Charges one call.
    pub fn add(&self, entry: Entry) {
        let mut g = self.lock();
        for period in &entry.periods {
            add(
                g.totals
                    .entry((entry.tenant.clone(), period.clone()))
                    .or_default(),
                &entry.usage,
            );
        }
        g.entries.push(entry);
    }

    /// Counts one finished request of `tenant` on `route` (with the model that answered,
    /// or none): `one` holds its status, latency, tokens and cost.
    pub fn request(&self, tenant: &TenantId, route: &'static str, model: &str, one: &RouteUsage) {
        let day = crate::limits::periods(crate::gate::now_ms())
            .0
            .trim_start_matches("d:")
            .to_owned();
        self.lock()
            .routes
            .entry((tenant.clone(), day, route, model.to_owned()))
            .or_default()
            .merge(one);
    }

    /// What the ledger holds for `tenant`'s `period` and has not written yet.
    pub fn pending(&self, tenant: &TenantId, period: &str) -> Usage {
        self.lock()
            .totals
            .get(&(tenant.clone(), period.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The store's counter for `period` plus what is still in memory.
    pub fn usage(&self, tenant: &TenantId, period: &str) -> cairn_store::Result<Usage> {
        let mut u = self.engine.store().usage(tenant, period)?;
        let p = self.pending(tenant, period);
        u.requests += p.requests;
        u.tokens += p.tokens;
        u.cost_micros += p.cost_micros;
        Ok(u)
    }

    /// Writes everything added so far. The amounts stay counted in
    /// [`Self::pending`] until they are in the store, so a quota check never misses
    /// them (for the instant both hold them it counts them twice, erring on the
    /// cautious side).
    pub fn flush(&self) {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let (entries, routes) = {
            let mut g = self.lock();
            (
                std::mem::take(&mut g.entries),
                std::mem::take(&mut g.routes),
            )
        };
        for ((tenant, day, route, model), u) in &routes {
            if let Err(err) = self
                .engine
                .store()
                .add_route_usage(tenant, day, route, model, u)
            {
                tracing::warn!(tenant = %tenant, error = %err, "could not record request usage");
            }
        }
        if entries.is_empty() {
            return;
        }
        let mut merged: Vec<Entry> = Vec::new();
        let mut index: HashMap<(TenantId, Vec<String>, String, String), usize> = HashMap::new();
        for e in &entries {
            let key = (
                e.tenant.clone(),
                e.periods.clone(),
                e.day.clone(),
                e.model.clone(),
            );
            match index.get(&key) {
                Some(&i) => {
                    let u = &mut merged[i].usage;
                    u.requests += e.usage.requests;
                    u.input_tokens += e.usage.input_tokens;
                    u.output_tokens += e.usage.output_tokens;
                    u.cost_micros += e.usage.cost_micros;
                }
                None => {
                    index.insert(key, merged.len());
                    merged.push(e.clone());
                }
            }
        }
        for e in &merged {
            let periods: Vec<&str> = e.periods.iter().map(String::as_str).collect();
            if let Err(err) = self
                .engine
                .store()
                .add_model_usage(&e.tenant, &periods, &e.day, &e.model, &e.usage)
            {
                tracing::warn!(tenant = %e.tenant, error = %err, "could not record usage");
            }
        }
        let mut g = self.lock();
        for e in &entries {
            for period in &e.periods {
                if let Some(t) = g.totals.get_mut(&(e.tenant.clone(), period.clone())) {
                    t.requests -= e.usage.requests;
                    t.tokens -= e.usage.input_tokens + e.usage.output_tokens;
                    t.cost_micros -= e.usage.cost_micros;
                }
            }
        }
        g.totals
            .retain(|_, t| t.requests != 0 || t.tokens != 0 || t.cost_micros != 0);
    }

    /// Writes what is left and stops the flusher (shutdown).
    pub fn stop(&self) {
        self.flush();
        self.lock().stopped = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_see_unwritten_usage_and_a_flush_moves_it_to_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!("data_dir = \"{}\"", dir.path().display());
        let (config, _) = cairn_config::load_from_str(&toml, "t", &[]).unwrap();
        let engine = Arc::new(Engine::open(config).unwrap());
        let t = TenantId::new("a");
        engine.ensure_tenant(&t).unwrap();
        let ledger = UsageLedger::start(engine.clone());
        let entry = |tokens: i64| Entry {
            tenant: t.clone(),
            periods: vec!["d:2026-12-06".into(), "m:2026-12".into()],
            day: "2026-12-06".into(),
            model: "m".into(),
            usage: ModelUsage {
                requests: 1,
                input_tokens: tokens,
                output_tokens: 1,
                cost_micros: 10,
            },
        };
        ledger.add(entry(9));
        ledger.add(entry(19));
        let seen = ledger.usage(&t, "d:2026-12-06").unwrap();
        assert_eq!((seen.requests, seen.tokens, seen.cost_micros), (2, 30, 20));
        ledger.flush();
        assert_eq!(ledger.pending(&t, "m:2026-12"), Usage::default());
        let stored = engine.store().usage(&t, "m:2026-12").unwrap();
        assert_eq!(
            (stored.requests, stored.tokens, stored.cost_micros),
            (2, 30, 20)
        );
        let rows = engine.store().model_usage(&t, "2026-12-01").unwrap();
        assert_eq!(rows.len(), 1, "aggregated into one row: {rows:?}");
        assert_eq!(
            ledger.usage(&t, "d:2026-12-06").unwrap().tokens,
            30,
            "not twice"
        );
        ledger.stop();
    }
}
