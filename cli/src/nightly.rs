//! `mmstall nightly`, `mmstall report`, `mmstall merge`: thin layer over
//! `mmstall_nightly` (docs/nightly.md).
//!
//! Exit codes: `nightly`/`merge`: 0 every series passed, 1 a regression, 3 an
//! infrastructure error and no regression, 2 bad input (plan: file, line and
//! key named; `merge` of nothing readable: 2 when no directory exists, else
//! 3, and --out is left as it was). `report`: 0, or 2 on bad input (no
//! history, or nothing readable in it: --out is left as it was).

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_nightly::exec::RealExecutor;
use mmstall_nightly::model::JobResult;
use mmstall_nightly::plan::Plan;
use mmstall_nightly::{emit, history, pipeline, reports};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Emit {
    /// The job matrix for GitHub Actions (`strategy.matrix`), JSON on stdout.
    GithubMatrix,
    /// Kubernetes Jobs (a `v1/List`, JSON) on stdout.
    K8s,
}

#[derive(Args)]
pub struct NightlyArgs {
    /// The plan (TOML): kernels, config sets, series.
    #[arg(long)]
    pub plan: PathBuf,
    /// Result directory (default: nightly-results/NIGHT).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only this job (repeatable; ids from --emit github-matrix).
    #[arg(long = "job")]
    pub jobs: Vec<String>,
    /// The night's date, YYYY-MM-DD (default: today, UTC).
    #[arg(long)]
    pub night: Option<String>,
    /// History store (JSON lines) to append every job to
    /// (default: $MMSTALL_CACHE/nightly/history.jsonl; `none` for none).
    #[arg(long)]
    pub history: Option<String>,
    /// Keep the jobs already in OUT/results.jsonl for this night and run the rest.
    #[arg(long)]
    pub resume: bool,
    /// Print the scale-out description of the plan instead of running it.
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// --emit k8s: container image.
    #[arg(long, default_value = "mmstall-nightly:latest")]
    pub image: String,
    /// --emit k8s: the repository checkout in the image (the plan path is relative to it).
    #[arg(long, default_value = "/src/mmstall")]
    pub workdir: String,
    /// --emit k8s: namespace.
    #[arg(long)]
    pub namespace: Option<String>,
}

#[derive(Args)]
pub struct ReportArgs {
    /// History store (JSON lines; default: $MMSTALL_CACHE/nightly/history.jsonl).
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Where to write trends.svg and trends.md.
    #[arg(long, default_value = "nightly-report")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Per-job result directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The combined result directory.
    #[arg(long, default_value = "nightly-merged")]
    pub out: PathBuf,
    /// Also append the merged jobs to this history store.
    #[arg(long)]
    pub history: Option<PathBuf>,
}

fn default_history() -> PathBuf {
    mmstall_nightly::exec::cache_root_from_env().join("nightly/history.jsonl")
}

fn exit_code(results: &[JobResult]) -> i32 {
    if results.iter().any(|r| r.verdict.is_regression()) {
        1
    } else if results.iter().any(|r| r.verdict.is_infra()) {
        3
    } else {
        0
    }
}

pub fn nightly(a: NightlyArgs) -> anyhow::Result<i32> {
    let plan = match Plan::load(&a.plan) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let night = a.night.clone().unwrap_or_else(mmstall_nightly::today);
    if !mmstall_nightly::valid_night(&night) {
        eprintln!("error: --night {night}: expected YYYY-MM-DD");
        return Ok(2);
    }
    let known: Vec<String> = plan.jobs().into_iter().map(|j| j.id).collect();
    for j in &a.jobs {
        if !known.contains(j) {
            eprintln!(
                "error: --job {j}: no such job in {} (jobs: {})",
                a.plan.display(),
                known.join(", ")
            );
            return Ok(2);
        }
    }
    match a.emit {
        Some(Emit::GithubMatrix) => {
            println!("{}", serde_json::to_string(&emit::github_matrix(&plan))?);
            return Ok(0);
        }
        Some(Emit::K8s) => {
            let o = emit::K8sOptions {
                image: a.image.clone(),
                plan_path: a.plan.display().to_string(),
                workdir: a.workdir.clone(),
                night: night.clone(),
                namespace: a.namespace.clone(),
                results_claim: "mmstall-results".into(),
                cache_claim: "mmstall-cache".into(),
            };
            println!("{}", serde_json::to_string_pretty(&emit::k8s(&plan, &o))?);
            return Ok(0);
        }
        None => {}
    }
    let history = match a.history.as_deref() {
        Some("none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(default_history()),
    };
    let opts = pipeline::Options {
        out: a
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("nightly-results").join(&night)),
        night,
        only_jobs: a.jobs.clone(),
        history,
        resume: a.resume,
    };
    let mut exec = RealExecutor::current()?;
    let results = pipeline::run(&plan, &opts, &mut exec, &mut |m| eprintln!("nightly: {m}"))?;
    eprintln!(
        "nightly: reports in {} ({}, {}, {}, {})",
        opts.out.display(),
        reports::SUMMARY,
        reports::JUNIT,
        reports::KCIDB,
        reports::SARIF
    );
    Ok(exit_code(&results))
}

pub fn report(a: ReportArgs) -> anyhow::Result<i32> {
    let path = a.history.unwrap_or_else(default_history);
    if !path.is_file() {
        eprintln!(
            "error: history {}: no such file (mmstall nightly appends to it)",
            path.display()
        );
        return Ok(2);
    }
    let (results, bad) = pipeline::read_results(&path);
    for b in &bad {
        eprintln!("warning: {b}");
    }
    if results.is_empty() {
        // Nothing readable: earlier trends in --out stay as they were.
        eprintln!(
            "error: history {}: no readable job results; {} left unchanged",
            path.display(),
            a.out.display()
        );
        return Ok(2);
    }
    // A re-run of a night's job counts once: its last result.
    let results = pipeline::last_per_job(results);
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let trends = history::trends(&results);
    mmstall_fsio::write_atomic(&a.out.join("trends.svg"), history::svg(&trends).as_bytes())?;
    let md = format!(
        "# mmstall nightly trends\n\n![stall ratios](trends.svg)\n\n{}",
        history::findings_table(&results)
    );
    mmstall_fsio::write_atomic(&a.out.join("trends.md"), md.as_bytes())?;
    println!("{}", a.out.join("trends.md").display());
    eprintln!(
        "report: {} job results, {} stall trends → {}",
        results.len(),
        trends.len(),
        a.out.display()
    );
    Ok(0)
}

pub fn merge(a: MergeArgs) -> anyhow::Result<i32> {
    let (results, warnings) = mmstall_nightly::merge(&a.dirs, &a.out)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if results.is_empty() {
        // Nothing readable: --out (and the history) stay as they were.
        let missing = a.dirs.iter().all(|d| !d.is_dir());
        eprintln!(
            "error: no readable results in {} director{} ({}); {} left unchanged",
            a.dirs.len(),
            if a.dirs.len() == 1 { "y" } else { "ies" },
            if missing {
                "none of them exists: a pattern that matched nothing?"
            } else {
                "the jobs did not finish or their results are unreadable"
            },
            a.out.display()
        );
        return Ok(if missing { 2 } else { 3 });
    }
    if let Some(h) = &a.history {
        let (appended, already, hw) = pipeline::append_history(h, &results)?;
        for w in &hw {
            eprintln!("warning: {w}");
        }
        eprintln!(
            "merge: history {}: {appended} appended, {already} already there",
            h.display()
        );
    }
    eprintln!("merge: {} job results → {}", results.len(), a.out.display());
    Ok(exit_code(&results))
}
