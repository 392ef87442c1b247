//! `mmstall vm run --kselftest mm[:TEST,...]`: the kernel's mm selftests in
//! the guest (issue 19). Builds (or finds cached) the selftests of the tree
//! the kernel was built from, runs them with a per-test timeout, writes
//! `kselftest.json` and `kselftest.ktap` into the run directory beside the
//! per-test logs (`kselftest/<test>.log`).
//!
//! Exit codes: 0 every test passed, skipped (with its reason) or failed as
//! expected, and the kernel reported nothing; 1 a test failed, timed out or
//! has no result, or the kernel reported trouble; 2 bad input (unknown test,
//! a bzImage outside a build directory: its tree is unknown); 3 infrastructure (the selftests
//! could not be built, the guest never booted).

use mmstall_vm::boot::RunResult;
use mmstall_vm::build;
use mmstall_vm::cache::Cache;
use mmstall_vm::kselftest::{self, run as ks_run, Selection, SelftestBuild};
use mmstall_vm::tree::TreeSpec;
use std::time::Duration;

pub struct Prepared {
    pub sel: Selection,
    pub build: SelftestBuild,
    pub timeout_secs: u64,
    pub script: String,
    pub label: String,
    /// The whole guest command's timeout: every test at its timeout.
    pub cmd_timeout: Duration,
}

/// Resolves the selection and the selftests build; `Err(exit code)` after
/// printing why.
pub fn prepare(
    cache: &Cache,
    kernel: &str,
    spec: &str,
    timeout_secs: u64,
) -> Result<Prepared, i32> {
    let sel = kselftest::select(spec).map_err(|e| {
        eprintln!("error: {e}");
        2
    })?;
    if timeout_secs == 0 {
        eprintln!("error: --kselftest-timeout must be positive");
        return Err(2);
    }
    // A bzImage inside a build directory has its meta.json beside it.
    let beside = |bz: &std::path::Path| {
        let text = std::fs::read_to_string(bz.parent()?.join("meta.json")).ok()?;
        serde_json::from_str::<build::BuildMeta>(&text).ok()
    };
    let meta = match build::locate_kernel(cache, kernel) {
        Ok((_, Some(m))) => m,
        Ok((bz, None)) if beside(&bz).is_some() => beside(&bz).expect("checked"),
        Ok((_, None)) => {
            eprintln!(
                "error: --kselftest needs a build directory or key (its meta.json names the tree the selftests come from), not a bare kernel image: {kernel}"
            );
            return Err(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(2);
        }
    };
    let spec_tree = TreeSpec::parse(&meta.tree).map_err(|e| {
        eprintln!("error: kernel {kernel}: tree `{}`: {e}", meta.tree);
        2
    })?;
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let b = kselftest::ensure(
        cache,
        &spec_tree,
        Some(&meta.tree_identity),
        jobs,
        &mut |m| eprintln!("{m}"),
    )
    .map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })?;
    if b.cached {
        eprintln!("kselftest: cached: {}", b.dir.display());
    }
    let script = ks_run::guest_script(&sel, &b, timeout_secs);
    let cmd_timeout = Duration::from_secs(ks_run::command_timeout_secs(&sel, timeout_secs));
    Ok(Prepared {
        label: format!(
            "kselftest {} ({} tests, {timeout_secs} s each)",
            sel.spec,
            sel.entries.len()
        ),
        sel,
        build: b,
        timeout_secs,
        script,
        cmd_timeout,
    })
}

/// Judges the run, writes the reports, prints the table; the exit code.
pub fn finish(p: &Prepared, r: &RunResult, run_code: i32, json: bool) -> anyhow::Result<i32> {
    let rep = ks_run::collect(&p.sel, &p.build, &r.dir, p.timeout_secs);
    let json_text = serde_json::to_string_pretty(&rep)? + "\n";
    std::fs::write(r.dir.join("kselftest.json"), &json_text)?;
    std::fs::write(r.dir.join("kselftest.ktap"), rep.ktap())?;
    if json {
        print!("{json_text}");
    } else {
        eprint!("{}", rep.table());
        for ((test, why), n) in rep.skip_reasons() {
            eprintln!(
                "  skip  {test}: {why}{}",
                if n > 1 {
                    format!(" (x{n})")
                } else {
                    String::new()
                }
            );
        }
        eprintln!(
            "kselftest: logs in {}/{} (kselftest.json, kselftest.ktap)",
            r.dir.display(),
            ks_run::LOG_DIR
        );
    }
    Ok(match run_code {
        3 => 3,
        0 if rep.ok() => 0,
        _ => 1,
    })
}
