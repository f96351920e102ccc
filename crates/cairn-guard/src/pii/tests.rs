#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn found(text: &str) -> Vec<(PiiKind, String)> {
    detect_all(text)
        .into_iter()
        .map(|m| (m.kind, m.text))
        .collect()
}

fn has(text: &str, kind: PiiKind, value: &str) -> bool {
    found(text).iter().any(|(k, v)| *k == kind && v == value)
}

fn none_of(text: &str, kind: PiiKind) -> bool {
    !found(text).iter().any(|(k, _)| *k == kind)
}

#[test]
fn kind_names_round_trip() {
    for k in PiiKind::ALL {
        assert_eq!(PiiKind::parse(k.as_str()), Some(k));
        assert_eq!(k.as_str().parse::<PiiKind>(), Ok(k));
        assert_eq!(PiiKind::from_label(k.label()), Some(k));
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    assert!("nope".parse::<PiiKind>().is_err());
    assert_eq!(PiiKind::parse("person"), Some(PiiKind::Name));
}

#[test]
fn every_kind_positive() {
    assert!(has(
        "write to jane.doe@example.com today",
        PiiKind::Email,
        "jane.doe@example.com"
    ));
    assert!(has(
        "call +1 202-555-0143 now",
        PiiKind::Phone,
        "+1 202-555-0143"
    ));
    assert!(has("or (202) 555-0143", PiiKind::Phone, "(202) 555-0143"));
    assert!(has(
        "card 4111 1111 1111 1111 exp 01/30",
        PiiKind::CreditCard,
        "4111 1111 1111 1111"
    ));
    assert!(has(
        "IBAN DE89 3704 0044 0532 0130 00",
        PiiKind::Iban,
        "DE89 3704 0044 0532 0130 00"
    ));
    assert!(has("SSN 123-45-6789", PiiKind::Ssn, "123-45-6789"));
    assert!(has(
        "from 203.0.113.7 at noon",
        PiiKind::IpAddress,
        "203.0.113.7"
    ));
    assert!(has(
        "via 2001:db8::1:0:0:1 too",
        PiiKind::IpAddress,
        "2001:db8::1:0:0:1"
    ));
    assert!(has(
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        PiiKind::Secret,
        "AKIAIOSFODNN7EXAMPLE"
    ));
    assert!(has(
        "Please ask Margaret Thompson about it.",
        PiiKind::Name,
        "Margaret Thompson"
    ));
}

#[test]
fn every_kind_negative() {
    assert!(none_of("user@localhost and @handle", PiiKind::Email));
    assert!(none_of(
        "released on 2024-12-07, build 10.0.19045.3803",
        PiiKind::Phone
    ));
    assert!(none_of("ISBN 978-3-16-148410-0", PiiKind::Phone));
    assert!(
        none_of("card 4111 1111 1111 1112", PiiKind::CreditCard),
        "Luhn fails"
    );
    assert!(
        none_of("IBAN DE89 3704 0044 0532 0130 01", PiiKind::Iban),
        "bad mod-97"
    );
    assert!(
        none_of("GB82 WEST 1234 5698 7654", PiiKind::Iban),
        "wrong length"
    );
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert!(
            found(&format!("SSN {bad}")).is_empty(),
            "{bad}: {:?}",
            found(&format!("SSN {bad}"))
        );
    }
    assert!(none_of("256.10.10.10 and 1.2.3.4.5", PiiKind::IpAddress));
    assert!(none_of(
        "api_key=${API_KEY} password=<secret>",
        PiiKind::Secret
    ));
    assert!(none_of(
        "Will you send it in May? We moved from Georgia.",
        PiiKind::Name
    ));
}

#[test]
fn matches_are_sorted_non_overlapping_byte_offsets() {
    let text =
        "Zoë Müller (zoë@exämple.de) paid with 4111-1111-1111-1111 from 10.0.0.1; ssn 123-45-6789.";
    let matches = detect_all(text);
    let kinds: Vec<PiiKind> = matches.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            PiiKind::Name,
            PiiKind::Email,
            PiiKind::CreditCard,
            PiiKind::IpAddress,
            PiiKind::Ssn
        ]
    );
    for w in matches.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
    for m in &matches {
        assert_eq!(&text[m.start..m.end], m.text);
        assert!(m.score >= MIN_SCORE && m.score <= 1.0);
    }
}

#[test]
fn kinds_filter_and_priorities() {
    let text = "mail ann@example.com, card 4111111111111111";
    let only_email = detect(text, &[PiiKind::Email]);
    assert_eq!(only_email.len(), 1);
    assert_eq!(only_email[0].kind, PiiKind::Email);
    // The card's digits are never also reported as a phone.
    assert!(detect(text, &[PiiKind::Phone]).is_empty());
}

#[test]
fn secrets_cover_common_formats() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    for (text, secret) in [
        (format!("Authorization: Bearer {jwt}"), jwt.to_owned()),
        (
            "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
        ),
        (
            "export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz012345".to_owned(),
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345".to_owned(),
        ),
        (
            "client_secret: 'q8Zt2LmN4vX7pR1sK9wB'".to_owned(),
            "q8Zt2LmN4vX7pR1sK9wB".to_owned(),
        ),
    ] {
        assert!(
            has(&text, PiiKind::Secret, &secret),
            "{text}: {:?}",
            found(&text)
        );
    }
}
