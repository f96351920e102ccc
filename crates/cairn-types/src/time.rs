//! Calendar dates of Unix times (UTC), without a date library.

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

#[cfg(test)]
mod tests {
    use super::civil_from_ms;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_ms(0), (1970, 1, 1));
        assert_eq!(civil_from_ms(-1), (1969, 12, 31));
        // 2026-12-02T04:41:12Z and the leap day 2024-02-29T12:00Z.
        assert_eq!(civil_from_ms(1_796_186_472_000), (2026, 12, 2));
        assert_eq!(civil_from_ms(1_709_208_000_000), (2024, 2, 29));
    }
}
