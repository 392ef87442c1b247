//! How the pipeline runs its steps. The pipeline only sees command outputs
//! (exit code, stdout, stderr) and interprets them itself, so a test executor
//! that reproduces the real commands' outputs exercises the same code.
//!
//! The real executor runs the `mmstall` binary's own subcommands as
//! subprocesses (`vm build`, `vm run`, `series`, the suite command) and
//! `git`: no dependency on the other crates' internal APIs, only on their
//! documented JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub struct CmdOutput {
    /// None: killed by a signal or could not be started.
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub secs: f64,
}

impl CmdOutput {
    pub fn ok(stdout: impl Into<String>) -> CmdOutput {
        CmdOutput {
            exit: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
            secs: 0.0,
        }
    }
    pub fn fail(exit: i32, stderr: impl Into<String>) -> CmdOutput {
        CmdOutput {
            exit: Some(exit),
            stdout: String::new(),
            stderr: stderr.into(),
            secs: 0.0,
        }
    }
    pub fn success(&self) -> bool {
        self.exit == Some(0)
    }
    /// clap's answer to a subcommand this mmstall does not have.
    pub fn unknown_subcommand(&self) -> bool {
        self.exit == Some(2)
            && (self.stderr.contains("unrecognized subcommand")
                || self.stderr.contains("unexpected argument"))
    }
    /// The text for a log file.
    pub fn log_text(&self, what: &str) -> String {
        format!(
            "$ {what}\n# exit: {}\n# seconds: {:.1}\n--- stdout\n{}\n--- stderr\n{}\n",
            self.exit
                .map(|c| c.to_string())
                .unwrap_or_else(|| "signal/not started".into()),
            self.secs,
            self.stdout,
            self.stderr
        )
    }
}

pub trait Executor {
    /// `mmstall ARGS...`.
    fn mmstall(&mut self, args: &[String]) -> CmdOutput;
    /// `git ARGS...` in `cwd`.
    fn git(&mut self, args: &[String], cwd: Option<&Path>) -> CmdOutput;
    /// Whether the series applies to the tree (nothing is written to the
    /// tree). Exit 0: applies; 1: a patch does not apply (stderr says which);
    /// 2: the series cannot be read.
    fn apply_check(&mut self, tree: &str, series: &Path) -> CmdOutput;
    /// The stall suite's guest program (`mmstall-guest`), when there is one.
    fn guest_program(&self) -> Option<PathBuf> {
        None
    }
    /// The mmstall cache root (`$MMSTALL_CACHE`, `$XDG_CACHE_HOME/mmstall`, `~/.cache/mmstall`).
    fn cache_root(&self) -> PathBuf;
}

pub fn cache_root_from_env() -> PathBuf {
    mmstall_vm::cache::root_or_default()
}

/// `debian:6.12` → the unpacked tree in the cache; a directory as is.
pub fn tree_dir(cache: &Path, tree: &str) -> PathBuf {
    mmstall_vm::tree::spec_dir(&mmstall_vm::cache::Cache::at(cache), tree)
}

pub struct RealExecutor {
    pub mmstall: PathBuf,
}

impl RealExecutor {
    /// Runs this very binary's subcommands.
    pub fn current() -> std::io::Result<RealExecutor> {
        Ok(RealExecutor {
            mmstall: std::env::current_exe()?,
        })
    }
}

/// Runs a command with both pipes drained (`mmstall_vm::process::output`).
pub fn run_command(mut cmd: Command) -> CmdOutput {
    let start = Instant::now();
    match mmstall_vm::process::output(&mut cmd) {
        Ok(c) => CmdOutput {
            exit: c.status.and_then(|s| s.code()),
            stdout: c.stdout,
            stderr: c.stderr,
            secs: start.elapsed().as_secs_f64(),
        },
        Err(e) => CmdOutput {
            exit: None,
            stdout: String::new(),
            stderr: format!("cannot start {:?}: {e}", cmd.get_program()),
            secs: 0.0,
        },
    }
}

impl Executor for RealExecutor {
    fn mmstall(&mut self, args: &[String]) -> CmdOutput {
        let mut c = Command::new(&self.mmstall);
        c.args(args);
        run_command(c)
    }

    fn git(&mut self, args: &[String], cwd: Option<&Path>) -> CmdOutput {
        let mut c = Command::new("git");
        c.args(args);
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        run_command(c)
    }

    fn apply_check(&mut self, tree: &str, series: &Path) -> CmdOutput {
        let start = Instant::now();
        let mut out = apply_check_in_process(&tree_dir(&self.cache_root(), tree), series);
        out.secs = start.elapsed().as_secs_f64();
        out
    }

    fn cache_root(&self) -> PathBuf {
        cache_root_from_env()
    }

    fn guest_program(&self) -> Option<PathBuf> {
        Some(self.mmstall.with_file_name("mmstall-guest")).filter(|p| p.is_file())
    }
}

/// Copies the files the series touches into a scratch directory and applies
/// the series there with `mmstall_series` (the applier `vm build` uses): the
/// tree is only read.
pub fn apply_check_in_process(tree: &Path, series_path: &Path) -> CmdOutput {
    let series = match mmstall_series::load_series(series_path) {
        Ok(s) => s,
        Err(e) => return CmdOutput::fail(2, format!("{}: {e}", series_path.display())),
    };
    if !tree.is_dir() {
        return CmdOutput::fail(2, format!("kernel tree {} does not exist", tree.display()));
    }
    let scratch = std::env::temp_dir().join(format!(
        "mmstall-apply-check-{}-{}",
        std::process::id(),
        unique()
    ));
    let result = (|| -> Result<CmdOutput, String> {
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        for p in &series.patches {
            for path in p.touched_paths() {
                let rel = Path::new(path);
                if rel.is_absolute()
                    || rel
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Ok(CmdOutput::fail(
                        1,
                        format!("patch \"{}\": path {path} leaves the tree", p.subject),
                    ));
                }
                let src = tree.join(rel);
                let dst = scratch.join(rel);
                if src.is_file() && !dst.exists() {
                    if let Some(parent) = dst.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("{}: {e}", parent.display()))?;
                    }
                    std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
                }
            }
        }
        let total = series.patches.len();
        for (i, p) in series.patches.iter().enumerate() {
            if let Err(e) = mmstall_series::apply_to_dir(p, &scratch) {
                return Ok(CmdOutput::fail(
                    1,
                    format!("patch {}/{total} does not apply: {e}", i + 1),
                ));
            }
        }
        let subjects: Vec<&str> = series.patches.iter().map(|p| p.subject.as_str()).collect();
        Ok(CmdOutput::ok(
            serde_json::to_string(&subjects).unwrap_or_default(),
        ))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result.unwrap_or_else(|e| CmdOutput::fail(3, e))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
