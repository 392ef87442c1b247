//! `mmstall-guest confirm`: runs workload recipes ([`crate::recipes`]) with
//! the kernel's `mmap_lock` tracepoints on and reports every write hold and
//! every long read hold of the workload's processes, with the acquiring
//! kernel stack (a `stacktrace` event trigger), as JSON
//! ([`ConfirmReport`]).
//!
//! Tracing is limited to this program and its descendants (`set_event_pid`
//! with `event-fork`), switched on only while a workload runs, and the
//! buffer is read and cleared after each run, so a run's trace stays small.
//! The parsing and pairing are `mmstall_stall_judge::holds` (pure, tested
//! on the host).

use crate::procs::child_output;
use crate::recipes::{self, RecipeError};
use crate::sys;
use mmstall_stall_judge::confirm_report::{ConfirmReport, RecipeRun, RunStatus};
use mmstall_stall_judge::holds;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TRACEFS: &str = "/sys/kernel/tracing";
const EVENTS: &str = "events/mmap_lock";

/// `confirm`'s options.
pub struct ConfirmArgs {
    pub recipes: Vec<String>,
    pub sizes_mib: Vec<u64>,
    pub json: PathBuf,
    pub read_threshold_ms: f64,
    /// A shell command traced after the recipes (discovery over any workload).
    pub command: Option<String>,
    /// Runs of each recipe at each size (sizes alternate within a
    /// repetition, so a change of the host's load touches both).
    pub repeat: u32,
    /// Where to keep each run's raw trace text (for reading stacks by hand).
    pub raw_dir: Option<PathBuf>,
}

/// The tracefs files the run writes, and writing them with the path in
/// the error.
struct Tracefs {
    root: PathBuf,
}

impl Tracefs {
    /// The mounted tracefs (mounted here when the guest has not).
    fn open() -> Result<Self, String> {
        let root = PathBuf::from(TRACEFS);
        if !root.join("trace").exists() {
            let src = c"tracefs";
            let dst = c"/sys/kernel/tracing";
            let r = unsafe {
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    src.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if r != 0 {
                return Err(format!(
                    "mounting tracefs on {TRACEFS}: {}",
                    sys::errno_str()
                ));
            }
        }
        if !root
            .join(EVENTS)
            .join("mmap_lock_acquire_returned")
            .exists()
        {
            return Err(format!(
                "{TRACEFS}/{EVENTS}: no mmap_lock tracepoints in this kernel (CONFIG_TRACING)"
            ));
        }
        Ok(Tracefs { root })
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let p = self.root.join(file);
        std::fs::write(&p, value).map_err(|e| format!("writing `{value}` to {}: {e}", p.display()))
    }

    fn read(&self, file: &str) -> Result<String, String> {
        let p = self.root.join(file);
        std::fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))
    }

    /// Events of this process and its children only, stacks on acquire and
    /// release, everything else off; tracing stays off until a run.
    fn set_up(&self) -> Result<(), String> {
        self.write("tracing_on", "0")?;
        self.write("events/enable", "0")?;
        self.write("buffer_size_kb", "8192")?;
        self.write("set_event_pid", &std::process::id().to_string())?;
        self.write("options/event-fork", "1")?;
        for ev in ["mmap_lock_acquire_returned", "mmap_lock_released"] {
            self.write(&format!("{EVENTS}/{ev}/trigger"), "stacktrace")?;
        }
        self.write(&format!("{EVENTS}/enable"), "1")?;
        self.write("trace", "")
    }

    fn tear_down(&self) {
        let _ = self.write("tracing_on", "0");
        let _ = self.write(&format!("{EVENTS}/enable"), "0");
        for ev in ["mmap_lock_acquire_returned", "mmap_lock_released"] {
            let _ = self.write(&format!("{EVENTS}/{ev}/trigger"), "!stacktrace");
        }
        let _ = self.write("set_event_pid", "");
        let _ = self.write("options/event-fork", "0");
        let _ = self.write("trace", "");
        let _ = self.write("tracing_on", "1");
    }
}

/// Runs every recipe at every size and writes the report; the exit code.
pub fn run(a: ConfirmArgs) -> i32 {
    for r in &a.recipes {
        if recipes::find(r).is_none() {
            eprintln!("mmstall-guest confirm: unknown recipe `{r}` (see `mmstall-guest recipes`)");
            return 2;
        }
    }
    let (thp, _) = sys::thp_off();
    let tracefs = match Tracefs::open().and_then(|t| t.set_up().map(|_| t)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mmstall-guest confirm: {e}");
            return 3;
        }
    };
    let threshold_ns = (a.read_threshold_ms * 1e6) as u64;
    let mut runs = Vec::new();
    for name in &a.recipes {
        for rep in 1..=a.repeat.max(1) {
            for &size in &a.sizes_mib {
                let recipe = recipes::find(name).expect("checked above");
                let r = run_one(
                    &tracefs,
                    name,
                    size,
                    rep,
                    threshold_ns,
                    a.raw_dir.as_deref(),
                    move || recipe((size as usize) << 20),
                );
                log_run(&r);
                runs.push(r);
            }
        }
    }
    if let Some(cmd) = &a.command {
        let r = run_one(
            &tracefs,
            COMMAND,
            0,
            1,
            threshold_ns,
            a.raw_dir.as_deref(),
            || run_command(cmd),
        );
        log_run(&r);
        runs.push(r);
    }
    tracefs.tear_down();
    let report = ConfirmReport {
        version: 1,
        kernel_release: sys::kernel_release(),
        thp,
        read_threshold_ms: a.read_threshold_ms,
        runs,
    };
    let text = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
    if let Err(e) = std::fs::write(&a.json, text) {
        eprintln!("mmstall-guest confirm: writing {}: {e}", a.json.display());
        return 3;
    }
    0
}

/// The run name of `--command`.
const COMMAND: &str = "command";

/// `--command CMD` as a workload: `/bin/sh -c CMD` (e.g. the stall suite),
/// traced like a recipe, for discovery.
fn run_command(cmd: &str) -> Result<(), RecipeError> {
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .status()
    {
        Ok(st) if st.success() => Ok(()),
        Ok(st) => Err(RecipeError::Failed(format!("`{cmd}`: {st}"))),
        Err(e) => Err(RecipeError::Failed(format!("/bin/sh -c `{cmd}`: {e}"))),
    }
}

fn log_run(r: &RecipeRun) {
    eprintln!(
        "mmstall-guest confirm: {} {} MiB #{}: {} in {:.1} s, {} holds, longest write {:.1} ms",
        r.recipe,
        r.size_mib,
        r.rep,
        match &r.status {
            RunStatus::Ran => "ran".to_string(),
            RunStatus::Unavailable { reason } => format!("unavailable ({reason})"),
            RunStatus::Failed { reason } => format!("failed ({reason})"),
        },
        r.secs,
        r.holds.len(),
        r.holds
            .iter()
            .filter(|h| h.mode == holds::Mode::Write)
            .map(|h| h.hold_ns as f64 / 1e6)
            .fold(0.0, f64::max)
    );
}

/// The pids of the processes (kernel threads) named `comm`.
fn pids_of(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let c = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (c.trim_end() == comm).then_some(pid)
    })
    .collect()
}

/// One workload (a recipe at one size, or the command) in a child process,
/// traced; its holds.
#[allow(clippy::too_many_arguments)]
fn run_one(
    t: &Tracefs,
    name: &str,
    size_mib: u64,
    rep: u32,
    threshold_ns: u64,
    raw_dir: Option<&Path>,
    work: impl FnOnce() -> Result<(), RecipeError>,
) -> RecipeRun {
    let mut run = RecipeRun {
        recipe: name.to_string(),
        size_mib,
        rep,
        status: RunStatus::Ran,
        secs: 0.0,
        holds: Vec::new(),
        lost_events: 0,
        warnings: Vec::new(),
    };
    // A recipe's kernel threads (ksmd) are traced with it: their pids join
    // this program's in set_event_pid for the run.
    let me = std::process::id();
    let threads = recipes::kernel_threads(name);
    let mut pids = vec![me.to_string()];
    for comm in threads {
        match pids_of(comm) {
            found if found.is_empty() => run.warnings.push(format!(
                "no kernel thread `{comm}` to trace (its holds are not in this run)"
            )),
            found => pids.extend(found.iter().map(u32::to_string)),
        }
    }
    if let Err(e) = t
        .write("set_event_pid", &pids.join(" "))
        .and_then(|_| t.write("trace", ""))
        .and_then(|_| t.write("tracing_on", "1"))
    {
        run.status = RunStatus::Failed { reason: e };
        return run;
    }
    let started = Instant::now();
    let out = child_output(
        move || match work() {
            Ok(()) => "ok".to_string(),
            Err(RecipeError::Unavailable(m)) => format!("unavailable: {m}"),
            Err(RecipeError::Failed(m)) => format!("failed: {m}"),
        },
        Duration::from_secs(300),
    );
    run.secs = started.elapsed().as_secs_f64();
    let _ = t.write("tracing_on", "0");
    if !threads.is_empty() {
        if let Err(e) = t.write("set_event_pid", &me.to_string()) {
            run.warnings.push(e);
        }
    }
    run.status = match out.as_deref() {
        Ok("ok") => RunStatus::Ran,
        Ok(o) if o.starts_with("unavailable: ") => RunStatus::Unavailable {
            reason: o["unavailable: ".len()..].to_string(),
        },
        Ok(o) if o.starts_with("failed: ") => RunStatus::Failed {
            reason: o["failed: ".len()..].to_string(),
        },
        Ok(o) => RunStatus::Failed {
            reason: format!("the workload died without a result (said `{o}`)"),
        },
        Err(e) => RunStatus::Failed { reason: e.clone() },
    };
    let text = match t.read("trace") {
        Ok(s) => s,
        Err(e) => {
            run.warnings.push(e);
            return run;
        }
    };
    if let Some(dir) = raw_dir {
        let p = dir.join(format!("trace-{name}-{size_mib}-{rep}.txt"));
        if let Err(e) = std::fs::write(&p, &text) {
            run.warnings.push(format!("writing {}: {e}", p.display()));
        }
    }
    match holds::parse_trace(&text) {
        Ok(parsed) => {
            run.lost_events = parsed.lost_events;
            run.warnings.extend(parsed.warnings);
            let paired = holds::pair(&parsed.events);
            run.warnings.extend(paired.warnings);
            // This program's own holds (the fork of the workload) are not the workload's.
            run.holds = holds::reportable(paired.holds, threshold_ns)
                .into_iter()
                .filter(|h| h.pid != me)
                .collect();
        }
        Err(e) => run.warnings.push(e.to_string()),
    }
    // Unpaired events are said, not listed by the thousand.
    const MAX_WARNINGS: usize = 20;
    if run.warnings.len() > MAX_WARNINGS {
        let more = run.warnings.len() - MAX_WARNINGS;
        run.warnings.truncate(MAX_WARNINGS);
        run.warnings.push(format!("... and {more} more"));
    }
    run
}
