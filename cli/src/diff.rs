//! `mmstall diff`: thin layer over `mmstall_revisions::diff_revisions`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_analyzer::Catalogue;
use mmstall_revisions::{diff_revisions, render, split_revisions, PathFilter, Workspace};

#[derive(Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    /// SARIF 2.1.0 of the introduced findings only.
    Sarif,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The kernel's git repository (a work tree or a bare repository; only
    /// its object database is read).
    #[arg(long)]
    pub repo: PathBuf,
    /// The revision before (branch, tag, commit or tree id, `HEAD~3`...),
    /// or `OLD..NEW` (as `git diff`: the same as `OLD NEW`).
    pub old: String,
    /// The revision after (not given with `OLD..NEW`).
    pub new: Option<String>,
    /// Restrict the analysis to these path prefixes (`mm`, `include/linux/mm.h`).
    pub paths: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Print load/analysis times and parse-cache use of both sides on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Catalogue extension (default: the built-in catalogue only).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Attach what `mmstall confirm` measured on NEW's kernel (its
    /// confirm.json) to NEW's findings (introduced and unchanged).
    #[arg(long, value_name = "CONFIRM_JSON")]
    pub confirmations: Option<PathBuf>,
}

/// `--config FILE` over the built-in catalogue, or the built-in one.
pub fn catalogue(config: Option<&Path>) -> anyhow::Result<Catalogue> {
    match config {
        Some(p) => Catalogue::with_user_file(p).with_context(|| format!("loading {}", p.display())),
        None => Ok(Catalogue::builtin()),
    }
}

pub fn run(args: DiffArgs) -> anyhow::Result<i32> {
    let (old, new, first_path) = split_revisions(&args.old, args.new.as_deref())?;
    let paths: Vec<String> = first_path.into_iter().chain(args.paths).collect();
    let cat = catalogue(args.config.as_deref())?;
    let mut ws = Workspace::open(&args.repo, cat, PathFilter::new(&paths))?;
    let mut report = diff_revisions(&mut ws, &old, &new)?;
    if let Some(path) = &args.confirmations {
        let c = crate::confirmations::load(path)?;
        let (a, _) = crate::confirmations::attach(&mut report.diff.introduced, &c);
        let (b, _) = crate::confirmations::attach(&mut report.diff.unchanged, &c);
        eprintln!(
            "confirmations: {} finding(s) of {new} measured on {} attached",
            a + b,
            c.kernel_release
        );
    }
    // Whatever the format: a file left out is a hole in the verdict.
    for s in report.missing_blobs() {
        eprintln!("warning: skipped: {}: {}", s.file, s.reason);
    }
    let out = match args.format {
        DiffFormat::Text => render::diff_text(&report),
        DiffFormat::Json => render::diff_json(&report),
        DiffFormat::Sarif => render::diff_sarif(&report),
    };
    print!("{out}");
    if args.stats {
        eprint!("{}", render::diff_stats(&report));
    }
    Ok(if report.introduced_anything() { 1 } else { 0 })
}
