//! Eval runs and comparisons as self-contained HTML: inline styles and SVG plots, no
//! script and nothing fetched, so a report opens offline and is safe to serve (every
//! text from a run is escaped).

use super::runs::{Comparison, QuestionScores, higher_is_better, question_scores};
use cairn_store::EvalRun;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;\
padding:0 1rem;color:#1b1f24}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccd;padding:.2rem .5rem;\
text-align:right}th{background:#f2f4f8}td:first-child,th:first-child{text-align:left}\
.up{color:#116329}.down{color:#a40e26}.same{color:#57606a}pre{background:#f6f8fa;\
padding:.5rem;overflow:auto;max-height:20rem}figure{margin:1rem 0}figcaption{color:#57606a}";

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

fn when(ms: i64) -> String {
    let (y, m, day) = cairn_types::civil_from_ms(ms);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

fn meta(run: &EvalRun) -> String {
    format!(
        "<table><tr><th>run</th><td>{}</td></tr><tr><th>kind</th><td>{}</td></tr>\
         <tr><th>label</th><td>{}</td></tr><tr><th>dataset</th><td>{}</td></tr>\
         <tr><th>dataset sha-256</th><td>{}</td></tr><tr><th>ran</th><td>{}</td></tr></table>",
        esc(&run.id),
        esc(&run.kind),
        esc(&run.label),
        esc(&run.dataset),
        esc(&run.dataset_hash),
        when(run.created_at)
    )
}

/// Mean of each metric per (config, kind), plus `all` per config.
fn means(scores: &[QuestionScores]) -> BTreeMap<(String, String), BTreeMap<String, (f64, usize)>> {
    let mut out: BTreeMap<(String, String), BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    for s in scores {
        for kind in [s.kind.as_str(), "all"] {
            let group = out.entry((s.config.clone(), kind.to_owned())).or_default();
            for (m, v) in &s.values {
                let e = group.entry(m.clone()).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
    }
    for group in out.values_mut() {
        for e in group.values_mut() {
            e.0 /= e.1.max(1) as f64;
        }
    }
    out
}

/// Bars of `values` (label, value in 0..=max), horizontal, as inline SVG.
fn bars(caption: &str, values: &[(String, f64)], max: f64) -> String {
    let row = 22;
    let h = values.len() * row + 10;
    let mut svg = format!(
        "<figure><svg role=\"img\" aria-label=\"{}\" width=\"640\" height=\"{h}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        esc(caption)
    );
    for (i, (label, v)) in values.iter().enumerate() {
        let y = i * row + 5;
        let w = if max > 0.0 {
            (v / max).clamp(0.0, 1.0) * 380.0
        } else {
            0.0
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"200\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" fill=\"#4a7bd0\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{v:.3}</text>",
            y + 13,
            esc(label),
            205.0 + w,
            y + 13
        );
    }
    let _ = write!(
        svg,
        "</svg><figcaption>{}</figcaption></figure>",
        esc(caption)
    );
    svg
}

/// A histogram of `values` in `bins` equal bins, as inline SVG.
fn histogram(caption: &str, values: &[f64], bins: usize) -> String {
    if values.is_empty() {
        return String::new();
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0usize; bins];
    for v in values {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut svg = format!(
        "<figure><svg role=\"img\" aria-label=\"{}\" width=\"640\" height=\"170\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        esc(caption)
    );
    let bw = 600.0 / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let h = *c as f64 / top as f64 * 130.0;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#8a63d2\">\
             <title>{:.3}–{:.3}: {c}</title></rect>",
            20.0 + i as f64 * bw,
            140.0 - h,
            bw - 2.0,
            lo + i as f64 * width,
            lo + (i + 1) as f64 * width
        );
    }
    let _ = write!(
        svg,
        "<text x=\"20\" y=\"160\" font-size=\"12\">{lo:.2}</text>\
         <text x=\"600\" y=\"160\" font-size=\"12\" text-anchor=\"end\">{hi:.2}</text>\
         </svg><figcaption>{}</figcaption></figure>",
        esc(caption)
    );
    svg
}

/// The metric plotted per kind, and the one whose distribution is drawn.
fn headline(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "retrieval" => ("mrr_10", "ms"),
        "grounding" => ("correct", "right"),
        _ => ("citation_recall_5", "total_ms"),
    }
}

/// One run: what ran, aggregates per configuration and kind, plots, every question.
pub fn run_html(run: &EvalRun) -> String {
    let scores = question_scores(run);
    let groups = means(&scores);
    let metrics: Vec<String> = {
        let mut m: Vec<String> = groups
            .values()
            .flat_map(|g| g.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        m.sort_by_key(|x| x.ends_with("ms"));
        m
    };
    let mut body = format!("<h1>Eval run {}</h1>{}", esc(&run.label_or_id()), meta(run));
    body.push_str(
        "<h2>Per configuration and kind</h2><table><tr><th>config</th><th>kind</th><th>n</th>",
    );
    for m in &metrics {
        let _ = write!(body, "<th>{}</th>", esc(m));
    }
    body.push_str("</tr>");
    for ((config, kind), g) in &groups {
        let n = g.values().map(|e| e.1).max().unwrap_or(0);
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{n}</td>",
            esc(config),
            esc(kind)
        );
        for m in &metrics {
            match g.get(m) {
                Some((v, _)) => {
                    let _ = write!(body, "<td>{v:.3}</td>");
                }
                None => body.push_str("<td>–</td>"),
            }
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    let (main, spread) = headline(&run.kind);
    let per_kind: Vec<(String, f64)> = groups
        .iter()
        .filter_map(|((c, k), g)| g.get(main).map(|v| (format!("{c} · {k}"), v.0)))
        .collect();
    let max = per_kind.iter().map(|x| x.1).fold(0.0, f64::max).max(1.0);
    body.push_str("<h2>Plots</h2>");
    body.push_str(&bars(
        &format!("{main} per configuration and kind"),
        &per_kind,
        max,
    ));
    let spread_values: Vec<f64> = scores
        .iter()
        .filter_map(|s| s.values.get(spread).copied())
        .collect();
    body.push_str(&histogram(
        &format!("{spread} over every question"),
        &spread_values,
        20,
    ));
    let main_values: Vec<f64> = scores
        .iter()
        .filter_map(|s| s.values.get(main).copied())
        .collect();
    body.push_str(&histogram(
        &format!("{main} over every question"),
        &main_values,
        10,
    ));
    body.push_str("<h2>Questions</h2><table><tr><th>config</th><th>id</th><th>kind</th>");
    for m in &metrics {
        let _ = write!(body, "<th>{}</th>", esc(m));
    }
    body.push_str("</tr>");
    for s in &scores {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(&s.config),
            esc(&s.id),
            esc(&s.kind)
        );
        for m in &metrics {
            match s.values.get(m) {
                Some(v) => {
                    let _ = write!(body, "<td>{v:.3}</td>");
                }
                None => body.push_str("<td>–</td>"),
            }
        }
        body.push_str("</tr>");
    }
    let _ = write!(
        body,
        "</table><h2>Configuration</h2><pre>{}</pre>",
        esc(&serde_json::to_string_pretty(&run.config).unwrap_or_default())
    );
    page(&format!("Eval run {}", run.label_or_id()), &body)
}

/// A comparison: both runs, every metric's change with its interval (plotted), flips.
pub fn compare_html(a: &EvalRun, b: &EvalRun, c: &Comparison) -> String {
    let mut body = format!(
        "<h1>{} → {}</h1><h2>A</h2>{}<h2>B</h2>{}",
        esc(&a.label_or_id()),
        esc(&b.label_or_id()),
        meta(a),
        meta(b)
    );
    if !c.same_dataset {
        body.push_str("<p><strong>The runs used different datasets</strong>: only questions with the same id are paired.</p>");
    }
    body.push_str(
        "<h2>Changes (B − A, paired bootstrap 95% interval)</h2><table><tr><th>config</th>\
         <th>metric</th><th>n</th><th>A</th><th>B</th><th>Δ</th><th>95% interval</th><th></th></tr>",
    );
    for d in &c.deltas {
        let (class, word) = match d.better {
            Some(true) => ("up", "better"),
            Some(false) => ("down", "worse"),
            None => ("same", "no clear change"),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td>\
             <td class=\"{class}\">{:+.3}</td><td>[{:+.3}, {:+.3}]</td><td class=\"{class}\">{word}</td></tr>",
            esc(&d.config),
            esc(&d.metric),
            d.n,
            d.a,
            d.b,
            d.delta,
            d.ci_low,
            d.ci_high
        );
    }
    body.push_str("</table>");
    body.push_str(&intervals(c));
    if !c.unmatched_configs.is_empty() {
        let _ = write!(
            body,
            "<p>Configurations in one run only: {}</p>",
            esc(&c.unmatched_configs.join(", "))
        );
    }
    let _ = write!(body, "<h2>Questions that flipped ({})</h2>", c.flips.len());
    if c.flips.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<table><tr><th>config</th><th>id</th><th>kind</th><th>metric</th><th>A</th><th>B</th></tr>");
        for f in &c.flips {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td></tr>",
                esc(&f.config),
                esc(&f.id),
                esc(&f.kind),
                esc(&f.metric),
                f.a,
                f.b
            );
        }
        body.push_str("</table>");
    }
    page(&format!("{} → {}", a.label_or_id(), b.label_or_id()), &body)
}

/// Each quality metric's change as a dot with its interval around zero.
fn intervals(c: &Comparison) -> String {
    let rows: Vec<_> = c
        .deltas
        .iter()
        .filter(|d| higher_is_better(&d.metric))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let span = rows
        .iter()
        .map(|d| d.ci_low.abs().max(d.ci_high.abs()))
        .fold(0.05_f64, f64::max);
    let x = |v: f64| 420.0 + v / span * 200.0;
    let row = 20;
    let mut svg = format!(
        "<figure><svg role=\"img\" aria-label=\"Changes with their intervals\" width=\"640\" \
         height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"420\" y1=\"0\" x2=\"420\" y2=\"{}\" stroke=\"#888\"/>",
        rows.len() * row + 10,
        rows.len() * row + 10
    );
    for (i, d) in rows.iter().enumerate() {
        let y = i * row + 12;
        let color = match d.better {
            Some(true) => "#116329",
            Some(false) => "#a40e26",
            None => "#57606a",
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{} · {}</text>\
             <line x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\"/>\
             <circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"{color}\"/>",
            y + 4,
            esc(&d.config),
            esc(&d.metric),
            x(d.ci_low),
            x(d.ci_high),
            x(d.delta)
        );
    }
    let _ = write!(
        svg,
        "</svg><figcaption>B − A per quality metric; the line is the 95% interval, ±{span:.2} \
         across</figcaption></figure>"
    );
    svg
}

/// A run's name in headings.
trait Named {
    fn label_or_id(&self) -> String;
}

impl Named for EvalRun {
    fn label_or_id(&self) -> String {
        if self.label.is_empty() {
            self.id.clone()
        } else {
            format!("{} ({})", self.label, self.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::TenantId;
    use serde_json::json;

    fn run(id: &str, mrr: f64) -> EvalRun {
        EvalRun {
            tenant: TenantId::new("t"),
            id: id.into(),
            kind: "retrieval".into(),
            label: "<script>alert(1)</script>".into(),
            dataset: "dev.jsonl".into(),
            dataset_hash: "h".into(),
            config: json!({"retrieval": {"mode": "</pre><img src=x onerror=alert(1)>"}}),
            summary: json!([]),
            results: json!([
                {"config": "hybrid", "id": "q<1>", "kind": "fact", "ms": 12.0,
                 "metrics": {"recall_5": 1.0, "mrr_10": mrr}},
                {"config": "hybrid", "id": "q2", "kind": "paraphrase", "ms": 30.0,
                 "metrics": {"recall_5": 0.0, "mrr_10": 0.0}}
            ]),
            created_at: 1_796_688_000_000,
        }
    }

    #[test]
    fn a_report_is_self_contained_and_escapes_what_a_run_holds() {
        let html = run_html(&run("r1", 0.5));
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<script"), "no script, none injected");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        assert!(html.contains("&lt;script&gt;") && html.contains("q&lt;1&gt;"));
        assert!(html.contains("<svg") && html.contains("mrr_10 per configuration and kind"));
        assert!(html.contains("2026-12-"), "the run's time");
        let c = super::super::runs::compare(&run("r1", 0.5), &run("r2", 1.0));
        let html = compare_html(&run("r1", 0.5), &run("r2", 1.0), &c);
        assert!(html.contains("paired bootstrap") && html.contains("mrr_10"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_796_688_000_000 + 3_720_000), "2026-12-08 01:02 UTC");
    }
}
