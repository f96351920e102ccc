//! Check-digit and format validators used by the recognizers.

/// Luhn (mod 10) check over the ASCII digits of `digits` (other characters are ignored).
pub fn luhn_valid(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if ds.len() < 2 {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a digit string (no separators) starts like a card of a known issuer with a
/// length that issuer uses.
pub(crate) fn card_issuer_plausible(digits: &str) -> bool {
    let n = digits.len();
    let p = |len: usize| {
        digits
            .get(..len)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (p1, p2, p3, p4) = (p(1), p(2), p(3), p(4));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),              // Visa
        5 if (51..=55).contains(&p2) => n == 16,     // Mastercard
        2 if (2221..=2720).contains(&p4) => n == 16, // Mastercard 2-series
        2 if p4 == 2131 => n == 15,                  // JCB (old)
        1 if p4 == 1800 => n == 15,                  // JCB (old)
        3 if p2 == 34 || p2 == 37 => n == 15,        // Amex
        3 if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&n)
        } // Diners
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&n), // JCB
        6 if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) => (16..=19).contains(&n), // Discover
        6 if p2 == 62 => (16..=19).contains(&n), // UnionPay
        5 | 6 if p2 == 50 || (56..=69).contains(&p2) => (12..=19).contains(&n), // Maestro
        _ => false,
    }
}

/// IBAN length per ISO 13616 country code (SWIFT IBAN registry).
pub(crate) fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" | "SD" | "FK" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" | "MN" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" | "OM" | "SO" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "LY" | "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" | "BI" | "DJ" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" | "NI" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    })
}

/// Full IBAN check: known country, its length, and mod-97 == 1. Spaces are ignored.
pub fn iban_valid(iban: &str) -> bool {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.to_ascii_uppercase();
    if compact.len() < 5 || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (country, check) = (&compact[..2], &compact[2..4]);
    if !country.chars().all(|c| c.is_ascii_alphabetic())
        || !check.chars().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// US SSN rules: area not 000, 666 or 900-999; group not 00; serial not 0000.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && area < 1000
        && group < 100
        && serial < 10_000
}

/// ISBN-10 or ISBN-13 check digit over the digits (and a final `X` for ISBN-10).
pub(crate) fn isbn_valid(s: &str) -> bool {
    let chars: Vec<char> = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
        .collect();
    match chars.len() {
        10 => {
            let mut sum = 0;
            for (i, c) in chars.iter().enumerate() {
                let v = match c {
                    'X' | 'x' if i == 9 => 10,
                    c => match c.to_digit(10) {
                        Some(v) => v,
                        None => return false,
                    },
                };
                sum += v * (10 - i as u32);
            }
            sum.is_multiple_of(11)
        }
        13 => {
            let ds: Option<Vec<u32>> = chars.iter().map(|c| c.to_digit(10)).collect();
            let Some(ds) = ds else { return false };
            let sum: u32 = ds
                .iter()
                .enumerate()
                .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
                .sum();
            sum.is_multiple_of(10) && (ds[..3] == [9, 7, 8] || ds[..3] == [9, 7, 9])
        }
        _ => false,
    }
}

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f32 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f32 / n as f32;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_issuers() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(card_issuer_plausible("4111111111111111"));
        assert!(card_issuer_plausible("378282246310005"));
        assert!(!card_issuer_plausible("9111111111111111"));
    }

    #[test]
    fn iban_rules() {
        assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_valid("DE89370400440532013000"));
        assert!(!iban_valid("DE89370400440532013001")); // checksum
        assert!(!iban_valid("DE8937040044053201300")); // length
        assert!(!iban_valid("ZZ89370400440532013000")); // country
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid(123, 45, 6789));
        assert!(!ssn_valid(0, 45, 6789));
        assert!(!ssn_valid(666, 45, 6789));
        assert!(!ssn_valid(912, 45, 6789));
        assert!(!ssn_valid(123, 0, 6789));
        assert!(!ssn_valid(123, 45, 0));
    }

    #[test]
    fn isbn_and_entropy() {
        assert!(isbn_valid("0-306-40615-2"));
        assert!(isbn_valid("978-3-16-148410-0"));
        assert!(!isbn_valid("0-306-40615-3"));
        assert!(shannon_entropy("aaaa") < 0.01);
        assert!(shannon_entropy("aB3$xY9!") > 2.9);
    }
}
