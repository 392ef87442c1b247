//! What the gated kernel tests share: one boot of a kernel with a script,
//! the accelerator chosen as every boot chooses it ([`kvm::choose`]).

// Not every test binary boots selftests.
#[allow(dead_code)]
pub mod selftests;

use std::path::Path;
use std::time::Duration;

use mmstall_vm::boot::{self, RunOptions, RunResult};
use mmstall_vm::cache::Cache;
use mmstall_vm::kvm::{self, AccelChoice};

/// Boots `kernel` (1 GiB, 2 vCPUs, 300 s to boot) and runs `script` with
/// `cmd_timeout`; the run directory is `runs/<dir_name>-<pid>` in the cache.
pub fn boot_and_run(
    cache: &Cache,
    kernel: &Path,
    script: String,
    label: &str,
    dir_name: &str,
    cmd_timeout: Duration,
) -> RunResult {
    let (accel, reason) = kvm::choose(AccelChoice::Auto, cache, kernel, |_| {});
    eprintln!("  booting {} with {accel:?}: {reason}", kernel.display());
    let dir = cache
        .runs()
        .join(format!("{dir_name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = RunOptions {
        kernel: kernel.to_path_buf(),
        script,
        label: label.to_string(),
        memory: "1G".into(),
        cpus: 2,
        boot_timeout: Duration::from_secs(300),
        cmd_timeout,
        accel,
        accel_reason: reason,
        virtiofs: false,
        append: vec![],
        dir,
        echo_console: false,
    };
    let r = boot::run(&o).expect("vng runs");
    eprintln!(
        "  {label}: {:?}, boot {:.1} s, command {:.1} s, total {:.1} s, logs {}",
        r.outcome,
        r.boot_secs.unwrap_or(-1.0),
        r.command_secs.unwrap_or(-1.0),
        r.total_secs,
        r.dir.display()
    );
    r
}
