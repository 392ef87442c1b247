//! `mmstall vm ...` and `mmstall doctor`: thin layer over `mmstall_vm`.
//! Owned by the harness work (issue 5).

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum VmCommand {
    /// Build a kernel (not yet implemented).
    Build,
}

#[derive(Args)]
pub struct DoctorArgs {}

pub fn run(_cmd: VmCommand) -> anyhow::Result<i32> {
    anyhow::bail!("mmstall vm: not implemented yet")
}

pub fn doctor(_args: DoctorArgs) -> anyhow::Result<i32> {
    anyhow::bail!("mmstall doctor: not implemented yet")
}
