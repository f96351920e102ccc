//! `[retention]`: how long each kind of tenant data is kept before the background sweep
//! deletes it. A tenant's settings (`PUT /api/v1/tenant/settings`, key `retention`)
//! override the periods, not the sweep interval.

use serde::{Deserialize, Serialize};

/// Longest period accepted (100 years): anything longer is "forever", which is 0.
const MAX_DAYS: u32 = 36_500;

/// Retention periods in days; 0 keeps that kind forever (the default for every kind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionPeriods {
    /// Conversations (with their messages), counted from their last message.
    pub conversations_days: u32,
    /// Recorded answers, with the feedback on them.
    pub answers_days: u32,
    /// Feedback on answers.
    pub feedback_days: u32,
    /// Audit-exempt logs: usage counters, upload idempotency keys, finished and dead
    /// ingest jobs. The audit log itself is never deleted.
    pub logs_days: u32,
    /// Documents (uploads and ingested files) with their chunks and index entries,
    /// counted from when they were last ingested or re-confirmed unchanged.
    pub documents_days: u32,
}

impl RetentionPeriods {
    /// The first unusable value, as (dotted key, what is wrong).
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, v) in [
            ("conversations_days", self.conversations_days),
            ("answers_days", self.answers_days),
            ("feedback_days", self.feedback_days),
            ("logs_days", self.logs_days),
            ("documents_days", self.documents_days),
        ] {
            if v > MAX_DAYS {
                return Err((
                    format!("retention.{key}"),
                    format!("must be at most {MAX_DAYS} days (0 = keep forever), got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// `[retention]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    pub conversations_days: u32,
    pub answers_days: u32,
    pub feedback_days: u32,
    pub logs_days: u32,
    pub documents_days: u32,
    /// How often `cairn serve` runs the retention sweep (seconds; 0 = never, run
    /// `cairn tenants sweep` instead). Default: 3600.
    pub sweep_interval_secs: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self {
            conversations_days: 0,
            answers_days: 0,
            feedback_days: 0,
            logs_days: 0,
            documents_days: 0,
            sweep_interval_secs: 3600,
        }
    }
}

impl RetentionSection {
    /// The periods, without the sweep interval (what a tenant may override).
    pub fn periods(&self) -> RetentionPeriods {
        RetentionPeriods {
            conversations_days: self.conversations_days,
            answers_days: self.answers_days,
            feedback_days: self.feedback_days,
            logs_days: self.logs_days,
            documents_days: self.documents_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_default_to_forever_and_refuse_absurd_values() {
        let r = RetentionSection::default();
        assert_eq!(r.periods(), RetentionPeriods::default());
        assert!(r.periods().check().is_ok());
        let bad = RetentionPeriods {
            logs_days: MAX_DAYS + 1,
            ..RetentionPeriods::default()
        };
        assert_eq!(
            bad.check().map_err(|e| e.0),
            Err("retention.logs_days".into())
        );
    }
}
