//! `mmstall`: the command line. Each subcommand lives in its own module and is a
//! thin layer over a library crate; exit codes are documented in the README:
//! 0 clean, 1 findings/regressions, 2 usage or input error, 3 infrastructure error.

use clap::{CommandFactory, Parser, Subcommand};

mod confirm;
mod confirmations;
mod diff;
mod lint;
mod nightly;
mod series_cmd;
mod snapshot;
mod vm;
mod vm_kselftest;
mod vm_validate;

#[derive(Parser)]
#[command(
    name = "mmstall",
    version,
    about = "Find and test long mmap_lock holds in Linux kernel trees"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze every C file under PATH for mmap_lock write holds across long operations.
    Lint(lint::LintArgs),
    /// Write the current findings of PATH as a baseline file.
    Baseline(lint::BaselineArgs),
    /// Print a rule's documentation (by id or code).
    Explain(lint::ExplainArgs),
    /// List the rules.
    Rules,
    /// Print the merged catalogue (built-in + mmstall.toml).
    Catalogue(lint::CatalogueArgs),
    /// Findings introduced, fixed and unchanged between two git revisions (no checkout).
    Diff(diff::DiffArgs),
    /// Apply a patch series in memory and report the findings each patch introduces and fixes.
    Series(series_cmd::SeriesArgs),
    /// Findings as a stable, line-insensitive snapshot file; --check compares with a stored one.
    Snapshot(snapshot::SnapshotArgs),
    /// Build and boot kernels (virtme-ng/QEMU).
    #[command(subcommand)]
    Vm(vm::VmCommand),
    /// Report what the harness needs and whether it works here (KVM probe, tools, disk).
    Doctor(vm::DoctorArgs),
    /// Measure in a booted kernel how long each static finding really holds mmap_lock.
    Confirm(confirm::ConfirmArgs),
    /// Test patch series overnight: static report, baseline and patched builds, stall suite, verdicts, reports.
    Nightly(nightly::NightlyArgs),
    /// Render the nightly history: stall-ratio trend plot (SVG) and findings over time.
    Report(nightly::ReportArgs),
    /// Combine per-job nightly result directories into one report.
    Merge(nightly::MergeArgs),
    /// Print a shell completion script (e.g. `mmstall completions bash > /etc/bash_completion.d/mmstall`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    Man(ManArgs),
}

#[derive(clap::Args)]
struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
struct ManArgs {
    /// Write mmstall.1 and mmstall-COMMAND.1 for each command into DIR.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// The completion script for `shell`, generated from the command definition.
fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "mmstall", &mut std::io::stdout());
    Ok(0)
}

/// The man pages, generated from the command definition.
fn man(args: ManArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let cmd = Cli::command();
    let Some(dir) = args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        std::io::Write::write_all(&mut std::io::stdout(), &page)?;
        return Ok(0);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Built, the subcommands carry the global parts (help, version) the
    // parent gives them.
    let mut cmd = cmd;
    cmd.build();
    let mut pages = vec![cmd.clone()];
    pages.extend(cmd.get_subcommands().cloned());
    for (i, page_cmd) in pages.into_iter().enumerate() {
        let name = if i == 0 {
            "mmstall".to_string()
        } else {
            format!("mmstall-{}", page_cmd.get_name())
        };
        let page_cmd = page_cmd.name(name.clone());
        let mut page = Vec::new();
        clap_mangen::Man::new(page_cmd).render(&mut page)?;
        let file = dir.join(format!("{name}.1"));
        mmstall_fsio::write_atomic(&file, &page)?;
    }
    Ok(0)
}

/// The analysis allocates and frees many small objects, and a whole-tree
/// run frees the last revision's files on another thread while analyzing the
/// next: glibc's allocator spent a third of a warm `diff` in its own locks.
/// Built with mimalloc's `no_thp` (cli/Cargo.toml): otherwise it asks for
/// transparent huge pages on its arenas (`MADV_HUGEPAGE`), and on a host with
/// THP in `madvise` mode almost half of a run's peak RSS was the untouched
/// rest of 2 MiB pages (6.12 mm/: 135 -> 74 MiB). Not `PR_SET_THP_DISABLE`:
/// children inherit it, and `mmstall vm` starts QEMU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // SAFETY: first thing in main, before any parser or syntax tree exists.
    unsafe {
        mmstall_analyzer::parse::use_allocator((
            libmimalloc_sys::mi_malloc,
            libmimalloc_sys::mi_calloc,
            libmimalloc_sys::mi_realloc,
            libmimalloc_sys::mi_free,
        ))
    };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Baseline(args) => lint::baseline(args),
        Command::Explain(args) => lint::explain(args),
        Command::Rules => lint::list_rules(),
        Command::Catalogue(args) => lint::catalogue(args),
        Command::Diff(args) => diff::run(args),
        Command::Series(args) => series_cmd::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Vm(cmd) => vm::run(cmd),
        Command::Doctor(args) => vm::doctor(args),
        Command::Confirm(args) => confirm::run(args),
        Command::Nightly(args) => nightly::nightly(args),
        Command::Report(args) => nightly::report(args),
        Command::Merge(args) => nightly::merge(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    }
}
