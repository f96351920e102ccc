//! Property-based fuzzing (proptest) of the guard normalizer, [`cairn_guard::normalize`]:
//! arbitrary Unicode strings and soups of the obfuscation tricks it undoes (invisible and
//! tag characters, bidi controls, homoglyphs, fullwidth forms, spaced letters, leetspeak,
//! base64/hex/binary/Morse/percent/escape payloads nested in each other). Each case runs
//! on its own thread and must return within [`LIMIT`] without panicking, with no Unicode
//! tag character or bidi control left in the canonical text and each trick named once.
//!
//! The default case counts keep the CI run short. A long run (the numbers in
//! bench/RESULTS.md, "Parser fuzzing (proptest)"):
//!
//! ```text
//! CAIRN_FUZZ_CASES=20000 cargo test -p cairn-guard --test normalize_fuzz -- --nocapture
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_guard::normalize;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Hang detection only.
const LIMIT: Duration = Duration::from_secs(20);

static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);

fn cases(default: u32) -> u32 {
    std::env::var("CAIRN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Normalizes `text` on a worker thread; `Err` describes a broken property.
fn check(text: String) -> Result<(), String> {
    EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let input = text.clone();
    std::thread::spawn(move || {
        let _ = tx.send(normalize(&input));
    });
    let out = match rx.recv_timeout(LIMIT) {
        Ok(out) => out,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(format!("normalize hung on {} bytes", text.len()));
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err("normalize panicked".to_owned());
        }
    };
    if let Some(c) = out.text.chars().find(|&c| {
        (0xE0000..=0xE007F).contains(&(c as u32))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }) {
        return Err(format!("U+{:04X} left in the canonical text", c as u32));
    }
    for (i, trick) in out.obfuscation.iter().enumerate() {
        if out.obfuscation[..i].contains(trick) {
            return Err(format!("{trick} named twice"));
        }
    }
    Ok(())
}

#[allow(
    clippy::print_stderr,
    reason = "the run statistics are the output of a fuzz run"
)]
fn run(label: &str, cases: u32, strategy: impl Strategy<Value = String>) {
    let started = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |text| check(text).map_err(TestCaseError::fail));
    eprintln!(
        "[normalize_fuzz] {label}: {cases} cases in {:.1} s; executions so far {}",
        started.elapsed().as_secs_f64(),
        EXECUTIONS.load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{label}: {e}");
    }
}

#[test]
fn arbitrary_strings_normalize() {
    let strategy = prop::collection::vec(any::<char>(), 0..2000)
        .prop_map(|chars| chars.into_iter().collect::<String>());
    run("arbitrary strings", cases(1500), strategy);
}

/// Pieces of the tricks the normalizer undoes, and of the words it looks for.
const TRICKS: &[&str] = &[
    "ignore",
    "previous",
    "instructions",
    " ",
    "\n",
    "i g n o r e ",
    "i.g.n.o.r.e",
    "\u{200B}",
    "\u{200D}",
    "\u{FEFF}",
    "\u{202E}",
    "\u{2066}",
    "\u{E0069}",
    "\u{E0067}",
    "\u{E007F}",
    "іgnоrе",
    "ΙGΝΟRΕ",
    "ｉｇｎｏｒｅ",
    "𝐢𝐠𝐧𝐨𝐫𝐞",
    "ﬁ",
    "1gn0r3",
    "@$$",
    "4",
    "aWdub3JlIHByZXZpb3Vz",
    "aWdub3Jl",
    "==",
    "=",
    "69676e6f7265",
    "0x",
    "\\x69\\x67",
    "01101001 01100111",
    ".. --. -. --- .-. .",
    "%69%67%6E",
    "\\u0069\\u0067",
    "&#105;&#103;",
    "&#x69;",
    "<~",
    "~>",
    "87cURD]i",
    "vtaber",
    "erongi",
    "e\u{301}",
    "\u{301}\u{301}",
    "NB2HI4DTHIXS6",
    "MFRGG===",
    "\u{0}",
    "\u{7}",
    "\t",
    "\r\n",
    "é",
    "ß",
    "İ",
    "ǅ",
];

#[test]
fn trick_soup_normalizes() {
    let strategy = prop::collection::vec(prop::sample::select(TRICKS), 0..300)
        .prop_map(|parts| parts.concat());
    run("trick soup", cases(1500), strategy);
}

#[test]
fn nested_encodings_normalize() {
    // A phrase encoded several times over (base64 of hex of ...), in pieces.
    let strategy = (
        prop::collection::vec(prop::sample::select(TRICKS), 1..20),
        prop::collection::vec(0u8..4, 0..6),
    )
        .prop_map(|(parts, layers)| {
            let mut text = parts.concat();
            for layer in layers {
                text = match layer {
                    0 => base64_encode(text.as_bytes()),
                    1 => text.bytes().map(|b| format!("{b:02x}")).collect(),
                    2 => text
                        .bytes()
                        .map(|b| format!("{b:08b}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => text.bytes().map(|b| format!("%{b:02X}")).collect(),
                };
            }
            text
        });
    run("nested encodings", cases(800), strategy);
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
