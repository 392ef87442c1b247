//! The trend plot over a history of several nights: one line per stall test
//! and kernel, each with one point per night it was measured.

mod common;

use common::*;
use mmstall_nightly::history;
use mmstall_nightly::model::*;
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use std::collections::BTreeSet;

#[test]
fn trend_plot_has_one_line_per_stall_test_and_kernel() {
    let w = world(&["regress"], "");
    // A second kernel.
    let mut plan = std::fs::read_to_string(&w.plan).unwrap();
    plan = plan.replace(
        "[[config]]",
        &format!(
            "[[kernel]]\nname = \"k613\"\ntree = \"{}\"\n\n[[config]]",
            w.tree.display()
        ),
    );
    std::fs::write(&w.plan, plan).unwrap();
    let plan = Plan::load(&w.plan).unwrap();
    let hist = w.dir.path().join("history.jsonl");
    let nights = ["2026-11-23", "2026-11-24", "2026-11-25"];
    for (i, night) in nights.iter().enumerate() {
        let o = Options {
            out: w.dir.path().join(night),
            night: night.to_string(),
            only_jobs: vec![],
            history: Some(hist.clone()),
            resume: false,
        };
        let mut fake = Fake {
            cache: w.dir.path().join("cache"),
            with_series: true,
            with_suite: true,
            ..Default::default()
        };
        pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
        // Make the nights differ: scale this night's lines of the store.
        let (mut rs, _) = pipeline::read_results(&hist);
        for r in rs.iter_mut().filter(|r| r.night == *night) {
            if let Some(b) = r.baseline.as_mut() {
                for t in &mut b.tests {
                    t.ratio = t.ratio.map(|v| v + i as f64);
                }
            }
        }
        let text: String = rs
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(&hist, text).unwrap();
    }
    let (rs, bad) = pipeline::read_results(&hist);
    assert!(bad.is_empty());
    assert_eq!(rs.len(), 3 * 4, "3 nights × (2 baselines + 2 series jobs)");
    let trends = history::trends(&rs);
    let svg = history::svg(&trends);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("class") == Some("trend"))
        .collect();
    let got: BTreeSet<(String, String)> = lines
        .iter()
        .map(|n| {
            (
                n.attribute("data-test").unwrap().to_string(),
                n.attribute("data-kernel").unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = ["mlock-20g", "munmap-zap"] // uffd-hold was skipped: no ratio, no line
        .iter()
        .flat_map(|t| ["k612/default", "k613/default"].map(|k| (t.to_string(), k.to_string())))
        .collect();
    assert_eq!(lines.len(), 4, "one line per test × kernel");
    assert_eq!(got, want);
    for l in &lines {
        let pts: Vec<(f64, f64)> = l
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(pts.len(), 3, "one point per night");
        assert!(
            pts.windows(2).all(|w| w[0].0 < w[1].0),
            "nights left to right"
        );
        assert!(
            pts.windows(2).all(|w| w[0].1 > w[1].1),
            "ratios rise each night, so y falls"
        );
    }
    let table = history::findings_table(&rs);
    assert_eq!(table.matches("| regress | k61").count(), 6, "{table}");
    assert!(table.contains("| 2026-11-25 | regress | k612 | default | regression (static + dynamic) | 1 | 0 | MMS001 |"), "{table}");
    assert!(table.contains("## Stall ratios per kernel"));
}

#[test]
fn empty_history_still_renders() {
    let svg = history::svg(&[]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count(),
        0
    );
    assert!(svg.contains("no stall measurements"));
}

/// A baseline job of `night` on k612/`config` measuring `tests`
/// (name, status, ratio).
fn baseline(night: &str, config: &str, tests: &[(&str, &str, Option<f64>)]) -> JobResult {
    let step = |name: &str| StepRecord {
        name: name.into(),
        status: StepStatus::Ok,
        duration_s: 1.0,
        log: None,
    };
    JobResult {
        night: night.into(),
        plan: "p".into(),
        job: format!("baseline--k612--{config}"),
        series: "baseline".into(),
        kernel: "k612".into(),
        kernel_source: "debian:6.12".into(),
        commit: None,
        config: config.into(),
        fragments: vec![],
        subjects: vec![],
        checkout: step("checkout"),
        static_: None,
        baseline: Some(KernelRun {
            build: step("build"),
            build_dir: None,
            kernel_release: None,
            compiled: None,
            boot: step("boot"),
            boot_secs: None,
            events: vec![],
            suite: step("suite"),
            tests: tests
                .iter()
                .map(|(n, s, r)| SuiteTest {
                    name: n.to_string(),
                    status: s.to_string(),
                    ratio: *r,
                    unit: "ratio".into(),
                    detail: String::new(),
                    duration_s: None,
                })
                .collect(),
            selftests: None,
        }),
        patched: None,
        comparisons: vec![],
        selftest_comparisons: vec![],
        confirm: None,
        verdict: Verdict::Pass {
            not_checked: vec![],
        },
        duration_s: 1.0,
        started: None,
        host: None,
    }
}

/// Four nights over five days (2026-11-23 missing), two configs, a timed
/// test that crosses the threshold on the last night and an untimed one.
pub fn fixture_history() -> Vec<JobResult> {
    let mut rs = Vec::new();
    for (night, r, reclaim) in [
        ("2026-11-21", 0.08, "pass"),
        ("2026-11-22", 0.11, "pass"),
        ("2026-11-24", 0.09, "fail"),
        ("2026-11-25", 0.93, "pass"),
    ] {
        for (config, scale) in [("default", 1.0), ("lockdep-and-kasan", 1.4)] {
            rs.push(baseline(
                night,
                config,
                &[
                    ("munmap-zap-stall", "pass", Some(r * scale)),
                    ("fault-io-stall", "pass", Some(0.02 * scale)),
                    ("mlock-reclaim", reclaim, None),
                    ("mlock-posix-atomicity", "skip", None),
                ],
            ));
        }
    }
    rs
}

fn num(n: &roxmltree::Node, a: &str) -> f64 {
    n.attribute(a)
        .unwrap_or_else(|| panic!("{a} of {n:?}"))
        .parse()
        .unwrap()
}

/// The plot read back without a screenshot: threshold line, legend inside
/// the canvas, a real time axis with a gap for the missing night, untimed
/// tests as markers, one colour per test and one line style per config.
#[test]
fn trend_plot_threshold_legend_time_axis_gap_untimed() {
    let rs = fixture_history();
    let trends = history::trends(&rs);
    let svg = history::svg(&trends);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let root = doc.root_element();
    let (w, h) = (num(&root, "width"), num(&root, "height"));
    assert_eq!(
        root.attribute("viewBox"),
        Some(format!("0 0 {w} {h}").as_str())
    );
    let by_class = |c: &str| -> Vec<roxmltree::Node> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .collect()
    };

    // The threshold comes from vm-tests/thresholds.toml (max_ratio 0.5).
    let thr = by_class("threshold");
    assert_eq!(thr.len(), 1, "{svg}");
    assert_eq!(thr[0].attribute("data-value"), Some("0.5"));
    assert!(thr[0]
        .attribute("data-tests")
        .unwrap()
        .contains("munmap-zap-stall"));
    let munmap_default: Vec<roxmltree::Node> = by_class("trend")
        .into_iter()
        .filter(|n| {
            n.attribute("data-test") == Some("munmap-zap-stall")
                && n.attribute("data-kernel") == Some("k612/default")
        })
        .collect();
    // The 0.93 point of the last night lies above the threshold line, the
    // 0.08 one below (SVG y grows downwards).
    let points = |n: &roxmltree::Node| -> Vec<(f64, f64)> {
        n.attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    };
    let ty = num(&thr[0], "y1");
    assert!(points(&munmap_default[1]).last().unwrap().1 < ty);
    assert!(points(&munmap_default[0])[0].1 > ty);

    // A missing night: the line breaks there, and the time axis keeps the
    // day: 22 → 24 is twice as wide as 21 → 22 and 24 → 25.
    assert_eq!(munmap_default.len(), 2, "one line per stretch of nights");
    let (a, b) = (points(&munmap_default[0]), points(&munmap_default[1]));
    assert_eq!((a.len(), b.len()), (2, 2));
    let day = a[1].0 - a[0].0;
    assert!(day > 0.0);
    assert!(((b[0].0 - a[1].0) - 2.0 * day).abs() < 0.2, "{a:?} {b:?}");
    assert!(((b[1].0 - b[0].0) - day).abs() < 0.2, "{a:?} {b:?}");

    // One colour per test, one line style per config.
    let lines = by_class("trend");
    let stroke = |test: &str, kernel: &str| -> BTreeSet<(String, String)> {
        lines
            .iter()
            .filter(|n| {
                n.attribute("data-test") == Some(test) && n.attribute("data-kernel") == Some(kernel)
            })
            .map(|n| {
                (
                    n.attribute("stroke").unwrap().to_string(),
                    n.attribute("stroke-dasharray").unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let md = stroke("munmap-zap-stall", "k612/default");
    let ml = stroke("munmap-zap-stall", "k612/lockdep-and-kasan");
    let fd = stroke("fault-io-stall", "k612/default");
    assert_eq!((md.len(), ml.len(), fd.len()), (1, 1, 1));
    let (md, ml, fd) = (
        md.first().unwrap(),
        ml.first().unwrap(),
        fd.first().unwrap(),
    );
    assert_eq!(md.0, ml.0, "same test, same colour");
    assert_ne!(md.1, ml.1, "other config, other line style");
    assert_ne!(md.0, fd.0, "other test, other colour");
    assert_eq!(md.1, fd.1, "same config, same line style");

    // Untimed tests: a marker per night with its status.
    let untimed = by_class("untimed");
    let reclaim: Vec<(String, String)> = untimed
        .iter()
        .filter(|n| {
            n.attribute("data-test") == Some("mlock-reclaim")
                && n.attribute("data-kernel") == Some("k612/default")
        })
        .map(|n| {
            (
                n.attribute("data-night").unwrap().to_string(),
                n.attribute("data-status").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        reclaim,
        [
            ("2026-11-21", "pass"),
            ("2026-11-22", "pass"),
            ("2026-11-24", "fail"),
            ("2026-11-25", "pass")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(
        untimed.len(),
        2 * 2 * 4,
        "2 untimed tests × 2 configs × 4 nights"
    );

    // The legend lies inside the canvas, every label inside its box.
    let legend = by_class("legend");
    assert_eq!(legend.len(), 1);
    let bx = legend[0]
        .children()
        .find(|n| n.attribute("class") == Some("legend-box"))
        .unwrap();
    let (x0, y0) = (num(&bx, "x"), num(&bx, "y"));
    let (x1, y1) = (x0 + num(&bx, "width"), y0 + num(&bx, "height"));
    assert!(
        x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h,
        "box {x0},{y0}-{x1},{y1} in {w}x{h}"
    );
    let labels = by_class("legend-label");
    let texts: Vec<&str> = labels.iter().map(|n| n.text().unwrap()).collect();
    for want in [
        "munmap-zap-stall",
        "fault-io-stall",
        "mlock-reclaim",
        "k612/default",
        "k612/lockdep-and-kasan",
        "threshold (fails above 0.5)",
        "pass",
        "fail",
    ] {
        assert!(texts.contains(&want), "{want} in {texts:?}");
    }
    for l in &labels {
        let (lx, ly) = (num(l, "x"), num(l, "y"));
        assert!(
            lx >= x0 && lx + num(l, "data-width") <= x1 && ly - 11.0 >= y0 && ly <= y1,
            "{:?} at {lx},{ly} outside {x0},{y0}-{x1},{y1}",
            l.text()
        );
    }
    // No text leaves the canvas (7 px a character at most; rotated date
    // labels are 10 characters and end under their tick).
    for n in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let x = num(&n, "x");
        let width = 7.0 * n.text().unwrap_or("").chars().count() as f64;
        let (from, to) = match (n.attribute("text-anchor"), n.attribute("transform")) {
            (_, Some(t)) if t.starts_with("rotate(-90") => (x - 11.0, x), // vertical
            (_, Some(_)) => (x - 0.77 * width, x), // rotated by 40°: cos 40° ≈ 0.77
            (Some("end"), _) => (x - width, x),
            (Some("middle"), _) => (x - width / 2.0, x + width / 2.0),
            _ => (x, x + width),
        };
        assert!(
            from >= 0.0 && to <= w && num(&n, "y") <= h,
            "{:?} from x {from} to {to}",
            n.text()
        );
    }
}

/// docs/trends-example.svg (shown in the README) is the plot of
/// [`fixture_history`] as `mmstall report` draws it today. MMSTALL_BLESS=1
/// rewrites it.
#[test]
fn docs_example_is_the_current_plot() {
    let svg = history::svg(&history::trends(&fixture_history()));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/trends-example.svg");
    if std::env::var("MMSTALL_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &svg).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == svg,
        "{} is not the current plot (MMSTALL_BLESS=1 rewrites it)",
        path.display()
    );
}
