//! The history store (JSON lines of `JobResult`, appended by every nightly
//! job) and `mmstall report`: the stall-ratio trend plot (SVG, one line per
//! stall test × kernel) and the findings-over-time table.

use crate::model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One stall test on one kernel/config over nights.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub test: String,
    /// `kernel/config`.
    pub kernel: String,
    /// (night, ratio) of the nights with a ratio.
    pub points: Vec<(String, f64)>,
    /// (night, status: pass|fail|skip|error) of every night it was run, with
    /// or without a ratio: an untimed test (no ratio on any night) is drawn
    /// from these.
    pub statuses: Vec<(String, String)>,
}

impl Trend {
    /// A test that never gave a ratio (counters, POSIX checks): drawn as
    /// pass/fail markers in a band of their own.
    pub fn is_untimed(&self) -> bool {
        self.points.is_empty()
    }
}

/// The baseline kernels' stall tests per night. When a night has several
/// measurements of the same test and kernel (a re-run), the last one counts.
pub fn trends(results: &[JobResult]) -> Vec<Trend> {
    type Nights = (BTreeMap<String, f64>, BTreeMap<String, String>);
    let mut map: BTreeMap<(String, String), Nights> = BTreeMap::new();
    for r in results.iter().filter(|r| r.is_baseline()) {
        let Some(b) = &r.baseline else { continue };
        for t in &b.tests {
            let e = map
                .entry((t.name.clone(), format!("{}/{}", r.kernel, r.config)))
                .or_default();
            match t.ratio.filter(|v| v.is_finite()) {
                Some(v) => e.0.insert(r.night.clone(), v),
                None => e.0.remove(&r.night),
            };
            e.1.insert(r.night.clone(), t.status.clone());
        }
    }
    map.into_iter()
        .map(|((test, kernel), (pts, st))| Trend {
            test,
            kernel,
            points: pts.into_iter().collect(),
            statuses: st.into_iter().collect(),
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One colour per test (colour-blind-safe qualitative palette).
const COLORS: &[&str] = &[
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999933",
];

/// One line style and marker per kernel/config.
const DASHES: &[&str] = &["", "6,3", "2,3", "8,3,2,3"];
const MARKERS: &[&str] = &["circle", "square", "triangle", "diamond"];

fn marker(shape: &str, x: f64, y: f64, color: &str, extra: &str) -> String {
    match shape {
        "square" => format!(
            "<rect{extra} x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"{color}\"/>",
            x - 3.0,
            y - 3.0
        ),
        "triangle" => format!(
            "<polygon{extra} points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\"/>",
            x,
            y - 4.0,
            x - 3.5,
            y + 3.0,
            x + 3.5,
            y + 3.0
        ),
        "diamond" => format!(
            "<polygon{extra} points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\"/>",
            x,
            y - 4.0,
            x + 4.0,
            y,
            x,
            y + 4.0,
            x - 4.0,
            y
        ),
        _ => format!("<circle{extra} cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{color}\"/>"),
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` night (None if it is not one).
pub fn night_day(night: &str) -> Option<i64> {
    if !crate::clock::valid_night(night) {
        return None;
    }
    let y: i64 = night[0..4].parse().ok()?;
    let m: i64 = night[5..7].parse().ok()?;
    let d: i64 = night[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Inverse of crate::clock::civil_date (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The ratio above which a stall test fails, per test, from the thresholds
/// the guest judges with (vm-tests/thresholds.toml, compiled into mmstall-vm).
pub fn builtin_thresholds() -> BTreeMap<String, f64> {
    mmstall_vm::stall::thresholds::Thresholds::builtin()
        .tests
        .iter()
        .map(|t| (t.name.clone(), t.judging.max_ratio))
        .collect()
}

/// Width in pixels of a legend or label text at font-size 11 (sans-serif:
/// at most 7 px a character), so the legend can be sized to fit the canvas.
fn text_width(s: &str) -> f64 {
    7.0 * s.chars().count() as f64
}

/// The trend plot with the built-in thresholds; see [`svg_with`].
pub fn svg(trends: &[Trend]) -> String {
    svg_with(trends, &builtin_thresholds())
}

/// A line chart of the stall ratio over nights on a real time axis (one day
/// per day: a night without a measurement leaves a gap, the line is broken
/// there). One colour per test, one line style and marker per kernel/config;
/// each stretch of consecutive nights is one `<polyline class="trend"
/// data-test=.. data-kernel=..>`. A dashed `<line class="threshold">` marks
/// each test's failing ratio (`thresholds`: test → max ratio). Tests without a
/// ratio are drawn as pass/fail markers (`class="untimed"`) in a band of their
/// own under the plot. The legend (`<g class="legend">`) sits inside the
/// canvas, below the axes, in as many rows as it needs.
pub fn svg_with(trends: &[Trend], thresholds: &BTreeMap<String, f64>) -> String {
    let w = 900.0;
    let (left, right, top) = (70.0, 30.0, 30.0);
    let pw = w - left - right;
    let ph = 300.0;
    let timed: Vec<&Trend> = trends.iter().filter(|t| !t.is_untimed()).collect();
    let untimed: Vec<&Trend> = trends.iter().filter(|t| t.is_untimed()).collect();
    // Distinct tests (colours) and kernel/configs (styles), in order.
    let mut tests: Vec<&str> = trends.iter().map(|t| t.test.as_str()).collect();
    tests.dedup();
    let tests: Vec<&str> = {
        let mut seen = Vec::new();
        for t in tests {
            if !seen.contains(&t) {
                seen.push(t);
            }
        }
        seen
    };
    let mut kernels: Vec<&str> = trends.iter().map(|t| t.kernel.as_str()).collect();
    kernels.sort_unstable();
    kernels.dedup();
    let color =
        |test: &str| COLORS[tests.iter().position(|t| *t == test).unwrap_or(0) % COLORS.len()];
    let style = |kernel: &str| kernels.iter().position(|k| *k == kernel).unwrap_or(0);

    // The time axis: every night's day number.
    let days: Vec<i64> = trends
        .iter()
        .flat_map(|t| t.statuses.iter().map(|(n, _)| n))
        .chain(trends.iter().flat_map(|t| t.points.iter().map(|(n, _)| n)))
        .filter_map(|n| night_day(n))
        .collect();
    let (d0, d1) = (
        days.iter().copied().min().unwrap_or(0),
        days.iter().copied().max().unwrap_or(0),
    );
    let x = |night: &str| -> Option<f64> {
        let d = night_day(night)?;
        // 12 px inside the axes, so a first or last marker is not on an axis.
        Some(if d1 == d0 {
            left + pw / 2.0
        } else {
            left + 12.0 + (pw - 24.0) * (d - d0) as f64 / (d1 - d0) as f64
        })
    };
    // Thresholds of the timed tests drawn, one line per distinct value.
    let mut thr: Vec<(f64, Vec<&str>)> = Vec::new();
    for t in &tests {
        if !timed.iter().any(|x| x.test == *t) {
            continue;
        }
        if let Some(v) = thresholds
            .get(*t)
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
        {
            match thr.iter_mut().find(|(x, _)| (*x - v).abs() < 1e-12) {
                Some((_, names)) => names.push(t),
                None => thr.push((v, vec![t])),
            }
        }
    }
    let maxv = timed
        .iter()
        .flat_map(|t| t.points.iter().map(|p| p.1))
        .chain(thr.iter().map(|(v, _)| *v))
        .fold(0.0f64, f64::max);
    let ymax = if maxv <= 0.0 {
        1.0
    } else {
        nice_ceiling(maxv * 1.05)
    };
    let y = |v: f64| top + ph - ph * (v / ymax);

    // Below the plot: date labels, the untimed band, then the legend.
    let axis_bottom = top + ph;
    let band_top = axis_bottom + 84.0;
    // A row: the test's name above its markers.
    let band_row = 26.0;
    let band_h = if untimed.is_empty() {
        0.0
    } else {
        12.0 + band_row * untimed.len() as f64
    };
    // Legend entries: (kind, label); laid out in rows that fit the width.
    enum Entry<'a> {
        Test(&'a str),
        Kernel(usize),
        Threshold,
        Status(&'static str),
    }
    let mut entries: Vec<(Entry, String)> = Vec::new();
    for t in &tests {
        entries.push((Entry::Test(t), t.to_string()));
    }
    for (i, k) in kernels.iter().enumerate() {
        entries.push((Entry::Kernel(i), k.to_string()));
    }
    if !thr.is_empty() {
        let label = thr
            .iter()
            .map(|(v, _)| format!("{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        entries.push((Entry::Threshold, format!("threshold (fails above {label})")));
    }
    if !untimed.is_empty() {
        entries.push((Entry::Status("pass"), "pass".into()));
        entries.push((Entry::Status("fail"), "fail".into()));
        entries.push((Entry::Status("skip"), "skip / error".into()));
    }
    let legend_top = band_top + band_h + 10.0;
    let (lpad, swatch, gap, row_h) = (10.0, 26.0, 18.0, 18.0);
    let lwidth = w - 2.0 * lpad;
    let mut placed: Vec<(f64, f64, &Entry, &str)> = Vec::new();
    let (mut cx, mut cy) = (lpad + 8.0, legend_top + 16.0);
    for (e, label) in &entries {
        let ew = swatch + 6.0 + text_width(label);
        if cx + ew > lpad + lwidth - 8.0 && cx > lpad + 8.0 {
            cx = lpad + 8.0;
            cy += row_h;
        }
        placed.push((cx, cy, e, label.as_str()));
        cx += ew + gap;
    }
    let legend_h = if entries.is_empty() {
        0.0
    } else {
        cy - legend_top + 12.0
    };
    let h = (legend_top + legend_h + 10.0).ceil();

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
    let _ = writeln!(o, "<g class=\"axes\" stroke=\"#333\"><line x1=\"{left}\" y1=\"{axis_bottom}\" x2=\"{}\" y2=\"{axis_bottom}\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{axis_bottom}\"/></g>", left + pw);
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let _ = writeln!(o, "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>", y(v), left + pw, y(v), left - 6.0, y(v) + 4.0);
    }
    // Day ticks: every day when there are few, else about ten labels.
    if !days.is_empty() {
        let span = d1 - d0;
        let step = (span / 10).max(1);
        let mut d = d0;
        while d <= d1 {
            let night = crate::clock::civil_date(d.max(0) as u64);
            if let Some(px) = x(&night) {
                let _ = writeln!(o, "<line class=\"day-tick\" x1=\"{px:.1}\" y1=\"{axis_bottom}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"#333\"/><text x=\"{px:.1}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-40 {px:.1} {})\">{}</text>", axis_bottom + 4.0, axis_bottom + 14.0, axis_bottom + 14.0, esc(&night));
            }
            d += step;
        }
    }
    let _ = writeln!(o, "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">stall ratio</text>", top + ph / 2.0, top + ph / 2.0);
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">night (UTC; one tick per day)</text>",
        left + pw / 2.0,
        axis_bottom + 74.0
    );
    if trends.is_empty() {
        let _ = writeln!(o, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no stall measurements in the history yet</text>", left + pw / 2.0, top + ph / 2.0);
    }
    for (v, names) in &thr {
        let _ = writeln!(o, "<line class=\"threshold\" data-value=\"{v}\" data-tests=\"{}\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#b00\" stroke-width=\"1.5\" stroke-dasharray=\"8,4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#b00\">threshold {v}</text>", esc(&names.join(",")), y(*v), left + pw, y(*v), left + pw - 4.0, y(*v) - 4.0);
    }
    for t in &timed {
        let c = color(&t.test);
        let k = style(&t.kernel);
        let dash = match DASHES[k % DASHES.len()] {
            "" => String::new(),
            d => format!(" stroke-dasharray=\"{d}\""),
        };
        // Stretches of consecutive nights; a missing night breaks the line.
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut prev: Option<i64> = None;
        for (n, v) in &t.points {
            let (Some(d), Some(px)) = (night_day(n), x(n)) else {
                continue;
            };
            if prev.is_none_or(|p| d != p + 1) {
                runs.push(Vec::new());
            }
            if let Some(r) = runs.last_mut() {
                r.push((px, y(*v)));
            }
            prev = Some(d);
        }
        for r in &runs {
            let pts: Vec<String> = r.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                o,
                "<polyline class=\"trend\" data-test=\"{}\" data-kernel=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"{dash} points=\"{}\"><title>{} on {}</title></polyline>",
                esc(&t.test),
                esc(&t.kernel),
                pts.join(" "),
                esc(&t.test),
                esc(&t.kernel)
            );
            for (px, py) in r {
                let _ = writeln!(o, "{}", marker(MARKERS[k % MARKERS.len()], *px, *py, c, ""));
            }
        }
    }
    if !untimed.is_empty() {
        let _ = writeln!(o, "<text x=\"{left}\" y=\"{}\" font-weight=\"bold\">untimed tests (pass / fail per night)</text>", band_top + 6.0);
        for (i, t) in untimed.iter().enumerate() {
            let ry = band_top + 30.0 + band_row * i as f64;
            let c = color(&t.test);
            let _ = writeln!(o, "<line x1=\"{left}\" y1=\"{ry:.1}\" x2=\"{}\" y2=\"{ry:.1}\" stroke=\"#eee\"/><text x=\"{left}\" y=\"{:.1}\" fill=\"{c}\">{}</text>", left + pw, ry - 7.0, esc(&format!("{} · {}", t.test, t.kernel)));
            for (n, st) in &t.statuses {
                let Some(px) = x(n) else { continue };
                let extra = format!(
                    " class=\"untimed\" data-test=\"{}\" data-kernel=\"{}\" data-night=\"{}\" data-status=\"{}\"",
                    esc(&t.test),
                    esc(&t.kernel),
                    esc(n),
                    esc(st)
                );
                let mark = match st.as_str() {
                    "pass" => format!("<circle{extra} cx=\"{px:.1}\" cy=\"{ry:.1}\" r=\"4\" fill=\"#009e73\"/>"),
                    "fail" => format!("<path{extra} d=\"M{:.1},{:.1} l8,8 m0,-8 l-8,8\" stroke=\"#d55e00\" stroke-width=\"2.5\" fill=\"none\"/>", px - 4.0, ry - 4.0),
                    _ => format!("<circle{extra} cx=\"{px:.1}\" cy=\"{ry:.1}\" r=\"4\" fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\"/>"),
                };
                let _ = writeln!(o, "{mark}");
            }
        }
    }
    if !entries.is_empty() {
        let _ = writeln!(
            o,
            "<g class=\"legend\"><rect class=\"legend-box\" x=\"{lpad}\" y=\"{legend_top:.1}\" width=\"{lwidth}\" height=\"{legend_h:.1}\" fill=\"none\" stroke=\"#ccc\"/>"
        );
        for (lx, ly, e, label) in &placed {
            let (sx, sy) = (*lx, *ly - 4.0);
            let sw = match e {
                Entry::Test(t) => format!("<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{:.1}\" y2=\"{sy:.1}\" stroke=\"{}\" stroke-width=\"4\"/>", sx + swatch, color(t)),
                Entry::Kernel(k) => {
                    let dash = match DASHES[k % DASHES.len()] {
                        "" => String::new(),
                        d => format!(" stroke-dasharray=\"{d}\""),
                    };
                    format!("<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{:.1}\" y2=\"{sy:.1}\" stroke=\"#555\" stroke-width=\"2\"{dash}/>{}", sx + swatch, marker(MARKERS[k % MARKERS.len()], sx + swatch / 2.0, sy, "#555", ""))
                }
                Entry::Threshold => format!("<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{:.1}\" y2=\"{sy:.1}\" stroke=\"#b00\" stroke-width=\"1.5\" stroke-dasharray=\"8,4\"/>", sx + swatch),
                Entry::Status("pass") => format!("<circle cx=\"{:.1}\" cy=\"{sy:.1}\" r=\"4\" fill=\"#009e73\"/>", sx + swatch / 2.0),
                Entry::Status("fail") => format!("<path d=\"M{:.1},{:.1} l8,8 m0,-8 l-8,8\" stroke=\"#d55e00\" stroke-width=\"2.5\" fill=\"none\"/>", sx + swatch / 2.0 - 4.0, sy - 4.0),
                Entry::Status(_) => format!("<circle cx=\"{:.1}\" cy=\"{sy:.1}\" r=\"4\" fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\"/>", sx + swatch / 2.0),
            };
            let _ = writeln!(
                o,
                "{sw}<text class=\"legend-label\" x=\"{:.1}\" y=\"{ly:.1}\" data-width=\"{:.0}\">{}</text>",
                sx + swatch + 6.0,
                text_width(label),
                esc(label)
            );
        }
        o.push_str("</g>\n");
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
    if tr.iter().any(|t| !t.is_untimed()) {
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
        for t in tr.iter().filter(|t| !t.is_untimed()) {
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
    hold_table(&mut o, results);
    o
}

/// Markdown: per finding fingerprint (and series × kernel), the hold
/// `[confirm]` measured on the patched kernel each night.
fn hold_table(o: &mut String, results: &[JobResult]) {
    // (fingerprint, finding, series, kernel) → [(night, cell)]
    type Row = ((String, String, String, String), Vec<(String, String)>);
    let mut rows: Vec<Row> = Vec::new();
    let mut nights: Vec<&str> = Vec::new();
    for r in results {
        for h in r.confirm.iter().flat_map(|c| &c.findings) {
            let key = (
                h.fingerprint.clone(),
                format!("{} {}:{}", h.code, h.file, h.line),
                r.series.clone(),
                r.kernel.clone(),
            );
            let m = &h.patched;
            let cell = match (m.largest_ms(), m.growth) {
                (Some(ms), Some(g)) => format!("{} {ms:.1} ms ({g:.1}×)", m.outcome.word()),
                (Some(ms), None) => format!("{} {ms:.1} ms", m.outcome.word()),
                _ => m.outcome.word().to_string(),
            };
            nights.push(&r.night);
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cells)) => cells.push((r.night.clone(), cell)),
                None => rows.push((key, vec![(r.night.clone(), cell)])),
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    nights.sort_unstable();
    nights.dedup();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(
        o,
        "\n## Measured holds per finding (patched kernel, largest size)\n\n| finding | fingerprint | series | kernel | {} |\n|---|---|---|---|{}",
        nights.join(" | "),
        "--:|".repeat(nights.len())
    );
    for ((fp, finding, series, kernel), cells) in rows {
        let cells: Vec<String> = nights
            .iter()
            .map(|n| {
                // The night's last measurement (a re-run replaces it).
                cells
                    .iter()
                    .rev()
                    .find(|c| c.0 == *n)
                    .map(|c| c.1.clone())
                    .unwrap_or_else(|| "–".into())
            })
            .collect();
        let _ = writeln!(
            o,
            "| {finding} | `{fp}` | {series} | {kernel} | {} |",
            cells.join(" | ")
        );
    }
}
