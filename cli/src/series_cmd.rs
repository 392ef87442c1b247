//! `mmstall series`: thin layer over `mmstall_revisions::analyze_series`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use mmstall_revisions::{analyze_series, render, PathFilter, Workspace};

#[derive(Clone, Copy, ValueEnum)]
pub enum SeriesFormat {
    Text,
    Json,
    /// For a CI comment.
    Markdown,
}

#[derive(Args)]
pub struct SeriesArgs {
    /// The kernel's git repository (only its object database is used: new
    /// blobs and trees are written there, nothing else changes).
    #[arg(long)]
    pub repo: PathBuf,
    /// The revision the series applies onto.
    #[arg(long)]
    pub base: String,
    /// An mbox (`git format-patch --stdout`, `b4 am`), one patch, or a
    /// directory of `*.patch` files.
    pub series: PathBuf,
    /// Restrict the analysis to these path prefixes.
    pub paths: Vec<String>,
    /// Skip a patch that does not apply and go on (default: stop there).
    #[arg(long)]
    pub keep_going: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: SeriesFormat,
    /// Print per-tree analysis times and parse-cache use on stderr.
    #[arg(long)]
    pub stats: bool,
    /// Catalogue extension (default: the built-in catalogue only).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: SeriesArgs) -> anyhow::Result<i32> {
    let cat = crate::diff::catalogue(args.config.as_deref())?;
    let series = mmstall_series::load_series(&args.series)?;
    let mut ws = Workspace::open(&args.repo, cat, PathFilter::new(&args.paths))?;
    let report = analyze_series(&mut ws, &args.base, &series, args.keep_going)?;
    let out = match args.format {
        SeriesFormat::Text => render::series_text(&report),
        SeriesFormat::Json => render::series_json(&report),
        SeriesFormat::Markdown => render::series_markdown(&report),
    };
    print!("{out}");
    if args.stats {
        let t = &report.base.timing;
        let cpu = |t: &mmstall_revisions::Timing| {
            t.cpu_ms
                .map(|c| format!(" (CPU {c} ms)"))
                .unwrap_or_default()
        };
        eprintln!(
            "base: load {} ms, analysis {} ms{}, chunks parsed {}",
            t.load_ms,
            t.analyze_ms,
            cpu(t),
            t.parse_misses
        );
        for p in &report.patches {
            if let Some(t) = &p.timing {
                eprintln!(
                    "patch {}: files scanned {} ({} known by content), load {} ms, analysis {} ms{}, chunks parsed {} (from cache {}), summaries computed {} (reused {}){}",
                    p.index,
                    t.files_scanned,
                    t.files_from_cache,
                    t.load_ms,
                    t.analyze_ms,
                    cpu(t),
                    t.parse_misses,
                    t.parse_hits,
                    t.summaries_computed,
                    t.summaries_reused,
                    if t.reused { ", no analyzed file changed: reused" } else { "" }
                );
            }
        }
    }
    Ok(report.exit_code())
}
