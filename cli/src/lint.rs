//! `mmstall lint`: thin layer over `mmstall_analyzer`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_analyzer::{printers, Catalogue, LintOptions};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Args)]
pub struct LintArgs {
    /// Kernel tree, subdirectory or file to analyze. `debian:6.12` (optionally
    /// `debian:6.12/mm`) names Debian's linux-source-6.12 unpacked by the setup script.
    pub path: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print files, functions, functions with parse errors and elapsed time.
    #[arg(long)]
    pub stats: bool,
    /// Parse every file (no prefilter), e.g. to measure parse quality.
    #[arg(long)]
    pub parse_all: bool,
    /// Catalogue extension (default: mmstall.toml at the tree root, if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The cache directory shared with the harness and setup script.
pub fn cache_dir() -> PathBuf {
    if let Some(c) = std::env::var_os("MMSTALL_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("mmstall")
}

/// Resolves `debian:6.12[/sub]` to the unpacked Debian tree.
pub fn resolve_tree(spec: &str) -> anyhow::Result<PathBuf> {
    if let Some(rest) = spec.strip_prefix("debian:") {
        let (version, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let tree = cache_dir().join("src").join(format!("linux-source-{version}"));
        if !tree.is_dir() {
            anyhow::bail!("{spec}: {} is missing; run scripts/setup.sh to install and unpack linux-source-{version}", tree.display());
        }
        return Ok(if sub.is_empty() { tree } else { tree.join(sub) });
    }
    Ok(PathBuf::from(spec))
}

pub fn load_catalogue(root: &Path, config: Option<&Path>) -> anyhow::Result<Catalogue> {
    let default = root.join("mmstall.toml");
    let path = match config {
        Some(p) => Some(p.to_path_buf()),
        None => default.is_file().then_some(default),
    };
    match path {
        Some(p) => Catalogue::with_user_file(&p).with_context(|| format!("loading {}", p.display())),
        None => Ok(Catalogue::builtin()),
    }
}

pub fn run(args: LintArgs) -> anyhow::Result<i32> {
    let root = resolve_tree(&args.path)?;
    let catalogue = load_catalogue(&root, args.config.as_deref())?;
    let options = LintOptions { parse_all: args.parse_all, ..Default::default() };
    let run = mmstall_analyzer::lint_path(&root, &catalogue, &options)?;
    let report = &run.report;
    let out = match args.format {
        Format::Text => printers::text::render(report, &run.sources),
        Format::Json => printers::json::render(report),
        Format::Sarif => printers::sarif::render(&report.findings),
    };
    print!("{out}");
    if args.stats {
        eprint!("{}", printers::text::render_stats(report));
    }
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}
