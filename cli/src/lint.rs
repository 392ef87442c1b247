//! `mmstall lint`: thin layer over `mmstall_analyzer`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use mmstall_analyzer::baseline::Baseline;
use mmstall_analyzer::progress::{Progress, Stage};
use mmstall_analyzer::{printers, rules, source, Catalogue, LintOptions};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    /// GitHub Actions annotations.
    Github,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Colour or not, for output going to a terminal or not (`NO_COLOR`
    /// set and not empty turns `auto` off, as no-color.org asks).
    pub fn enabled(self, to_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Args)]
pub struct LintArgs {
    /// Kernel tree, subdirectories or files to analyze, as one analysis
    /// (`lint mm kernel/fork.c arch/x86/mm`; all in one tree). `debian:6.12`
    /// (optionally `debian:6.12/mm`) names Debian's linux-source-6.12
    /// unpacked by the setup script.
    #[arg(required = true, num_args = 1..)]
    pub path: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print files, functions, functions with parse errors and elapsed time.
    #[arg(long)]
    pub stats: bool,
    /// Parse every file (no prefilter), e.g. to measure parse quality.
    #[arg(long)]
    pub parse_all: bool,
    /// Catalogue extension (default: the nearest mmstall.toml from PATH up to
    /// the tree's root, if any).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Report (and fail on) only findings whose fingerprint is not in FILE.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Attach what `mmstall confirm` measured (its confirm.json) to the
    /// findings it measured: a `measured:` note in text, `measured` in JSON
    /// and in SARIF's holder properties.
    #[arg(long, value_name = "CONFIRM_JSON")]
    pub confirmations: Option<PathBuf>,
    /// With --format github: prepended to every file. Files are already
    /// named relative to the tree's root (the git work tree, else the kernel's
    /// top-level directory), so this is needed only when the repository's
    /// root is above a tree root found without git (a copy without `.git`).
    #[arg(long, default_value = "")]
    pub annotation_prefix: String,
    /// Write the output to FILE (atomically: a temporary file renamed over it;
    /// a device or FIFO such as /dev/null is written in place).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress and, in text, only the summary line.
    #[arg(short, long)]
    pub quiet: bool,
    /// In text: one item per (holder, long-call site), as JSON records are,
    /// instead of one per site listing every holder reaching it.
    #[arg(long)]
    pub per_holder: bool,
    /// Colour the text output: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,
    /// Show the stages of the run on stderr (default: only when stderr is a terminal).
    #[arg(long)]
    pub progress: bool,
    /// Rounds of pulling in the definitions of callees reached under a write
    /// hold, on a whole tree (default 8). On 6.12 the findings stop changing
    /// at 12, for about twice the time.
    #[arg(long, value_name = "N")]
    pub pull_rounds: Option<usize>,
}

#[derive(Args)]
pub struct BaselineArgs {
    /// Kernel tree or subdirectory (as for `lint`).
    pub path: String,
    /// Where to write the baseline (JSON).
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Rule id (`write-hold-zap`) or code (`MMS002`).
    pub rule: String,
}

#[derive(Args)]
pub struct CatalogueArgs {
    /// Tree whose mmstall.toml extends the built-in catalogue.
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The cache directory shared with the harness and setup script.
pub fn cache_dir() -> PathBuf {
    mmstall_vm::cache::root_or_default()
}

/// Resolves `debian:6.12[/sub]` to the unpacked Debian tree.
pub fn resolve_tree(spec: &str) -> anyhow::Result<PathBuf> {
    if let Some(d) = mmstall_vm::tree::DebianRef::parse(spec) {
        let cache = mmstall_vm::cache::Cache::at(&cache_dir());
        let tree = cache.debian_src(d.version);
        if !tree.is_dir() {
            anyhow::bail!(
                "{spec}: {} is missing; run scripts/setup.sh to install and unpack linux-source-{}",
                tree.display(),
                d.version
            );
        }
        return Ok(d.dir(&cache));
    }
    Ok(PathBuf::from(spec))
}

/// PATH made absolute, and the root of its tree (see
/// [`source::tree_root`]; PATH itself, or a file's directory, when it is in
/// no git work tree and no kernel tree). Files are named relative to it.
pub struct Tree {
    pub path: PathBuf,
    pub root: PathBuf,
}

impl Tree {
    pub fn locate(path: &Path) -> Tree {
        // A missing PATH stays as given: the analyzer reports it.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let root = source::tree_root(&path).unwrap_or_else(|| {
            if path.is_file() {
                path.parent().unwrap_or(Path::new("")).to_path_buf()
            } else {
                path.clone()
            }
        });
        Tree { path, root }
    }
}

/// The `mmstall.toml` nearest to PATH, looking upward to the tree's root
/// (like ruff, clippy and git): one at the root of a kernel tree applies to
/// `lint mm` too.
pub fn find_config(path: &Path) -> Option<PathBuf> {
    let tree = Tree::locate(path);
    let start = if tree.path.is_dir() {
        tree.path.as_path()
    } else {
        tree.path.parent()?
    };
    for dir in start.ancestors() {
        let candidate = dir.join("mmstall.toml");
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir == tree.root {
            break;
        }
    }
    None
}

pub fn load_catalogue(root: &Path, config: Option<&Path>) -> anyhow::Result<Catalogue> {
    let path = match config {
        Some(p) => Some(p.to_path_buf()),
        None => find_config(root),
    };
    match path {
        Some(p) => {
            Catalogue::with_user_file(&p).with_context(|| format!("loading {}", p.display()))
        }
        None => Ok(Catalogue::builtin()),
    }
}

pub fn run(args: LintArgs) -> anyhow::Result<i32> {
    let roots = args
        .path
        .iter()
        .map(|p| resolve_tree(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let root = roots[0].clone();
    let catalogue = load_catalogue(&root, args.config.as_deref())?;
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };
    let tree = Tree::locate(&root);
    let show_progress = !args.quiet && (args.progress || std::io::stderr().is_terminal());
    let progress_line = ProgressLine::new(show_progress, std::io::stderr().is_terminal());
    let options = LintOptions {
        parse_all: args.parse_all,
        pull_rounds: args.pull_rounds,
        tree_root: Some(tree.root.clone()),
        progress: progress_line.sink(),
        ..Default::default()
    };
    let run = match roots.as_slice() {
        [_] => mmstall_analyzer::lint_path(&tree.path, &catalogue, &options),
        _ => {
            let paths: Vec<PathBuf> = roots.iter().map(|r| Tree::locate(r).path).collect();
            mmstall_analyzer::lint_paths(&paths, &tree.root, &catalogue, &options)
        }
    };
    progress_line.finish();
    let mut run = run?;
    if let Some(path) = &args.confirmations {
        let c = crate::confirmations::load(path)?;
        let (attached, unmatched) = crate::confirmations::attach(&mut run.report.findings, &c);
        if !args.quiet {
            eprintln!(
                "confirmations: {attached} finding(s) measured on {} attached from {}{}",
                c.kernel_release,
                path.display(),
                if unmatched > 0 {
                    format!("; {unmatched} match no finding of this run (another tree or series?)")
                } else {
                    String::new()
                }
            );
        }
    }
    let mut suppressed = 0;
    if let Some(b) = &baseline {
        let findings = std::mem::take(&mut run.report.findings);
        let (new, known) = b.filter(findings);
        suppressed = known.len();
        run.report.findings = new;
    }
    // In text, what was skipped (files, directories, functions nested too
    // deep, holders whose results a bound cut) goes to stderr, apart from
    // the findings; the other formats carry it in the document.
    if matches!(args.format, Format::Text) {
        for s in std::mem::take(&mut run.report.skipped) {
            eprintln!("skipped: {}: {}", s.file, s.reason);
        }
    }
    let report = &run.report;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let output = printers::Output {
        report,
        sources: Some(&run.sources),
        root: tree.root.is_absolute().then_some(tree.root.as_path()),
    };
    let printer: Box<dyn printers::Printer + '_> = match args.format {
        Format::Text => Box::new(printers::text::Text {
            options: printers::text::TextOptions {
                color: args.color.enabled(to_terminal),
                per_holder: args.per_holder,
            },
        }),
        Format::Json => Box::new(printers::json::Json),
        Format::Sarif => Box::new(printers::sarif::Sarif),
        Format::Github => Box::new(printers::github::Github {
            prefix: &args.annotation_prefix,
        }),
    };
    let out = match args.format {
        Format::Text if args.quiet => printers::text::summary(report) + "\n",
        _ => printer.to_string(&output),
    };
    match &args.output {
        Some(file) => mmstall_fsio::write_atomic(file, out.as_bytes())?,
        None => print!("{out}"),
    }
    if suppressed > 0 && !args.quiet {
        eprintln!("{suppressed} finding(s) suppressed by the baseline");
    }
    if args.stats {
        eprint!("{}", printers::text::render_stats(report));
    }
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}

pub fn baseline(args: BaselineArgs) -> anyhow::Result<i32> {
    let root = resolve_tree(&args.path)?;
    let catalogue = load_catalogue(&root, args.config.as_deref())?;
    let tree = Tree::locate(&root);
    let options = LintOptions {
        tree_root: Some(tree.root.clone()),
        ..Default::default()
    };
    let run = mmstall_analyzer::lint_path(&tree.path, &catalogue, &options)?;
    for s in &run.report.skipped {
        eprintln!("skipped: {}: {}", s.file, s.reason);
    }
    let b = Baseline::from_findings(&run.report.findings);
    b.write(&args.output)?;
    eprintln!(
        "wrote {} finding(s) to {}",
        b.findings.len(),
        args.output.display()
    );
    Ok(0)
}

/// The stage line on stderr: rewritten in place on a terminal, one line per
/// stage otherwise (`--progress` into a log). Never on stdout.
struct ProgressLine {
    shown: bool,
    in_place: bool,
}

impl ProgressLine {
    fn new(shown: bool, in_place: bool) -> ProgressLine {
        ProgressLine { shown, in_place }
    }

    fn sink(&self) -> Progress {
        if !self.shown {
            return Progress::default();
        }
        let in_place = self.in_place;
        Progress::new(move |stage| {
            let text = stage_text(stage);
            let mut err = std::io::stderr().lock();
            let _ = if in_place {
                write!(err, "\r\x1b[K{text}")
            } else {
                writeln!(err, "{text}")
            };
            let _ = err.flush();
        })
    }

    /// Clears the in-place line before the results are printed.
    fn finish(&self) {
        if self.shown && self.in_place {
            eprint!("\r\x1b[K");
        }
    }
}

/// `scanning 59,932 files`, `parsing 1,844 files`, `analysis round 3/8`.
pub fn stage_text(stage: Stage) -> String {
    match stage {
        Stage::Scanning { files } => format!("scanning {} files", thousands(files)),
        Stage::Parsing { files } => format!("parsing {} files", thousands(files)),
        Stage::Analysis { round, rounds } => format!("analysis round {round}/{rounds}"),
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).unwrap_or_default())
        .collect();
    groups.join(",")
}

pub fn explain(args: ExplainArgs) -> anyhow::Result<i32> {
    match rules::find(&args.rule) {
        Some(rule) => {
            print!("{}", rule.doc);
            Ok(0)
        }
        None => {
            let known: Vec<String> = rules::ALL
                .iter()
                .map(|r| format!("{} ({})", r.id, r.code))
                .collect();
            anyhow::bail!("unknown rule `{}`; rules: {}", args.rule, known.join(", "))
        }
    }
}

pub fn list_rules() -> anyhow::Result<i32> {
    for r in rules::ALL {
        println!(
            "{}  {:<22} {:<8} {}",
            r.code,
            r.id,
            r.default_severity.as_str(),
            r.summary
        );
    }
    Ok(0)
}

pub fn catalogue(args: CatalogueArgs) -> anyhow::Result<i32> {
    let root = match &args.path {
        Some(p) => resolve_tree(p)?,
        None => PathBuf::from("."),
    };
    let cat = load_catalogue(&root, args.config.as_deref())?;
    print!("{}", toml::to_string_pretty(&cat.merged_toml)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_844), "1,844");
        assert_eq!(thousands(59_932), "59,932");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(
            stage_text(Stage::Scanning { files: 59_932 }),
            "scanning 59,932 files"
        );
        assert_eq!(
            stage_text(Stage::Analysis {
                round: 3,
                rounds: 8
            }),
            "analysis round 3/8"
        );
    }
}
