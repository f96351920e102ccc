#![allow(clippy::unwrap_used, clippy::print_stderr)]
#[test]
fn perf() {
    let data = std::fs::read_to_string("/tmp/guardwork/benign.jsonl").unwrap();
    let mut big = String::new();
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        big.push_str(v["text"].as_str().unwrap());
        big.push('\n');
        if big.len() > 32_000 { break; }
    }
    let g = cairn_guard::Guard::new(cairn_guard::Policy { pii_input: cairn_guard::Verdict::Flag, ..Default::default() });
    let t = std::time::Instant::now();
    let c = g.check_input(&big);
    eprintln!("check_input 32k: {:?} ({} decisions)", t.elapsed(), c.decisions.len());
    let t = std::time::Instant::now();
    let n = cairn_guard::normalize(&big);
    eprintln!("normalize: {:?} views={}", t.elapsed(), n.views.len());
    let t = std::time::Instant::now();
    let m = cairn_guard::pii::detect_all(&big);
    eprintln!("pii: {:?} {}", t.elapsed(), m.len());
    let short = "What is the refund policy for annual plans, and can I get one?";
    let t = std::time::Instant::now();
    for _ in 0..200 { g.check_input(short); }
    eprintln!("short check_input: {:?}/call", t.elapsed() / 200);
}
