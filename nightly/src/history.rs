//! The history store (JSON lines of `JobResult`, appended by every nightly
//! job) and `mmstall report`: the stall-ratio trend plot (SVG, one line per
//! stall test × kernel) and the findings-over-time table.

use crate::model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A series of points: (night, ratio) for one stall test on one kernel/config.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub test: String,
    /// `kernel/config`.
    pub kernel: String,
    pub points: Vec<(String, f64)>,
}

/// The baseline kernels' stall ratios per night. When a night has several
/// measurements of the same test and kernel (a re-run), the last one counts.
pub fn trends(results: &[JobResult]) -> Vec<Trend> {
    let mut map: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.is_baseline()) {
        let Some(b) = &r.baseline else { continue };
        for t in &b.tests {
            if let Some(v) = t.ratio.filter(|v| v.is_finite()) {
                map.entry((t.name.clone(), format!("{}/{}", r.kernel, r.config)))
                    .or_default()
                    .insert(r.night.clone(), v);
            }
        }
    }
    map.into_iter()
        .map(|((test, kernel), pts)| Trend {
            test,
            kernel,
            points: pts.into_iter().collect(),
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// A line chart: x = nights (in order), y = stall ratio. Each trend is one
/// `<polyline class="trend" data-test=.. data-kernel=..>` (a single night is
/// drawn as a one-point polyline plus a marker), with a legend.
pub fn svg(trends: &[Trend]) -> String {
    let mut nights: Vec<&str> = trends
        .iter()
        .flat_map(|t| t.points.iter().map(|(n, _)| n.as_str()))
        .collect();
    nights.sort_unstable();
    nights.dedup();
    let (w, h, left, right, top, bottom) = (900.0, 420.0, 70.0, 260.0, 30.0, 70.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let maxv = trends
        .iter()
        .flat_map(|t| t.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let ymax = if maxv <= 0.0 { 1.0 } else { nice_ceiling(maxv) };
    let x = |i: usize| {
        if nights.len() <= 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (nights.len() - 1) as f64
        }
    };
    let y = |v: f64| top + ph - ph * (v / ymax);
    let mut o = String::new();
    let _ = writeln!(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">");
    let _ = writeln!(
        o,
        "<title>mmstall: stall ratio per test and kernel over nights</title>"
    );
    let _ = writeln!(
        o,
        "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"white\"/>"
    );
    // Axes, grid, ticks.
    let _ = writeln!(o, "<g class=\"axes\" stroke=\"#333\"><line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\"/></g>", top + ph, left + pw, top + ph, top + ph);
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let _ = writeln!(o, "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}×</text>", y(v), left + pw, y(v), left - 6.0, y(v) + 4.0);
    }
    let step = (nights.len() / 10).max(1);
    for (i, n) in nights.iter().enumerate() {
        if i % step == 0 || i + 1 == nights.len() {
            let _ = writeln!(o, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-40 {:.1} {})\">{}</text>", x(i), top + ph + 14.0, x(i), top + ph + 14.0, esc(n));
        }
    }
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">night</text>",
        left + pw / 2.0,
        h - 8.0
    );
    let _ = writeln!(o, "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">stall ratio</text>", top + ph / 2.0, top + ph / 2.0);
    if trends.is_empty() {
        let _ = writeln!(o, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no stall measurements in the history yet</text>", left + pw / 2.0, top + ph / 2.0);
    }
    for (i, t) in trends.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = if i >= COLORS.len() {
            " stroke-dasharray=\"5,3\""
        } else {
            ""
        };
        let pts: Vec<String> = t
            .points
            .iter()
            .map(|(n, v)| {
                let xi = nights.iter().position(|m| m == n).unwrap_or(0);
                format!("{:.1},{:.1}", x(xi), y(*v))
            })
            .collect();
        let _ = writeln!(
            o,
            "<polyline class=\"trend\" data-test=\"{}\" data-kernel=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"><title>{} on {}</title></polyline>",
            esc(&t.test),
            esc(&t.kernel),
            pts.join(" "),
            esc(&t.test),
            esc(&t.kernel)
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                o,
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"2.5\" fill=\"{color}\"/>"
            );
        }
        let ly = top + 14.0 * i as f64;
        let lx = left + pw + 16.0;
        let _ = writeln!(o, "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{} · {}</text>", lx + 18.0, lx + 22.0, ly + 4.0, esc(&t.test), esc(&t.kernel));
    }
    o.push_str("</svg>\n");
    o
}

fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Markdown: per night and series × kernel × config, the verdict and the
/// static findings (new, fixed) — and the stall ratios per kernel.
pub fn findings_table(results: &[JobResult]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## Findings over time\n\n| night | series | kernel | config | verdict | new findings | fixed | rules |\n|---|---|---|---|---|--:|--:|---|");
    let mut rows: Vec<&JobResult> = results.iter().filter(|r| !r.is_baseline()).collect();
    rows.sort_by(|a, b| {
        (&a.night, &a.series, &a.kernel, &a.config)
            .cmp(&(&b.night, &b.series, &b.kernel, &b.config))
    });
    for r in rows {
        let (n, f, rules) = match &r.static_ {
            Some(s) if matches!(s.step.status, StepStatus::Ok) => {
                let mut rules: Vec<&str> = s.introduced.iter().map(|f| f.code.as_str()).collect();
                rules.sort_unstable();
                rules.dedup();
                (
                    s.introduced.len().to_string(),
                    s.fixed.len().to_string(),
                    rules.join(", "),
                )
            }
            Some(_) => ("n/a".into(), "n/a".into(), "static analysis not run".into()),
            None => ("n/a".into(), "n/a".into(), String::new()),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {n} | {f} | {rules} |",
            r.night,
            r.series,
            r.kernel,
            r.config,
            r.verdict.word()
        );
    }
    let tr = trends(results);
    if !tr.is_empty() {
        let mut nights: Vec<&str> = tr
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.0.as_str()))
            .collect();
        nights.sort_unstable();
        nights.dedup();
        let _ = writeln!(
            o,
            "\n## Stall ratios per kernel\n\n| test | kernel | {} |\n|---|---|{}",
            nights.join(" | "),
            "--:|".repeat(nights.len())
        );
        for t in &tr {
            let cells: Vec<String> = nights
                .iter()
                .map(|n| {
                    t.points
                        .iter()
                        .find(|p| p.0 == *n)
                        .map(|p| format!("{:.2}", p.1))
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            let _ = writeln!(o, "| {} | {} | {} |", t.test, t.kernel, cells.join(" | "));
        }
    }
    o
}
