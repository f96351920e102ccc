//! Calendar dates of Unix times (UTC) without a date library, the current time, and time bounds given as an epoch or an age.

/// The UTC civil date `(year, month, day)` of Unix milliseconds (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
pub fn civil_from_ms(ms: i64) -> (i64, u32, u32) {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A point in time given as milliseconds since the epoch, or as an age before `now_ms`
/// such as `15m`, `2h`, `7d` (`s`, `m`, `h`, `d`; at most a century).
pub fn time_bound(v: &str, now_ms: i64) -> Result<i64, String> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    // A number and a one-letter unit (split at a character boundary).
    let (at, last) = v.char_indices().last().unwrap_or((0, ' '));
    let number = &v[..at];
    let unit: i64 = match last {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if unit > 0 && (0..=36_500 * 86_400).contains(&n) => Ok(now_ms - n * unit),
        _ => Err(format!(
            "`{v}`: expected milliseconds since the epoch or an age such as 15m, 2h, 7d"
        )),
    }
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{civil_from_ms, time_bound};

    #[test]
    fn time_bounds_are_epochs_or_ages() {
        assert_eq!(time_bound("1000", 5_000).ok(), Some(1_000));
        assert_eq!(time_bound("2s", 5_000).ok(), Some(3_000));
        assert_eq!(time_bound("1h", 3_600_000).ok(), Some(0));
        assert_eq!(time_bound("2d", 3 * 86_400_000).ok(), Some(86_400_000));
        assert!(time_bound("yesterday", 0).is_err());
        assert!(time_bound("5w", 0).is_err());
        assert!(time_bound("5é", 0).is_err());
        assert!(time_bound("é", 0).is_err());
        assert!(time_bound("", 0).is_err());
        assert!(time_bound("99999999999999999d", 0).is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_ms(0), (1970, 1, 1));
        assert_eq!(civil_from_ms(-1), (1969, 12, 31));
        // 2026-12-02T04:41:12Z and the leap day 2024-02-29T12:00Z.
        assert_eq!(civil_from_ms(1_796_186_472_000), (2026, 12, 2));
        assert_eq!(civil_from_ms(1_709_208_000_000), (2024, 2, 29));
    }
}
