//! mmstall-guest: the stall tests, run inside the booted kernel (virtme-ng
//! shares the host filesystem, so the host-built binary runs as is).
//!
//!     mmstall-guest suite [--thresholds FILE] [--json FILE] [--tests a,b] [--repeat N]
//!     mmstall-guest list
//!     mmstall-guest confirm --json FILE [--recipes a,b|all] [--sizes 64,256]
//!                           [--read-threshold-ms 10] [--repeat 3] [--command CMD] [--raw-dir DIR]
//!     mmstall-guest recipes
//!
//! KTAP v1 on stdout (progress on stderr); exit 0 when no test failed.
//!
//! This file parses the arguments and dispatches each test to its family:
//! - [`hold`] — operations holding mmap_lock (munmap, mremap, brk, mlock,
//!   MAP_POPULATE) timed against a /proc reader and a faulting thread
//! - [`posix`] — `mlock-posix-atomicity`
//! - [`fault_io`] — `fault-io-stall` (faults on a slow device)
//! - [`reclaim`] — `mlock-reclaim`
//! - [`trace_holds`] — `confirm`: workloads ([`recipes`]) under the
//!   mmap_lock tracepoints, every hold with its kernel stack as JSON
//!
//! and the machinery they share: [`sys`] (system calls, /proc, THP),
//! [`shared`] (the mapping processes record samples into), [`procs`] (fork,
//! reap, a child's output), [`smaps`], [`devices`] (tmpfs, loop, dm-delay,
//! swap, memory cgroup), [`report`] (KTAP results).

mod devices;
mod fault_io;
mod hold;
mod posix;
mod procs;
mod recipes;
mod reclaim;
mod report;
mod shared;
mod smaps;
mod sys;
mod trace_holds;

use mmstall_stall_judge::ktap::{self, Verdict};
use mmstall_stall_judge::thresholds::{TestConfig, Thresholds};
use mmstall_stall_judge::{GuestReport, TestReport};
use std::io::Write;
use std::path::PathBuf;

/// `suite`'s options.
struct SuiteArgs {
    thresholds: Option<PathBuf>,
    json: Option<PathBuf>,
    only: Option<Vec<String>>,
    repeat: Option<u32>,
}

fn usage() -> ! {
    eprintln!("usage: mmstall-guest suite [--thresholds FILE] [--json FILE] [--tests a,b] [--repeat N]\n       mmstall-guest list\n       mmstall-guest confirm --json FILE [--recipes a,b|all] [--sizes 64,256] [--read-threshold-ms 10] [--repeat 3] [--command CMD] [--raw-dir DIR]\n       mmstall-guest recipes");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in Thresholds::builtin().tests {
                println!("{}: {}", t.name, t.variants.join(", "));
            }
        }
        Some("suite") => suite(parse_suite_args(&args[1..])),
        Some("recipes") => {
            for (name, what, _) in recipes::RECIPES {
                println!("{name}: {what}");
            }
        }
        Some("confirm") => std::process::exit(trace_holds::run(parse_confirm_args(&args[1..]))),
        _ => usage(),
    }
}

/// Exits with the usage on anything it does not know.
fn parse_suite_args(args: &[String]) -> SuiteArgs {
    let mut a = SuiteArgs {
        thresholds: None,
        json: None,
        only: None,
        repeat: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--thresholds" => a.thresholds = Some(val().into()),
            "--json" => a.json = Some(val().into()),
            "--tests" => {
                a.only = Some(
                    val()
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "--repeat" => a.repeat = Some(val().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    a
}

/// `confirm`'s arguments; exits with the usage on anything it does not know.
fn parse_confirm_args(args: &[String]) -> trace_holds::ConfirmArgs {
    let mut a = trace_holds::ConfirmArgs {
        recipes: recipes::RECIPES.iter().map(|r| r.0.to_string()).collect(),
        sizes_mib: vec![64, 256],
        json: PathBuf::new(),
        read_threshold_ms: 10.0,
        repeat: 3,
        command: None,
        raw_dir: None,
    };
    let list = |v: String| -> Vec<String> {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--json" => a.json = val().into(),
            "--recipes" => {
                let v = val();
                if v != "all" {
                    a.recipes = list(v);
                }
            }
            "--sizes" => {
                a.sizes_mib = list(val())
                    .iter()
                    .map(|s| s.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--read-threshold-ms" => {
                a.read_threshold_ms = val().parse().unwrap_or_else(|_| usage())
            }
            "--raw-dir" => a.raw_dir = Some(val().into()),
            "--repeat" => a.repeat = val().parse().unwrap_or_else(|_| usage()),
            "--command" => a.command = Some(val()),
            _ => usage(),
        }
    }
    if a.json.as_os_str().is_empty() || a.sizes_mib.is_empty() {
        usage()
    }
    a
}

/// The thresholds (a file, or the built-in copy); exits 2 when they do not load.
fn load_thresholds(path: Option<&PathBuf>) -> Thresholds {
    let th = match path {
        Some(p) => Thresholds::load(p),
        None => Ok(Thresholds::builtin()),
    };
    match th {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mmstall-guest: {e}");
            std::process::exit(2)
        }
    }
}

/// The tests `--tests` names (all without it); exits 2 on an unknown name.
fn select<'a>(th: &'a Thresholds, only: Option<&Vec<String>>) -> Vec<&'a TestConfig> {
    let tests: Vec<&TestConfig> = th
        .tests
        .iter()
        .filter(|t| only.is_none_or(|o| o.contains(&t.name)))
        .collect();
    if let Some(o) = only {
        for n in o {
            if th.test(n).is_none() {
                eprintln!(
                    "mmstall-guest: --tests: unknown test `{n}` in {}",
                    th.source
                );
                std::process::exit(2)
            }
        }
    }
    tests
}

/// Runs one test with its family's runner.
fn run_one(t: &TestConfig, repeat: Option<u32>, thp_ok: bool) -> TestReport {
    match t.name.as_str() {
        "mlock-posix-atomicity" => posix::run_posix(t),
        "fault-io-stall" => fault_io::run(t, repeat),
        "mlock-reclaim" => reclaim::run(t),
        _ => hold::run_test(t, repeat, thp_ok),
    }
}

/// `suite`: KTAP on stdout as each test finishes, the JSON report at the
/// end; exits 1 when a test failed, 3 when the report cannot be written.
fn suite(a: SuiteArgs) {
    let th = load_thresholds(a.thresholds.as_ref());
    let tests = select(&th, a.only.as_ref());
    let (thp, thp_ok) = sys::thp_off();
    let mut out = std::io::stdout();
    let _ = write!(out, "{}", ktap::header(tests.len()));
    let _ = writeln!(
        out,
        "# mmstall-guest on {}; thresholds: {}; {thp}",
        sys::kernel_release(),
        th.source
    );
    let _ = out.flush();
    let mut reports = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let started = std::time::Instant::now();
        let mut rep = run_one(t, a.repeat, thp_ok);
        rep.duration_s = Some(started.elapsed().as_secs_f64());
        let _ = write!(
            out,
            "{}",
            ktap::write_one(i + 1, &report::to_ktap(&rep, t.size_mib))
        );
        let _ = out.flush();
        reports.push(rep);
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error(_)));
    let report = GuestReport {
        version: 1,
        kernel_release: sys::kernel_release(),
        thresholds_source: th.source.clone(),
        thp,
        tests: reports,
    };
    if let Some(p) = a.json {
        let text = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("mmstall-guest: writing {}: {e}", p.display());
            std::process::exit(3)
        }
    }
    std::process::exit(if failed { 1 } else { 0 })
}
