//! `mmstall nightly`: every job of the plan, one after the other, each
//! appended to `results.jsonl` (and the history) as soon as it is done, the
//! reports re-rendered after every job. A failing job never stops the run.
//!
//! One file per step of a job, in the order a job runs them:
//! - [`context`]: the run's options and state (checkouts, cache
//!   repositories, measured baselines) shared by the steps, step records, logs.
//! - [`checkout`]: the kernel tree (as given, or a git checkout in the cache)
//!   and the series as a file `vm build --series` reads.
//! - [`cache_repo`]: the kernel's sources committed into a cache repository
//!   for `mmstall series` (a plain tree is imported once; damaged caches rebuilt).
//! - [`static_analysis`]: the static step (`mmstall series` over the series).
//! - [`kernel_run`]: a kernel's build, boot check and stall suite (`vm build`,
//!   `vm run`, the suite command), the baseline measured once per kernel × config.
//! - [`selftests`]: the kernel's mm selftests on a kernel (`vm run
//!   --kselftest`), read by [`selftest_report`].
//! - [`functional`]: the selftests, patched against baseline.
//! - [`confirm`]: the measured mmap_lock hold of each finding the series
//!   introduces (`mmstall confirm` on both kernels, `[confirm]`).
//! - [`verdict`]: baseline against patched, and the verdict rules.
//! - [`job`]: one job, from checkout to verdict.
//! - [`wire`]: reading the JSON the CLI's subcommands print.
//! - [`store`]: the append-only results (`results.jsonl`, the history).

mod cache_repo;
mod checkout;
mod confirm;
mod context;
mod functional;
mod job;
mod kernel_run;
mod selftest_report;
mod selftests;
mod static_analysis;
mod store;
mod verdict;
mod wire;

pub use context::Options;
pub use functional::compare_selftests;
pub use kernel_run::{classify_build, sh_quote};
pub use store::{append_history, append_jsonl, last_per_job, read_results, RESULTS, STEPS};
pub use verdict::compare;
pub use wire::{parse_series_json, parse_suite_json};

use crate::exec::Executor;
use crate::model::*;
use crate::plan::{Job, Plan};
use crate::reports;
use context::Ctx;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use verdict::baseline_failure;
use wire::KernelRunLine;

/// A fresh run into a directory that holds results: `results.jsonl` and
/// `steps.jsonl` become generation N (`results.jsonl.N`, `steps.jsonl.N`,
/// N one more than any kept generation), so every earlier run stays.
fn keep_previous_generation(out: &Path, progress: &mut dyn FnMut(&str)) -> std::io::Result<()> {
    let names = [RESULTS, STEPS];
    if !names.iter().any(|n| out.join(n).exists()) {
        return Ok(());
    }
    let gen = mmstall_fsio::next_generation(out, &names)?;
    for n in names {
        let from = out.join(n);
        if from.exists() {
            let to = out.join(format!("{n}.{gen}"));
            std::fs::rename(&from, &to).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "keeping the previous {} as {}: {e}",
                        from.display(),
                        to.display()
                    ),
                )
            })?;
        }
    }
    progress(&format!(
        "earlier results of {} kept as {RESULTS}.{gen} (a fresh run; --resume continues one)",
        out.display()
    ));
    Ok(())
}

/// Runs the plan. Returns every job's result (also those skipped by
/// `--resume`, read back from `results.jsonl`).
pub fn run(
    plan: &Plan,
    opts: &Options,
    exec: &mut dyn Executor,
    progress: &mut dyn FnMut(&str),
) -> std::io::Result<Vec<JobResult>> {
    std::fs::create_dir_all(&opts.out)?;
    // Absolute: run directories are handed to the guest, whose working directory differs.
    let abs = Options {
        out: std::fs::canonicalize(&opts.out)?,
        night: opts.night.clone(),
        only_jobs: opts.only_jobs.clone(),
        history: opts.history.clone(),
        resume: opts.resume,
    };
    let opts = &abs;
    let results_path = opts.out.join(RESULTS);
    let mut results = Vec::new();
    if opts.resume {
        let (prev, bad) = read_results(&results_path);
        for b in bad {
            progress(&b);
        }
        results.extend(prev.into_iter().filter(|r| r.night == opts.night));
    } else {
        keep_previous_generation(&opts.out, progress)?;
    }
    let mut ctx = Ctx {
        plan,
        opts,
        exec,
        checkouts: HashMap::new(),
        static_repos: HashMap::new(),
        baselines: HashMap::new(),
        series_available: None,
        rebuilt_repos: Vec::new(),
        notes: Vec::new(),
    };
    let jobs: Vec<Job> = plan
        .jobs()
        .into_iter()
        .filter(|j| opts.only_jobs.is_empty() || opts.only_jobs.contains(&j.id))
        .collect();
    // Baselines of resumed jobs are reused.
    for r in &results {
        if let Some(b) = &r.baseline {
            let class = match &r.verdict {
                Verdict::InfraError { class, detail } if detail.starts_with("baseline kernel") => {
                    Some(*class)
                }
                _ => baseline_failure(b),
            };
            ctx.baselines
                .entry((r.kernel.clone(), r.config.clone()))
                .or_insert_with(|| (b.clone(), class));
        }
    }
    if opts.resume {
        // Baselines measured by jobs that did not finish.
        if let Ok(lines) = mmstall_fsio::read_jsonl::<Value>(&opts.out.join(STEPS)) {
            for b in &lines.skipped {
                progress(&b.to_string());
            }
            for (_, v) in lines.records {
                let Some((kernel, config, run, class)) =
                    KernelRunLine::from_value(v).and_then(|l| l.baseline_of(&opts.night))
                else {
                    continue;
                };
                ctx.baselines
                    .entry((kernel, config))
                    .or_insert((run, class));
            }
        }
    }
    reports::write_all(&opts.out, &results, &plan.name)?;
    for (i, job) in jobs.iter().enumerate() {
        if results.iter().any(|r| r.job == job.id) {
            progress(&format!(
                "[{}/{}] {}: already measured (resume)",
                i + 1,
                jobs.len(),
                job.id
            ));
            continue;
        }
        progress(&format!("[{}/{}] {}: running", i + 1, jobs.len(), job.id));
        let r = ctx.run_job(job);
        for n in ctx.notes.drain(..) {
            progress(&format!("note: {n}"));
        }
        progress(&format!(
            "[{}/{}] {}: {} ({:.0} s)",
            i + 1,
            jobs.len(),
            job.id,
            r.verdict.word(),
            r.duration_s
        ));
        if append_jsonl(&results_path, &r)? == mmstall_fsio::Appended::AfterTornLine {
            progress(&format!(
                "{}: its last line was torn (an interrupted write); it was terminated before appending",
                results_path.display()
            ));
        }
        if let Some(h) = &opts.history {
            // A job that just ran is new to the history: appended without
            // reading the whole store (`merge --history` dedupes).
            match append_jsonl(h, &r) {
                Ok(mmstall_fsio::Appended::Clean) => {}
                Ok(mmstall_fsio::Appended::AfterTornLine) => progress(&format!(
                    "{}: its last line was torn (an interrupted write); it was terminated before appending",
                    h.display()
                )),
                Err(e) => progress(&format!("history {}: {e}", h.display())),
            }
        }
        results.push(r);
        reports::write_all(&opts.out, &results, &plan.name)?;
    }
    Ok(results)
}
