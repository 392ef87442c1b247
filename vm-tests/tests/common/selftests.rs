//! The mm selftests in one boot: what the selftest kernel tests share.

use std::path::Path;
use std::time::Duration;

use mmstall_vm::boot::RunResult;
use mmstall_vm::cache::Cache;
use mmstall_vm::kselftest::{self, run as ksrun, Report, SelftestBuild};

/// Boots `kernel` and runs the selections (each with its own per-test
/// timeout) one after the other in the same guest.
pub fn run_selftests(
    cache: &Cache,
    kernel: &Path,
    st: &SelftestBuild,
    parts: &[(&str, u64)],
    name: &str,
) -> (RunResult, Vec<Report>) {
    let sels: Vec<_> = parts
        .iter()
        .map(|(spec, t)| (kselftest::select(spec).expect("selection"), *t))
        .collect();
    let mut script = String::new();
    let mut secs = 60;
    for (sel, t) in &sels {
        let s = ksrun::guest_script(sel, st, *t);
        script.push_str(s.trim_end().trim_end_matches("exit 0"));
        script.push('\n');
        secs += ksrun::command_timeout_secs(sel, *t);
    }
    script.push_str("exit 0\n");
    let r = super::boot_and_run(
        cache,
        kernel,
        script,
        &format!("kselftest {name}"),
        &format!("kselftest-test-{name}"),
        Duration::from_secs(secs),
    );
    let reps: Vec<Report> = sels
        .iter()
        .map(|(sel, t)| ksrun::collect(sel, st, &r.dir, *t))
        .collect();
    for rep in &reps {
        eprint!("{}", rep.table());
    }
    (r, reps)
}

pub fn test<'a>(rep: &'a Report, name: &str) -> &'a ksrun::TestRun {
    rep.tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} not in the report"))
}
