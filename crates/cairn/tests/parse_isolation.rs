//! Parsing in child processes (`ingest.parse_isolation = "process"`): a parser past its
//! time limit is killed (its process is gone), a memory bomb is stopped by the address
//! space cap, the other files of a batch land, at most `max_running` parse processes run
//! at once, and the isolated result equals the in-process one on real documents.
//!
//! The hostile inputs are real PDFs, built here: pages that all share one long content
//! stream (the work is pages × stream, the file stays small), and a content stream that
//! inflates to hundreds of megabytes of operands (a deflate bomb behind an ASCII85
//! layer, which a byte scan for zlib headers does not see).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves

mod common;

use cairn_engine::ingest::isolate::{Format, Input, Limits, parse_in_process, parse_in_thread};
use cairn_types::ErrorCode;
use common::{cairn, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cairn"))
}

/// A PDF of `objects` (numbered from 1; object 1 the catalog), with a correct xref table.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

/// `pages` pages that all draw the same content stream of `ops` save/restore pairs: each
/// page costs the parser the whole stream, so the work is pages × ops for a small file.
fn slow_pdf(pages: usize, ops: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 4)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
        stream("", &b"q 1 0 0 1 0 0 cm Q\n".repeat(ops)),
    ];
    for _ in 0..pages {
        objects.push(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources << >> >>"
                .to_vec(),
        );
    }
    pdf(&objects)
}

/// A zlib stream that inflates to `pattern` (1 or 2 bytes below 0x90) repeated, about
/// `len` bytes: the pattern as literals, then length-258 copies at distance
/// `pattern.len()`, in a fixed-Huffman block (13 bits per 258 bytes).
fn deflate_bomb(pattern: &[u8], len: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        /// `count` bits of `value`, least significant first (deflate's header fields).
        fn put(&mut self, value: u64, count: u32) {
            self.acc |= value << self.n;
            self.n += count;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u64, len: u32) {
            let reversed = (0..len).fold(0, |r, i| r | ((code >> i) & 1) << (len - 1 - i));
            self.put(reversed, len);
        }
    }
    assert!((1..=2).contains(&pattern.len()) && pattern.iter().all(|&b| b < 0x90));
    let repeats = len / 258;
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // last block
    b.put(1, 2); // fixed Huffman codes
    for &byte in pattern {
        b.code(0x30 + u64::from(byte), 8); // literal
    }
    for _ in 0..repeats {
        b.code(0xC5, 8); // length 258 (code 285)
        b.code(pattern.len() as u64 - 1, 5); // distance 1 or 2 (codes 0, 1)
    }
    b.code(0, 7); // end of block
    if b.n > 0 {
        b.put(0, 8 - b.n);
    }
    let total = pattern.len() + 258 * repeats;
    b.out
        .extend_from_slice(&adler32_periodic(pattern, total / pattern.len()).to_be_bytes());
    b.out
}

/// Adler-32 of `pattern` repeated `m` times, in closed form: A = 1 + Σx, and
/// B = N + Σ (N − i + 1)·x_i over positions i = 1..N.
fn adler32_periodic(pattern: &[u8], m: usize) -> u32 {
    const P: u128 = 65_521;
    let (k, m) = (pattern.len() as u128, m as u128);
    let n = k * m;
    let a = 1 + m * pattern.iter().map(|&x| u128::from(x)).sum::<u128>();
    let b = n + pattern
        .iter()
        .enumerate()
        .map(|(j, &x)| u128::from(x) * (m * (n - j as u128) - k * m * (m - 1) / 2))
        .sum::<u128>();
    (((b % P) << 16) | (a % P)) as u32
}

/// ASCII85 (`btoa`) encoding with the `~>` end marker.
fn ascii85(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 4 * 5 + 8);
    for group in bytes.chunks(4) {
        let mut word = [0u8; 4];
        word[..group.len()].copy_from_slice(group);
        let mut n = u32::from_be_bytes(word);
        if n == 0 && group.len() == 4 {
            out.push(b'z');
            continue;
        }
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = b'!' + (n % 85) as u8;
            n /= 85;
        }
        out.extend_from_slice(&digits[..group.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// One page whose content stream inflates to `mib` MiB of `0 0 0 …`: operands without
/// an operator, which the content parser collects as objects (dozens of bytes each). The
/// deflate data sits behind an ASCII85 layer, so only running the parse tells its size.
fn bomb_pdf(mib: usize) -> Vec<u8> {
    let data = ascii85(&deflate_bomb(b"0 ", mib * 1024 * 1024));
    pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        stream("/Filter [/ASCII85Decode /FlateDecode]", &data),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources << >> >>"
            .to_vec(),
    ])
}

fn limits(timeout: Duration, memory_mb: u64, max_running: usize) -> Limits {
    Limits {
        timeout,
        memory_mb,
        max_running,
    }
}

/// The pids named by `pid=N` in the engine's log lines (colored or not).
fn logged_pids(stderr: &str) -> Vec<u32> {
    let mut plain = String::new();
    let mut chars = stderr.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An ANSI color sequence: ESC [ ... m
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
        .split("pid=")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn a_parser_past_its_time_limit_is_killed_and_the_rest_of_the_batch_lands() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    // Hours of work for the PDF parser in one 2 MB file.
    std::fs::write(src.join("hostile.pdf"), slow_pdf(20_000, 50_000)).unwrap();
    let prose = "Cairn keeps parsing in child processes so that a hostile file cannot pin a core. ";
    std::fs::write(src.join("a.md"), format!("# Notes\n\n{}", prose.repeat(8))).unwrap();
    std::fs::write(src.join("b.txt"), prose.repeat(6)).unwrap();
    std::fs::write(
        tmp.path().join("cairn.toml"),
        "[ingest]\nworkers = 2\nparse_timeout_ms = 2000\n",
    )
    .unwrap();

    let started = Instant::now();
    let out = cairn(
        tmp.path(),
        &[
            "--json",
            "ingest",
            src.to_str().unwrap(),
            "--collection",
            "hostile",
        ],
    );
    let elapsed = started.elapsed();
    let report = json(&out);
    assert_eq!(report["added"], 2, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(
        failed[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("hostile.pdf")
    );
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("corrupt_file:") && detail.contains("timed out after 2 s"),
        "{detail}"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");

    // The parse process was killed (and reaped): no process with its pid is left.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pids = logged_pids(&stderr);
    assert_eq!(
        pids.len(),
        1,
        "one killed parse process is logged: {stderr}"
    );
    assert!(
        !Path::new(&format!("/proc/{}", pids[0])).exists(),
        "parse process {} still exists",
        pids[0]
    );

    let docs = json(&cairn(
        tmp.path(),
        &["--json", "docs", "list", "--collection", "hostile"],
    ));
    let sources: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(sources.iter().all(|s| !s.ends_with("hostile.pdf")));
}

#[test]
fn a_memory_bomb_is_stopped_by_the_address_space_cap() {
    let bytes = bomb_pdf(256);
    assert!(bytes.len() < 16 * 1024 * 1024);
    let started = Instant::now();
    let result = parse_in_process(
        exe(),
        Format::Pdf,
        Input::Bytes(&bytes),
        "bomb.pdf",
        &limits(Duration::from_secs(60), 512, 1),
    );
    let e = result.expect_err("256 MiB of operands cannot fit in 512 MiB");
    assert_eq!(e.code, ErrorCode::CorruptFile, "{e:?}");
    assert!(
        e.message.contains("ran out of memory") && e.message.contains("512 MiB"),
        "{}",
        e.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped by the memory cap, not the time limit"
    );
}

#[test]
fn no_more_than_max_running_parse_processes_at_once() {
    let bytes = slow_pdf(20_000, 50_000);
    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    parse_in_process(
                        exe(),
                        Format::Pdf,
                        Input::Bytes(&bytes),
                        "slow.pdf",
                        &limits(Duration::from_secs(1), 2048, 1),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        let e = r.as_ref().expect_err("each parse runs into the limit");
        assert!(e.message.contains("timed out after 1 s"), "{}", e.message);
    }
    // One at a time: three 1 s limits back to back.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("CAIRN_FIXTURES_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/cairn/fixtures")
        },
        PathBuf::from,
    )
}

#[test]
fn isolated_parses_equal_in_process_parses_on_real_documents() {
    let dir = fixtures_dir();
    let files = [
        (
            "mammoth/package/test/test-data/simple-list.docx",
            Format::Docx,
        ),
        ("mammoth/package/test/test-data/tables.docx", Format::Docx),
        ("pypdf/pypdf-7.1.0/resources/crazyones.pdf", Format::Pdf),
        (
            "pypdf/pypdf-7.1.0/resources/two-different-pages.pdf",
            Format::Pdf,
        ),
    ];
    for (f, _) in &files {
        assert!(
            dir.join(f).is_file(),
            "fixture {f} missing under {}: run scripts/fetch-fixtures.sh",
            dir.display()
        );
    }
    let l = limits(Duration::from_secs(60), 2048, 2);
    for (file, format) in files {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let here = parse_in_thread(format, &bytes, name, &l);
        let fed = parse_in_process(exe(), format, Input::Bytes(&bytes), name, &l);
        let opened = parse_in_process(exe(), format, Input::Path(&path), name, &l);
        assert!(here.is_ok(), "{file}: {here:?}");
        assert_eq!(fed, here, "{file} fed on stdin");
        assert_eq!(opened, here, "{file} read from its path");
    }
    // Errors travel with their code and message.
    let empty = parse_in_process(exe(), Format::Text, Input::Bytes(b"  \n"), "blank.txt", &l);
    assert_eq!(
        empty,
        parse_in_thread(Format::Text, b"  \n", "blank.txt", &l)
    );
    assert_eq!(empty.unwrap_err().code, ErrorCode::EmptyDocument);
}
