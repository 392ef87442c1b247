//! `mmstall vm validate`: proof that each stall test has teeth.
//!
//! Builds the baseline kernel and one kernel per regression series of
//! patches/manifest.toml (incrementally, through [`crate::build`]), boots each
//! with virtme-ng, runs the guest suite (`mmstall-guest suite`) `runs` times,
//! and checks every expectation of the manifest: the verdict of a test on
//! the baseline and on its regression kernel, in every run. Prints the
//! validation table (test × kernel, with the measured ratios) and writes
//! `validation.json`.

use super::judge::{self, Spread};
use super::ktap::{self, Verdict};
use super::manifest::{Manifest, Series};
use super::GuestReport;
use crate::boot::{self, Outcome, RunOptions};
use crate::build::{self, BuildRequest, ProgressMode, Reporter};
use crate::cache::Cache;
use crate::kvm::{self, AccelChoice};
use crate::tree::TreeSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    pub manifest: PathBuf,
    /// Passed to the guest (`--thresholds`); None: the guest's built-in copy.
    pub thresholds: Option<PathBuf>,
    pub guest: PathBuf,
    /// Only these series (names); None: all.
    pub only: Option<Vec<String>>,
    /// Suite runs (boots) on the baseline and on each regression kernel.
    pub baseline_runs: u32,
    pub runs: u32,
    /// Override of every test's repetitions.
    pub repeat: Option<u32>,
    pub config: String,
    pub jobs: Option<usize>,
    pub memory: String,
    pub cpus: u32,
    pub boot_timeout: Duration,
    pub cmd_timeout: Duration,
    pub kvm: AccelChoice,
    /// Run directories and validation.json go here.
    pub out: PathBuf,
    /// `mmstall` binary whose `lint --format json` diffs each series with an
    /// `analyzer_rule`; None: no analyzer check.
    pub lint: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    pub dir: PathBuf,
    pub outcome: Outcome,
    pub boot_secs: Option<f64>,
    pub command_secs: Option<f64>,
    /// Test name → verdict word (from the KTAP output).
    pub verdicts: BTreeMap<String, String>,
    pub report: Option<GuestReport>,
    /// Kernel reports found in the console log (kind: first line).
    pub events: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    /// `baseline` or the series name.
    pub kernel: String,
    pub build_dir: PathBuf,
    pub build_secs: f64,
    pub build_cached: bool,
    pub files_compiled: usize,
    pub runs: Vec<SuiteRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub series: String,
    pub test: String,
    pub kernel: String,
    pub expected: String,
    /// The verdict in each run.
    pub got: Vec<String>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantSpread {
    pub kernel: String,
    pub test: String,
    pub variant: String,
    /// Over every valid repetition of every run.
    pub ratio: Option<Spread>,
    /// The median ratio of each run.
    pub run_medians: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub version: u32,
    pub manifest: PathBuf,
    pub kernels: Vec<KernelResult>,
    pub checks: Vec<Check>,
    pub spreads: Vec<VariantSpread>,
    pub analyzer: Vec<super::analyzer_diff::AnalyzerCheck>,
    pub ok: bool,
}

struct Note;
impl Reporter for Note {
    fn note(&mut self, msg: &str) {
        eprintln!("  {msg}");
    }
}

/// The guest command line.
pub fn guest_script(
    guest: &Path,
    json: &Path,
    thresholds: Option<&Path>,
    repeat: Option<u32>,
    tests: Option<&[String]>,
) -> String {
    let q = |p: &Path| boot::sh_quote(&p.display().to_string());
    let mut s = format!("{} suite --json {}", q(guest), q(json));
    if let Some(t) = thresholds {
        s.push_str(&format!(" --thresholds {}", q(t)));
    }
    if let Some(n) = repeat {
        s.push_str(&format!(" --repeat {n}"));
    }
    if let Some(t) = tests {
        s.push_str(&format!(" --tests {}", boot::sh_quote(&t.join(","))));
    }
    s + "\n"
}

/// The label of a config other than the validation's default (`@label` is
/// appended to the kernel names built with it): the fragments it adds, or
/// the whole list. None for the default config.
pub fn config_label(default: &str, config: Option<&str>) -> Option<String> {
    let config = config?;
    let norm = |c: &str| {
        c.split(',')
            .map(|f| f.trim().to_string())
            .collect::<Vec<_>>()
    };
    let (d, c) = (norm(default), norm(config));
    if d == c {
        return None;
    }
    let added: Vec<String> = c.iter().filter(|f| !d.contains(f)).cloned().collect();
    Some(if added.is_empty() || c.len() != d.len() + added.len() {
        c.join("+")
    } else {
        added.join("+")
    })
}

/// A kernel's name in the table: the series (or `baseline`), `@config` when
/// built with another config than the default.
pub fn kernel_name(name: &str, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{name}@{l}"),
        None => name.to_string(),
    }
}

fn run_suite(
    o: &Options,
    cache: &Cache,
    kernel: &Path,
    dir: PathBuf,
    tests: Option<&[String]>,
) -> Result<SuiteRun, String> {
    let dev = kvm::dev_kvm_usable();
    let probe = if o.kvm == AccelChoice::Auto && dev {
        kvm::probe_cached(cache, kernel, Duration::from_secs(20), false)
            .ok()
            .map(|r| r.verdict)
    } else {
        None
    };
    let (accel, accel_reason) = kvm::decide(o.kvm, dev, probe.as_ref());
    let _ = std::fs::remove_dir_all(&dir);
    let json = dir.join("stall.json");
    let opts = RunOptions {
        kernel: kernel.to_path_buf(),
        script: guest_script(&o.guest, &json, o.thresholds.as_deref(), o.repeat, tests),
        label: "stall suite".into(),
        memory: o.memory.clone(),
        cpus: o.cpus,
        boot_timeout: o.boot_timeout,
        cmd_timeout: o.cmd_timeout,
        accel,
        accel_reason,
        virtiofs: false,
        append: vec![],
        dir: dir.clone(),
        echo_console: false,
    };
    let r = boot::run(&opts).map_err(|e| format!("booting {}: {e}", kernel.display()))?;
    Ok(suite_run_from(
        &r.dir,
        r.outcome.clone(),
        r.boot_secs,
        r.command_secs,
        &r.stdout,
        std::fs::read_to_string(&json).ok().as_deref(),
        r.events
            .iter()
            .map(|e| format!("{}: {}", e.kind, e.first_line))
            .collect(),
    ))
}

/// Reads a finished run: verdicts from KTAP, numbers from the JSON report.
pub fn suite_run_from(
    dir: &Path,
    outcome: Outcome,
    boot_secs: Option<f64>,
    command_secs: Option<f64>,
    stdout: &str,
    json: Option<&str>,
    events: Vec<String>,
) -> SuiteRun {
    let mut problems = Vec::new();
    let mut verdicts = BTreeMap::new();
    match ktap::parse(stdout) {
        Ok(p) => {
            for r in &p.results {
                verdicts.insert(r.name.clone(), r.verdict.word().to_string());
            }
            problems.extend(p.warnings);
        }
        Err(e) => problems.push(format!("guest output: {e}")),
    }
    let report = match json.map(serde_json::from_str::<GuestReport>) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            problems.push(format!("{}: {e}", dir.join("stall.json").display()));
            None
        }
        None => {
            problems.push(format!("{} missing", dir.join("stall.json").display()));
            None
        }
    };
    if !matches!(outcome, Outcome::Exited { .. }) {
        problems.push(format!("guest: {outcome:?}"));
    }
    SuiteRun {
        dir: dir.to_path_buf(),
        outcome,
        boot_secs,
        command_secs,
        verdicts,
        report,
        events,
        problems,
    }
}

/// The verdict a run gave a test: the KTAP verdict, or what went wrong.
fn verdict_in(run: &SuiteRun, test: &str) -> String {
    match run.verdicts.get(test) {
        Some(v) => v.clone(),
        None => match &run.outcome {
            Outcome::Exited { .. } => "MISSING".into(),
            Outcome::BootTimeout => "BOOT-TIMEOUT".into(),
            Outcome::CommandTimeout => "TIMEOUT".into(),
            Outcome::GuestDied { .. } => "CRASH".into(),
        },
    }
}

/// Expectations → checks against the kernels' runs. `default_config`: the
/// config of kernels named without `@label`.
pub fn checks(
    manifest_series: &[Series],
    kernels: &[KernelResult],
    default_config: &str,
) -> Vec<Check> {
    let mut out = Vec::new();
    for s in manifest_series {
        for e in &s.expect {
            let label = config_label(default_config, e.config.as_deref());
            let base_name = kernel_name("baseline", label.as_deref());
            let patched_name = kernel_name(&s.name, label.as_deref());
            let base = kernels.iter().find(|k| k.kernel == base_name);
            let patched = kernels.iter().find(|k| k.kernel == patched_name);
            for (kernel, k, expected) in [
                (base_name.as_str(), base, &e.baseline),
                (patched_name.as_str(), patched, &e.patched),
            ] {
                let got: Vec<String> = k
                    .map(|k| k.runs.iter().map(|r| verdict_in(r, &e.test)).collect())
                    .unwrap_or_default();
                let ok = !got.is_empty() && got.iter().all(|g| g == expected);
                out.push(Check {
                    series: s.name.clone(),
                    test: e.test.clone(),
                    kernel: kernel.to_string(),
                    expected: expected.clone(),
                    got,
                    ok,
                });
            }
        }
    }
    out
}

pub fn spreads(kernels: &[KernelResult]) -> Vec<VariantSpread> {
    let mut out: Vec<VariantSpread> = Vec::new();
    for k in kernels {
        // (test index, test, variant) → (every rep's ratio, each run's median)
        type Acc = BTreeMap<(usize, String, String), (Vec<f64>, Vec<f64>)>;
        let mut acc: Acc = BTreeMap::new();
        for run in &k.runs {
            let Some(rep) = &run.report else { continue };
            for (ti, t) in rep.tests.iter().enumerate() {
                for v in &t.variants {
                    let e = acc
                        .entry((ti, t.name.clone(), v.variant.clone()))
                        .or_default();
                    e.0.extend(v.reps.iter().filter_map(|r| r.ratio()));
                    if let Some(s) = &v.ratio {
                        e.1.push(s.median);
                    }
                }
            }
        }
        for ((_, test, variant), (all, medians)) in acc {
            out.push(VariantSpread {
                kernel: k.kernel.clone(),
                test,
                variant,
                ratio: judge::spread(&all),
                run_medians: medians,
            });
        }
    }
    out
}

fn cell(k: &KernelResult, test: &str, variant: Option<&str>) -> String {
    if k.runs.is_empty() {
        return "-".into();
    }
    match variant {
        None => {
            let v: Vec<String> = k.runs.iter().map(|r| verdict_in(r, test)).collect();
            // Kernels of another config run only the tests expected there.
            if v.iter().all(|x| x == "MISSING") {
                return "not run".into();
            }
            let first = &v[0];
            if v.iter().all(|x| x == first) {
                if v.len() > 1 {
                    format!("**{first}** ×{}", v.len())
                } else {
                    format!("**{first}**")
                }
            } else {
                v.join("/")
            }
        }
        Some(var) => {
            let medians: Vec<String> = k
                .runs
                .iter()
                .map(|r| {
                    r.report
                        .as_ref()
                        .and_then(|rep| rep.tests.iter().find(|t| t.name == test))
                        .and_then(|t| t.variants.iter().find(|x| x.variant == var))
                        .map(|x| match (&x.ratio, &x.verdict) {
                            (Some(s), _) => format!("{:.3}", s.median),
                            (None, v) => v.word().to_string(),
                        })
                        .unwrap_or_else(|| "-".into())
                })
                .collect();
            medians.join(" / ")
        }
    }
}

/// The validation table (markdown): a row per test (its verdict in every
/// run) and per variant (the median ratio of each run, or the variant's
/// verdict when it is not timed).
pub fn table(kernels: &[KernelResult]) -> String {
    let mut tests: Vec<(String, Vec<String>)> = Vec::new();
    for k in kernels {
        for r in &k.runs {
            if let Some(rep) = &r.report {
                for t in &rep.tests {
                    let entry = match tests.iter_mut().position(|(n, _)| *n == t.name) {
                        Some(i) => &mut tests[i].1,
                        None => {
                            tests.push((t.name.clone(), Vec::new()));
                            &mut tests.last_mut().expect("pushed").1
                        }
                    };
                    for v in &t.variants {
                        if !entry.contains(&v.variant) {
                            entry.push(v.variant.clone());
                        }
                    }
                }
            }
            for name in r.verdicts.keys() {
                if !tests.iter().any(|(n, _)| n == name) {
                    tests.push((name.clone(), Vec::new()));
                }
            }
        }
    }
    let mut s = String::from("| test / variant |");
    for k in kernels {
        s.push_str(&format!(" {} |", k.kernel));
    }
    s.push_str("\n|---|");
    for _ in kernels {
        s.push_str("---|");
    }
    s.push('\n');
    for (t, variants) in &tests {
        s.push_str(&format!("| `{t}` |"));
        for k in kernels {
            s.push_str(&format!(" {} |", cell(k, t, None)));
        }
        s.push('\n');
        for v in variants {
            s.push_str(&format!("| &nbsp;&nbsp;{v} |"));
            for k in kernels {
                s.push_str(&format!(" {} |", cell(k, t, Some(v))));
            }
            s.push('\n');
        }
    }
    s
}

pub fn spread_table(sp: &[VariantSpread]) -> String {
    let mut s = String::from("| kernel | test | variant | reps | min | median | max | per-run medians |\n|---|---|---|---|---|---|---|---|\n");
    for v in sp.iter().filter(|v| v.ratio.is_some()) {
        let (n, mn, md, mx) = v
            .ratio
            .as_ref()
            .map(|r| {
                (
                    r.n.to_string(),
                    format!("{:.3}", r.min),
                    format!("{:.3}", r.median),
                    format!("{:.3}", r.max),
                )
            })
            .unwrap_or(("0".into(), "-".into(), "-".into(), "-".into()));
        s.push_str(&format!(
            "| {} | {} | {} | {n} | {mn} | {md} | {mx} | {} |\n",
            v.kernel,
            v.test,
            v.variant,
            v.run_medians
                .iter()
                .map(|m| format!("{m:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// Runs the whole validation. Errors: the manifest, the guest binary, a
/// build (named by series). Test failures are in the result (`ok`).
pub fn validate(o: &Options, cache: &Cache) -> Result<Validation, String> {
    let manifest = Manifest::load(&o.manifest).map_err(|e| e.to_string())?;
    let series: Vec<Series> = match &o.only {
        None => manifest.series.clone(),
        Some(names) => {
            for n in names {
                if !manifest.series.iter().any(|s| &s.name == n) {
                    return Err(format!("--series {n}: not in {}", o.manifest.display()));
                }
            }
            manifest
                .series
                .iter()
                .filter(|s| names.contains(&s.name))
                .cloned()
                .collect()
        }
    };
    if !o.guest.is_file() {
        return Err(format!(
            "guest program {} not found: build it with `cargo build --release -p mmstall-guest` (or pass --guest)",
            o.guest.display()
        ));
    }
    let bases: std::collections::BTreeSet<&str> = series.iter().map(|s| s.base.as_str()).collect();
    if bases.len() > 1 {
        return Err(format!(
            "{}: the series have different bases ({:?}); validate one base at a time with --series",
            o.manifest.display(),
            bases
        ));
    }
    let base = bases
        .into_iter()
        .next()
        .unwrap_or("debian:6.12")
        .to_string();
    let tree = TreeSpec::parse(&base).map_err(|e| format!("base {base}: {e}"))?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("creating {}: {e}", o.out.display()))?;

    // Kernels to build and run: per config (the default first), the
    // baseline and each series with an expectation on that config. Kernels
    // of another config run only the tests expected there.
    struct Planned {
        name: String,
        series: Option<PathBuf>,
        runs: u32,
        config: String,
        tests: Option<Vec<String>>,
    }
    let mut configs: Vec<Option<String>> = vec![None];
    for e in series.iter().flat_map(|s| &s.expect) {
        let c = e
            .config
            .clone()
            .filter(|c| config_label(&o.config, Some(c)).is_some());
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    let mut plan: Vec<Planned> = Vec::new();
    for c in &configs {
        let label = config_label(&o.config, c.as_deref());
        let on_c =
            |e: &&super::manifest::Expect| config_label(&o.config, e.config.as_deref()) == label;
        let mut tests: Vec<String> = Vec::new();
        for e in series.iter().flat_map(|s| s.expect.iter().filter(on_c)) {
            if !tests.contains(&e.test) {
                tests.push(e.test.clone());
            }
        }
        let config = c.clone().unwrap_or_else(|| o.config.clone());
        let tests = label.is_some().then_some(tests);
        plan.push(Planned {
            name: kernel_name("baseline", label.as_deref()),
            series: None,
            runs: o.baseline_runs,
            config: config.clone(),
            tests: tests.clone(),
        });
        for s in series.iter().filter(|s| s.expect.iter().any(|e| on_c(&e))) {
            plan.push(Planned {
                name: kernel_name(&s.name, label.as_deref()),
                series: Some(s.path.clone()),
                runs: o.runs,
                config: config.clone(),
                tests: tests.clone(),
            });
        }
    }
    let mut kernels = Vec::new();
    for Planned {
        name,
        series: path,
        runs,
        config,
        tests,
    } in plan
    {
        eprintln!("vm validate: kernel {name}: building (config {config})");
        let mut req = BuildRequest::new(tree.clone());
        req.series = path.clone();
        req.config = config.clone();
        if let Some(j) = o.jobs {
            req.jobs = j.max(1);
        }
        req.progress = ProgressMode::Quiet;
        let b = build::build(&req, cache, &mut Note).map_err(|e| match &path {
            Some(p) => format!(
                "building series {name} ({}, config {config}): {e}",
                p.display()
            ),
            None => format!("building the baseline {base} (config {config}): {e}"),
        })?;
        let mut k = KernelResult {
            kernel: name.clone(),
            build_dir: b.dir.clone(),
            build_secs: if b.cached { 0.0 } else { b.meta.secs.total },
            build_cached: b.cached,
            files_compiled: if b.cached { 0 } else { b.meta.compiled },
            runs: Vec::new(),
        };
        for i in 1..=runs.max(1) {
            let dir = o
                .out
                .join(format!("{}-run{i}", name.replace(['@', '+'], "_")));
            eprintln!(
                "vm validate: kernel {name}: suite run {i}/{} ({})",
                runs.max(1),
                dir.display()
            );
            let r = run_suite(o, cache, &b.bzimage, dir, tests.as_deref())?;
            for t in r.verdicts.iter() {
                eprintln!("vm validate:   {} {}", t.1, t.0);
            }
            for p in &r.problems {
                eprintln!("vm validate:   problem: {p}");
            }
            k.runs.push(r);
        }
        kernels.push(k);
    }
    let checks = checks(&series, &kernels, &o.config);
    let spreads = spreads(&kernels);
    let mut analyzer = Vec::new();
    if let Some(lint) = &o.lint {
        let origin = crate::tree::resolve(&tree, cache)
            .map_err(|e| format!("base {base}: {e}"))?
            .origin;
        for s in &series {
            if let Some(rule) = &s.analyzer_rule {
                eprintln!(
                    "vm validate: analyzer diff over series {} (expects a new {rule})",
                    s.name
                );
                let c = super::analyzer_diff::check(
                    &s.name,
                    rule,
                    &s.path,
                    &origin,
                    lint,
                    &o.out.join(format!("analyzer-{}", s.name)),
                );
                analyzer.push(c);
            }
        }
    }
    let ok = checks.iter().all(|c| c.ok)
        && !analyzer
            .iter()
            .any(|a| a.status == super::analyzer_diff::AnalyzerStatus::Missing);
    let v = Validation {
        version: 1,
        manifest: o.manifest.clone(),
        kernels,
        checks,
        spreads,
        analyzer,
        ok,
    };
    let path = o.out.join("validation.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&v).expect("serializes") + "\n",
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(v)
}

/// The text `mmstall vm validate` prints.
pub fn render(v: &Validation) -> String {
    let mut s = String::new();
    s.push_str(&table(&v.kernels));
    s.push('\n');
    s.push_str("Checks:\n");
    for c in &v.checks {
        s.push_str(&format!(
            "  [{}] {} on {}: expected {}, got {}\n",
            if c.ok { "ok" } else { "FAILED" },
            c.test,
            c.kernel,
            c.expected,
            if c.got.is_empty() {
                "no run".to_string()
            } else {
                c.got.join(", ")
            }
        ));
    }
    if !v.analyzer.is_empty() {
        s.push_str("\nStatic analyzer over each series (new findings):\n");
        for a in &v.analyzer {
            let st = match &a.status {
                super::analyzer_diff::AnalyzerStatus::Found => "ok".to_string(),
                super::analyzer_diff::AnalyzerStatus::Missing => "FAILED".to_string(),
                super::analyzer_diff::AnalyzerStatus::Unavailable { reason } => {
                    format!("unavailable: {reason}")
                }
            };
            s.push_str(&format!(
                "  [{st}] {}: expects a new {}; {} new, {} gone\n",
                a.series,
                a.rule,
                a.new.len(),
                a.gone
            ));
            for n in &a.new {
                s.push_str(&format!("      + {}\n", n.describe()));
            }
        }
    }
    s.push_str("\nRatio spread (worst reader latency / operation):\n");
    s.push_str(&spread_table(&v.spreads));
    s.push_str(&format!(
        "\nvalidation: {}\n",
        if v.ok {
            "OK: every test passes on the baseline and flips on its regression kernel"
        } else {
            "FAILED"
        }
    ));
    s
}

/// Verdict words a KTAP verdict maps to (for tests of the table).
pub fn word(v: &Verdict) -> &'static str {
    v.word()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stall::judge::{Rep, VariantResult};
    use crate::stall::manifest::Expect;
    use crate::stall::TestReport;

    fn rep(n: u32, op: f64, worst: f64) -> Rep {
        Rep {
            rep: n,
            op_ms: op,
            cmdline_reads: 3,
            cmdline_worst_ms: worst,
            status_reads: 3,
            status_worst_ms: 0.2,
            faults: 3,
            fault_worst_ms: 1.0,
            error: None,
            ..Default::default()
        }
    }

    fn run(verdict: &str, reps: Vec<Rep>) -> SuiteRun {
        let j = crate::stall::thresholds::Judging {
            repeat: 2,
            min_valid: 2,
            max_ratio: 0.5,
            min_op_ms: 20.0,
        };
        let v: VariantResult = judge::judge_variant("munmap", reps, &j);
        let t = TestReport {
            name: "munmap-zap-stall".into(),
            verdict: judge::judge_test(std::slice::from_ref(&v)),
            variants: vec![v],
            duration_s: None,
        };
        let report = GuestReport {
            version: 1,
            kernel_release: "6.12.117".into(),
            thresholds_source: "built-in".into(),
            thp: "never".into(),
            tests: vec![t],
        };
        let stdout = format!(
            "KTAP version 1\n1..1\n{} 1 munmap-zap-stall\n",
            if verdict == "PASS" { "ok" } else { "not ok" }
        );
        suite_run_from(
            Path::new("/r"),
            Outcome::Exited { code: 0 },
            Some(1.0),
            Some(2.0),
            &stdout,
            Some(&serde_json::to_string(&report).unwrap()),
            vec![],
        )
    }

    fn kernels() -> Vec<KernelResult> {
        let k = |name: &str, runs| KernelResult {
            kernel: name.into(),
            build_dir: "/b".into(),
            build_secs: 0.0,
            build_cached: true,
            files_compiled: 0,
            runs,
        };
        // Numbers recorded in-house on 6.12.117 under TCG (`vm run` with --repeat 2: baseline
        // munmap and mremap-shrink reps, munmap reps on the regression kernel).
        vec![
            k(
                "baseline",
                vec![
                    run("PASS", vec![rep(1, 292.0, 71.53), rep(2, 286.0, 16.67)]),
                    run("PASS", vec![rep(1, 197.1, 8.07), rep(2, 184.4, 8.18)]),
                ],
            ),
            k(
                "munmap-zap-under-write",
                vec![run(
                    "FAIL",
                    vec![rep(1, 406.8, 383.56), rep(2, 308.5, 303.14)],
                )],
            ),
        ]
    }

    fn series() -> Vec<Series> {
        vec![Series {
            name: "munmap-zap-under-write".into(),
            path: "/p".into(),
            base: "debian:6.12".into(),
            description: String::new(),
            analyzer_rule: None,
            expect: vec![Expect {
                test: "munmap-zap-stall".into(),
                baseline: "PASS".into(),
                patched: "FAIL".into(),
                config: None,
            }],
        }]
    }

    const D: &str = "virtme-base,stall-debug";

    #[test]
    fn configs_other_than_the_default_get_a_label() {
        assert_eq!(config_label(D, None), None);
        assert_eq!(config_label(D, Some("virtme-base, stall-debug")), None);
        assert_eq!(
            config_label(D, Some("virtme-base,stall-debug,no-per-vma-lock")).as_deref(),
            Some("no-per-vma-lock")
        );
        assert_eq!(
            config_label(D, Some("virtme-base,lockdep")).as_deref(),
            Some("virtme-base+lockdep")
        );
        assert_eq!(
            kernel_name("baseline", Some("no-per-vma-lock")),
            "baseline@no-per-vma-lock"
        );
    }

    #[test]
    fn an_expectation_on_another_config_is_checked_on_that_configs_kernels() {
        let mut ks = kernels();
        let mut s = series();
        s[0].expect[0].config = Some(format!("{D},no-per-vma-lock"));
        // Only default-config kernels ran: the check finds no kernel.
        let c = checks(&s, &ks, D);
        assert_eq!(c[0].kernel, "baseline@no-per-vma-lock");
        assert!(c.iter().all(|c| !c.ok && c.got.is_empty()), "{c:?}");
        for k in &mut ks {
            k.kernel = kernel_name(&k.kernel, Some("no-per-vma-lock"));
        }
        assert!(checks(&s, &ks, D).iter().all(|c| c.ok));
    }

    #[test]
    fn checks_every_run_against_the_manifest() {
        let ks = kernels();
        let c = checks(&series(), &ks, D);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.ok), "{c:?}");
        assert_eq!(c[0].got, ["PASS", "PASS"]);
        // A regression kernel that did not flip, and one that crashed.
        let mut ks2 = ks.clone();
        ks2[1].runs[0] = run("PASS", vec![rep(1, 300.0, 3.0), rep(2, 300.0, 3.0)]);
        assert!(!checks(&series(), &ks2, D)[1].ok);
        ks2[1].runs[0].verdicts.clear();
        ks2[1].runs[0].outcome = Outcome::GuestDied {
            reason: "panic".into(),
        };
        assert_eq!(checks(&series(), &ks2, D)[1].got, ["CRASH"]);
        // A kernel that never ran is not a pass.
        assert!(!checks(&series(), &ks[..1], D)[1].ok);
    }

    #[test]
    fn table_and_spreads() {
        let ks = kernels();
        let t = table(&ks);
        assert!(
            t.starts_with(
                "| test / variant | baseline | munmap-zap-under-write |\n|---|---|---|\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("| `munmap-zap-stall` | **PASS** ×2 | **FAIL** |"),
            "{t}"
        );
        assert!(
            t.contains("| &nbsp;&nbsp;munmap | 0.152 / 0.043 | 0.963 |"),
            "{t}"
        );
        let sp = spreads(&ks);
        assert_eq!(sp.len(), 2);
        let b = sp[0].ratio.as_ref().unwrap();
        assert_eq!(b.n, 4);
        assert!((b.max - 71.53 / 292.0).abs() < 1e-9);
        assert!(spread_table(&sp).contains("| baseline | munmap-zap-stall | munmap | 4 | 0.041 |"));
    }

    #[test]
    fn broken_guest_output_is_a_problem_not_a_panic() {
        let r = suite_run_from(
            Path::new("/r"),
            Outcome::CommandTimeout,
            None,
            None,
            "garbage",
            Some("{"),
            vec![],
        );
        assert!(r.verdicts.is_empty());
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        assert_eq!(verdict_in(&r, "x"), "TIMEOUT");
    }

    #[test]
    fn guest_script_quotes_paths() {
        let s = guest_script(
            Path::new("/t/mmstall-guest"),
            Path::new("/runs/a b/stall.json"),
            Some(Path::new("/x/th.toml")),
            Some(2),
            Some(&["fault-io-stall".to_string(), "mlock-reclaim".to_string()]),
        );
        assert_eq!(s, "'/t/mmstall-guest' suite --json '/runs/a b/stall.json' --thresholds '/x/th.toml' --repeat 2 --tests 'fault-io-stall,mlock-reclaim'\n");
    }
}
