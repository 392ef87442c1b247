//! `mmstall lint`: thin layer over `mmstall_analyzer`.
use clap::Args;

#[derive(Args)]
pub struct LintArgs {
    /// Kernel tree or subdirectory to analyze.
    pub path: std::path::PathBuf,
}

pub fn run(_args: LintArgs) -> anyhow::Result<i32> {
    anyhow::bail!("mmstall lint: not implemented yet")
}
