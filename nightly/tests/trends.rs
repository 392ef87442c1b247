//! The trend plot over a history of several nights: one line per stall test
//! and kernel, each with one point per night it was measured.

mod common;

use common::*;
use mmstall_nightly::history;
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
