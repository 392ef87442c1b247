//! `mmstall nightly`: every job of the plan, one after the other, each
//! appended to `results.jsonl` (and the history) as soon as it is done, the
//! reports re-rendered after every job. A failing job never stops the run.

use crate::exec::{tree_dir, CmdOutput, Executor};
use crate::model::*;
use crate::plan::{safe_name, Job, KernelSource, Plan, SeriesSource};
use crate::reports;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Options {
    pub out: PathBuf,
    /// `YYYY-MM-DD`.
    pub night: String,
    /// Run only these job ids (scale-out: one job per runner). Empty: all.
    pub only_jobs: Vec<String>,
    /// The JSON-lines history store to append to.
    pub history: Option<PathBuf>,
    /// Skip jobs already in `OUT/results.jsonl` for the same night.
    pub resume: bool,
}

pub const RESULTS: &str = "results.jsonl";
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
pub const STEPS: &str = "steps.jsonl";

/// Appends one JSON line and syncs it: what is measured stays measured. A
/// torn last line (an interrupted write) is terminated first, so the record
/// is never glued to the fragment ([`mmstall_fsio::append_jsonl`]).
pub fn append_jsonl<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> std::io::Result<mmstall_fsio::Appended> {
    Ok(mmstall_fsio::append_jsonl(path, value)?)
}

/// Reads a JSON-lines file of job results line by line: a torn, foreign or
/// undecodable line (invalid UTF-8 too) is reported with its file and line
/// and skipped, the other lines are kept. A missing file is no results; an
/// unreadable one is a warning.
pub fn read_results(path: &Path) -> (Vec<JobResult>, Vec<String>) {
    match mmstall_fsio::read_jsonl::<JobResult>(path) {
        Ok(lines) => {
            let bad = lines.skipped.iter().map(|b| b.to_string()).collect();
            (lines.into_records(), bad)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::NotFound => (vec![], vec![]),
        Err(e) => (vec![], vec![e.to_string()]),
    }
}

/// Keeps the last result of each (night, job): a re-run replaces the earlier
/// measurement, in the order the results were read.
pub fn last_per_job(results: Vec<JobResult>) -> Vec<JobResult> {
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut out: Vec<Option<JobResult>> = Vec::with_capacity(results.len());
    for r in results {
        if let Some(i) = index.insert((r.night.clone(), r.job.clone()), out.len()) {
            out[i] = None;
        }
        out.push(Some(r));
    }
    out.into_iter().flatten().collect()
}

/// Appends to the history store the results it does not already hold: a
/// result whose (night, job) is in the history with the same content is not
/// appended again (`merge --history` twice adds nothing); a different result
/// for the same (night, job) is a re-run and is appended (readers keep the
/// last). Returns (appended, already there, warnings about the history).
pub fn append_history(
    path: &Path,
    results: &[JobResult],
) -> std::io::Result<(usize, usize, Vec<String>)> {
    let (known, mut warnings) = read_results(path);
    let known: HashMap<(String, String), JobResult> = last_per_job(known)
        .into_iter()
        .map(|k| ((k.night.clone(), k.job.clone()), k))
        .collect();
    let (mut appended, mut already) = (0, 0);
    for r in results {
        let same = known
            .get(&(r.night.clone(), r.job.clone()))
            .is_some_and(|k| serde_json::to_value(k).ok() == serde_json::to_value(r).ok());
        if same {
            already += 1;
            continue;
        }
        if append_jsonl(path, r)? == mmstall_fsio::Appended::AfterTornLine {
            warnings.push(format!(
                "{}: its last line was torn (an interrupted write); it was terminated before appending",
                path.display()
            ));
        }
        appended += 1;
    }
    Ok((appended, already, warnings))
}

struct Checkout {
    /// What `vm build --tree` gets.
    tree: String,
    commit: Option<String>,
    /// Repository and base revision for `mmstall series`.
    git: Option<(PathBuf, String)>,
}

struct Ctx<'a> {
    plan: &'a Plan,
    opts: &'a Options,
    exec: &'a mut dyn Executor,
    checkouts: HashMap<String, Result<Checkout, String>>,
    static_repos: HashMap<String, Result<(PathBuf, String), String>>,
    baselines: HashMap<(String, String), (KernelRun, Option<InfraClass>)>,
    series_available: Option<Result<(), String>>,
    /// Cache repositories rebuilt during this run (each at most once).
    rebuilt_repos: Vec<PathBuf>,
    /// What the run did on its own (a rebuilt cache), for the progress output.
    notes: Vec<String>,
}

fn step(name: &str, status: StepStatus, secs: f64, log: Option<String>) -> StepRecord {
    StepRecord {
        name: name.into(),
        status,
        duration_s: (secs * 10.0).round() / 10.0,
        log,
    }
}

fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = lines.iter().take(n).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > n {
        out.push_str("\n…");
    }
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Ctx<'_> {
    fn log(&self, job: &Job, name: &str, what: &str, out: &CmdOutput) -> Option<String> {
        let rel = format!("logs/{}/{}.log", job.id, safe_name(name));
        let path = self.opts.out.join(&rel);
        if let Some(p) = path.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        std::fs::write(&path, out.log_text(what)).ok().map(|_| rel)
    }

    fn record_step(&self, job: &Job, rec: &StepRecord) {
        let v = serde_json::json!({"night": self.opts.night, "job": job.id, "step": rec});
        if let Err(e) = append_jsonl(&self.opts.out.join(STEPS), &v) {
            eprintln!("nightly: cannot append to {}: {e}", STEPS);
        }
    }

    /// A whole kernel's measurements (build, boot, suite tests), as soon as
    /// they exist: `--resume` reuses a measured baseline even when the job
    /// that measured it was interrupted later.
    fn record_kernel_run(
        &self,
        job: &Job,
        which: &str,
        run: &KernelRun,
        class: Option<InfraClass>,
    ) {
        let v = serde_json::json!({"night": self.opts.night, "job": job.id, "kernel": job.kernel, "config": job.config, "kernel_run": which, "run": run, "class": class});
        if let Err(e) = append_jsonl(&self.opts.out.join(STEPS), &v) {
            eprintln!("nightly: cannot append to {}: {e}", STEPS);
        }
    }

    fn git(&mut self, args: &[&str], cwd: Option<&Path>) -> CmdOutput {
        self.exec.git(&strs(args), cwd)
    }

    fn checkout(&mut self, kernel: &str) -> Result<(String, Option<String>), String> {
        if !self.checkouts.contains_key(kernel) {
            let c = self.do_checkout(kernel);
            self.checkouts.insert(kernel.to_string(), c);
        }
        match &self.checkouts[kernel] {
            Ok(c) => Ok((c.tree.clone(), c.commit.clone())),
            Err(e) => Err(e.clone()),
        }
    }

    fn do_checkout(&mut self, kernel: &str) -> Result<Checkout, String> {
        let k = self
            .plan
            .kernel(kernel)
            .ok_or_else(|| format!("no kernel `{kernel}` in the plan"))?
            .clone();
        match &k.source {
            KernelSource::Tree { tree } => Ok(Checkout {
                tree: tree.clone(),
                commit: None,
                git: None,
            }),
            KernelSource::Git { repo, git_ref } => {
                let dir = self
                    .exec
                    .cache_root()
                    .join("nightly/checkouts")
                    .join(safe_name(&k.name));
                match self.git_checkout(&dir, repo, git_ref) {
                    // A damaged checkout in the cache (ours, not the user's)
                    // would fail every later night too: it is cloned again.
                    Err(e) if dir.join(".git").exists() && !self.checkout_healthy(&dir) => {
                        self.notes.push(format!(
                            "cache checkout {} of kernel `{}` is damaged ({}); cloning it again",
                            dir.display(),
                            k.name,
                            first_lines(&e, 1)
                        ));
                        std::fs::remove_dir_all(&dir).map_err(|e| {
                            format!("cannot remove the damaged checkout {}: {e}", dir.display())
                        })?;
                        self.git_checkout(&dir, repo, git_ref)
                    }
                    r => r,
                }
            }
        }
    }

    /// The repository of a cache checkout opens and its HEAD commit reads
    /// (a failed fetch of a healthy checkout is the network's or the
    /// remote's problem: cloning again would not help).
    fn checkout_healthy(&mut self, dir: &Path) -> bool {
        let d = dir.display().to_string();
        self.git(
            &[
                "-C",
                &d,
                "rev-parse",
                "--verify",
                "--quiet",
                "HEAD^{commit}",
            ],
            None,
        )
        .success()
    }

    /// Clone (shared, for a local repository) or fetch into `dir`, resolve
    /// the ref, detached checkout.
    fn git_checkout(&mut self, dir: &Path, repo: &str, git_ref: &str) -> Result<Checkout, String> {
        let d = dir.display().to_string();
        if !dir.join(".git").exists() {
            let _ = std::fs::create_dir_all(dir.parent().unwrap_or(Path::new("/")));
            let local = !repo.contains("://") && !repo.starts_with("git@");
            let mut args = vec!["clone", "--quiet", "--no-checkout"];
            if local {
                args.push("--shared");
            }
            args.push(repo);
            args.push(&d);
            let o = self.git(&args, None);
            if !o.success() {
                return Err(format!("git clone {repo}: {}", first_lines(&o.stderr, 5)));
            }
        } else {
            let o = self.git(
                &[
                    "-C",
                    &d,
                    "fetch",
                    "--quiet",
                    "--tags",
                    "origin",
                    "+refs/heads/*:refs/remotes/origin/*",
                ],
                None,
            );
            if !o.success() {
                return Err(format!("git fetch {repo}: {}", first_lines(&o.stderr, 5)));
            }
        }
        let mut commit = None;
        for cand in [
            format!("{git_ref}^{{commit}}"),
            format!("origin/{git_ref}^{{commit}}"),
        ] {
            let o = self.git(&["-C", &d, "rev-parse", "--verify", "--quiet", &cand], None);
            if o.success() {
                commit = Some(o.stdout.trim().to_string());
                break;
            }
        }
        let commit = commit.ok_or_else(|| format!("{repo}: no commit `{git_ref}`"))?;
        let o = self.git(
            &[
                "-C", &d, "checkout", "--quiet", "--force", "--detach", &commit,
            ],
            None,
        );
        if !o.success() {
            return Err(format!(
                "git checkout {commit}: {}",
                first_lines(&o.stderr, 5)
            ));
        }
        Ok(Checkout {
            tree: d.clone(),
            commit: Some(commit.clone()),
            git: Some((dir.to_path_buf(), commit)),
        })
    }

    /// The series as a file or directory `vm build --series` reads.
    fn materialize(&mut self, job: &Job) -> Result<PathBuf, String> {
        let spec = self
            .plan
            .series_spec(&job.series)
            .ok_or_else(|| format!("no series `{}`", job.series))?
            .clone();
        match &spec.source {
            SeriesSource::Mbox { path } | SeriesSource::Dir { path } => {
                // A copy in OUT/series/ for kcidb.json's patchset_files; a
                // failed copy costs only that link, never the job.
                let _ = crate::reports::keep_series(&self.opts.out, &spec.name, path);
                Ok(path.clone())
            }
            SeriesSource::Git { repo, range } => {
                let out = self
                    .opts
                    .out
                    .join("series")
                    .join(format!("{}.mbox", safe_name(&spec.name)));
                let _ = std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")));
                let o = self.git(
                    &[
                        "-C",
                        repo,
                        "format-patch",
                        "--stdout",
                        "--no-signature",
                        range,
                    ],
                    None,
                );
                if !o.success() {
                    return Err(format!(
                        "git format-patch {range} in {repo}: {}",
                        first_lines(&o.stderr, 5)
                    ));
                }
                if o.stdout.trim().is_empty() {
                    return Err(format!("git range {range} in {repo} has no commits"));
                }
                mmstall_fsio::write_atomic(&out, o.stdout.as_bytes()).map_err(|e| e.to_string())?;
                Ok(out)
            }
        }
    }

    /// Repository + base revision holding the kernel's sources for `mmstall
    /// series`. A plain tree (Debian's) is committed once into a repository in
    /// the cache (`git --work-tree`: the tree itself is not written).
    fn static_repo(&mut self, kernel: &str) -> Result<(PathBuf, String), String> {
        if let Some(r) = self.static_repos.get(kernel) {
            return r.clone();
        }
        let r = self.do_static_repo(kernel);
        self.static_repos.insert(kernel.to_string(), r.clone());
        r
    }

    fn do_static_repo(&mut self, kernel: &str) -> Result<(PathBuf, String), String> {
        self.checkout(kernel)?;
        if let Some(Ok(Checkout { git: Some(g), .. })) = self.checkouts.get(kernel) {
            return Ok(g.clone());
        }
        let tree = self.checkouts[kernel]
            .as_ref()
            .map(|c| c.tree.clone())
            .map_err(|e| e.clone())?;
        let work = tree_dir(&self.exec.cache_root(), &tree);
        let gitdir = self
            .exec
            .cache_root()
            .join("nightly/git")
            .join(format!("{}.git", safe_name(kernel)));
        let g = gitdir.display().to_string();
        if gitdir.exists() {
            // A damaged cache repository (a killed import, a bad disk, a
            // partial copy of the cache) would fail every later night too:
            // it is only a cache, so it is rebuilt.
            if let Err(why) = self.cache_repo_health(&g) {
                self.rebuild_cache_repo(&gitdir, kernel, &why)?;
            }
        }
        match self.import_tree(&gitdir, &tree, &work) {
            Err(e) if !self.rebuilt_repos.contains(&gitdir) => {
                self.rebuild_cache_repo(&gitdir, kernel, &e)?;
                self.import_tree(&gitdir, &tree, &work)
            }
            r => r,
        }
    }

    /// The cache repository has a commit and every object reachable from it.
    fn cache_repo_health(&mut self, g: &str) -> Result<(), String> {
        let o = self.git(
            &[
                "--git-dir",
                g,
                "rev-parse",
                "--verify",
                "--quiet",
                "HEAD^{tree}",
            ],
            None,
        );
        if !o.success() {
            return Err(format!("no readable HEAD: {}", first_lines(&o.stderr, 2)));
        }
        let o = self.git(
            &[
                "--git-dir",
                g,
                "fsck",
                "--connectivity-only",
                "--no-progress",
            ],
            None,
        );
        if !o.success() {
            return Err(format!("git fsck: {}", first_lines(&o.stderr, 2)));
        }
        Ok(())
    }

    /// Removes a damaged cache repository (ours: never the user's) so the
    /// next import starts from scratch, with a note.
    fn rebuild_cache_repo(&mut self, gitdir: &Path, kernel: &str, why: &str) -> Result<(), String> {
        self.rebuilt_repos.push(gitdir.to_path_buf());
        self.notes.push(format!(
            "cache repository {} of kernel `{kernel}` is damaged ({}); rebuilding it",
            gitdir.display(),
            first_lines(why, 1)
        ));
        std::fs::remove_dir_all(gitdir).map_err(|e| {
            format!(
                "cannot remove the damaged cache repository {}: {e}",
                gitdir.display()
            )
        })
    }

    /// Commits the tree into the cache repository (created when missing).
    fn import_tree(
        &mut self,
        gitdir: &Path,
        tree: &str,
        work: &Path,
    ) -> Result<(PathBuf, String), String> {
        let g = gitdir.display().to_string();
        let w = work.display().to_string();
        if !gitdir.exists() {
            let o = self.git(&["init", "--quiet", "--bare", &g], None);
            if !o.success() {
                return Err(format!("git init {g}: {}", first_lines(&o.stderr, 3)));
            }
        }
        // Debian's source package ignores everything at its top level
        // (`/*` in .gitignore, for its packaging repository): its pristine
        // tree is added with --force. Other trees keep their .gitignore (a tree
        // built in place must not bring its objects).
        let force = tree.starts_with("debian:");
        let mut add = vec!["--git-dir", &g, "--work-tree", &w, "add", "-A"];
        if force {
            add.push("--force");
        }
        add.push(".");
        let o = self.git(&add, Some(work));
        if !o.success() {
            return Err(format!(
                "importing {w} into {g}: {}",
                first_lines(&o.stderr, 3)
            ));
        }
        let o = self.git(
            &[
                "--git-dir",
                &g,
                "--work-tree",
                &w,
                "-c",
                "user.name=mmstall",
                "-c",
                "user.email=mmstall@localhost",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "mmstall nightly import",
            ],
            Some(work),
        );
        if !o.success() {
            return Err(format!(
                "committing {w} into {g}: {}",
                first_lines(&o.stderr, 3)
            ));
        }
        let o = self.git(&["--git-dir", &g, "rev-parse", "HEAD", "HEAD^{tree}"], None);
        if !o.success() {
            return Err(format!("rev-parse in {g}: {}", first_lines(&o.stderr, 3)));
        }
        let mut ids = o.stdout.split_whitespace();
        let commit = ids.next().unwrap_or("").to_string();
        if ids.next() == Some(EMPTY_TREE) {
            return Err(format!("importing {w} into {g}: nothing was added (is everything ignored by a .gitignore?)"));
        }
        Ok((gitdir.to_path_buf(), commit))
    }

    fn series_available(&mut self) -> Result<(), String> {
        if let Some(r) = &self.series_available {
            return r.clone();
        }
        let o = self.exec.mmstall(&strs(&["series", "--help"]));
        let r = if o.unknown_subcommand() {
            Err("this mmstall has no `series` subcommand".to_string())
        } else if o.success() {
            Ok(())
        } else {
            Err(format!(
                "`mmstall series --help` failed: {}",
                first_lines(&o.stderr, 3)
            ))
        };
        self.series_available = Some(r.clone());
        r
    }

    /// The static step. When `mmstall series` fails on a cache repository
    /// (not the user's), the repository is checked in full (`git fsck`); a
    /// damaged one is rebuilt and the step runs once more.
    fn run_static(&mut self, job: &Job, series: &Path) -> StaticResult {
        let st = self.run_static_once(job, series);
        if !matches!(st.step.status, StepStatus::Failed { .. }) {
            return st;
        }
        let cache = self.exec.cache_root().join("nightly/git");
        let Some(Ok((repo, _))) = self.static_repos.get(&job.kernel).cloned() else {
            return st;
        };
        if !repo.starts_with(&cache) || self.rebuilt_repos.contains(&repo) {
            return st;
        }
        let g = repo.display().to_string();
        let o = self.git(&["--git-dir", &g, "fsck", "--no-progress"], None);
        if o.success()
            || self
                .rebuild_cache_repo(&repo, &job.kernel, &o.stderr)
                .is_err()
        {
            return st;
        }
        self.static_repos.remove(&job.kernel);
        self.run_static_once(job, series)
    }

    fn run_static_once(&mut self, job: &Job, series: &Path) -> StaticResult {
        let empty = |rec: StepRecord| StaticResult {
            step: rec,
            patches: vec![],
            introduced: vec![],
            fixed: vec![],
            unchanged: 0,
        };
        if let Err(reason) = self.series_available() {
            return empty(step(
                "static",
                StepStatus::Unavailable { reason },
                0.0,
                None,
            ));
        }
        let start = Instant::now();
        let (repo, base) = match self.static_repo(&job.kernel) {
            Ok(x) => x,
            Err(detail) => {
                return empty(step(
                    "static",
                    StepStatus::Failed { detail },
                    start.elapsed().as_secs_f64(),
                    None,
                ))
            }
        };
        let mut args = vec![
            "series".to_string(),
            "--repo".into(),
            repo.display().to_string(),
            "--base".into(),
            base,
            "--format".into(),
            "json".into(),
            "--keep-going".into(),
            series.display().to_string(),
        ];
        args.extend(self.plan.static_.paths.iter().cloned());
        let o = self.exec.mmstall(&args);
        let log = self.log(job, "static", &format!("mmstall {}", args.join(" ")), &o);
        let secs = start.elapsed().as_secs_f64();
        // 0 and 1: every patch analyzed; 3: a patch did not apply (its
        // report is read, and the failed patch makes the step fail below).
        let parsed = if matches!(o.exit, Some(0) | Some(1) | Some(3)) {
            parse_series_json(&o.stdout)
        } else {
            Err(String::new())
        };
        match parsed {
            Ok(mut r) => {
                r.step = step("static", StepStatus::Ok, secs, log);
                if o.exit == Some(3) && !r.patches.iter().any(|p| p.status == "failed") {
                    r.step.status = StepStatus::Failed {
                        detail: format!(
                            "mmstall series exited 3 (incomplete): {}",
                            first_lines(&o.stderr, 3)
                        ),
                    };
                    r.introduced.clear();
                }
                r
            }
            Err(e) => {
                let detail = if e.is_empty() {
                    format!(
                        "mmstall series exited {:?}: {}",
                        o.exit,
                        first_lines(&o.stderr, 5)
                    )
                } else {
                    format!("unreadable `mmstall series` JSON: {e}")
                };
                empty(step("static", StepStatus::Failed { detail }, secs, log))
            }
        }
    }

    fn kernel_run(
        &mut self,
        job: &Job,
        tree: &str,
        series: Option<&Path>,
    ) -> (KernelRun, Option<InfraClass>) {
        let which = if series.is_some() {
            "patched"
        } else {
            "baseline"
        };
        let fragments = self
            .plan
            .config(&job.config)
            .map(|c| c.fragments.join(","))
            .unwrap_or_default();
        let mut args = strs(&[
            "vm",
            "build",
            "--tree",
            tree,
            "--config",
            &fragments,
            "--json",
            "--progress",
            "never",
        ]);
        if let Some(s) = series {
            args.push("--series".into());
            args.push(s.display().to_string());
        }
        let o = self.exec.mmstall(&args);
        let log = self.log(
            job,
            &format!("{which}-build"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        let skipped = |r: &str| step("", StepStatus::Skipped { reason: r.into() }, 0.0, None);
        let mut run = KernelRun {
            build: step(&format!("{which} build"), StepStatus::Ok, o.secs, log),
            build_dir: None,
            kernel_release: None,
            compiled: None,
            boot: skipped("not built"),
            boot_secs: None,
            events: vec![],
            suite: skipped("not built"),
            tests: vec![],
        };
        run.boot.name = format!("{which} boot");
        run.suite.name = format!("{which} stall suite");
        let meta: Option<Value> = if o.success() {
            serde_json::from_str(&o.stdout).ok()
        } else {
            None
        };
        let key = meta
            .as_ref()
            .and_then(|m| m.get("key"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let key = match key {
            Some(k) => k,
            None => {
                let (class, detail) = classify_build(&o);
                run.build.status = StepStatus::Failed { detail };
                self.record_step(job, &run.build);
                return (run, Some(class));
            }
        };
        let m = meta.unwrap_or(Value::Null);
        run.build_dir = Some(key.clone());
        run.kernel_release = m
            .get("kernel_release")
            .and_then(Value::as_str)
            .map(str::to_string);
        run.compiled = m.get("compiled").and_then(Value::as_u64);
        self.record_step(job, &run.build);

        // Boot check.
        if self.plan.boot.enabled {
            let out = self
                .opts
                .out
                .join("logs")
                .join(&job.id)
                .join(format!("{which}-boot"));
            let args = vec![
                "vm".to_string(),
                "run".into(),
                "--kernel".into(),
                key.clone(),
                "--exec".into(),
                "true".into(),
                "--json".into(),
                "--boot-timeout".into(),
                self.plan.boot.timeout_secs.to_string(),
                "--timeout".into(),
                self.plan.boot.command_timeout_secs.to_string(),
                "--out".into(),
                out.display().to_string(),
            ];
            let o = self.exec.mmstall(&args);
            let log = self.log(
                job,
                &format!("{which}-boot"),
                &format!("mmstall {}", args.join(" ")),
                &o,
            );
            let v: Option<Value> = serde_json::from_str(&o.stdout).ok();
            let status = v
                .as_ref()
                .and_then(|v| v.pointer("/outcome/status"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            run.boot_secs = v
                .as_ref()
                .and_then(|v| v.get("boot_secs"))
                .and_then(Value::as_f64);
            run.events = v
                .as_ref()
                .and_then(|v| v.get("events"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| {
                            e.get("fingerprint")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let booted = matches!(o.exit, Some(0) | Some(1))
                && (status == "exited" || status == "command-timeout");
            run.boot = step(&format!("{which} boot"), StepStatus::Ok, o.secs, log);
            if !booted {
                let why = match status.as_str() {
                    "boot-timeout" => "boot timeout: the guest never ran the command".to_string(),
                    "guest-died" => format!(
                        "the guest died: {}",
                        v.as_ref()
                            .and_then(|v| v.pointer("/outcome/reason"))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ),
                    _ => format!("vm run exited {:?}: {}", o.exit, first_lines(&o.stderr, 5)),
                };
                let ev = if run.events.is_empty() {
                    String::new()
                } else {
                    format!(" (kernel: {})", run.events.join("; "))
                };
                run.boot.status = StepStatus::Failed {
                    detail: format!("{why}{ev}"),
                };
                self.record_step(job, &run.boot);
                return (
                    run,
                    Some(if o.unknown_subcommand() {
                        InfraClass::Machine
                    } else {
                        InfraClass::BootFailure
                    }),
                );
            }
            self.record_step(job, &run.boot);
        } else {
            run.boot.status = StepStatus::Skipped {
                reason: "boot disabled in the plan".into(),
            };
        }

        // Stall suite.
        if !self.plan.suite.enabled {
            run.suite.status = StepStatus::Skipped {
                reason: "suite disabled in the plan".into(),
            };
            return (run, None);
        }
        let out = self
            .opts
            .out
            .join("logs")
            .join(&job.id)
            .join(format!("{which}-suite"));
        let guest = self.exec.guest_program();
        if guest.is_none() && self.plan.suite.args.iter().any(|a| a.contains("{guest}")) {
            run.suite.status = StepStatus::Unavailable {
                reason: "stall suite unavailable: no mmstall-guest program next to mmstall".into(),
            };
            self.record_step(job, &run.suite);
            return (run, None);
        }
        let guest = guest.map(|g| g.display().to_string()).unwrap_or_default();
        let subst = |a: &str| {
            // Inside a shell command (`--exec "..."`), values are quoted.
            let q = |v: &str| {
                if a.contains(' ') {
                    sh_quote(v)
                } else {
                    v.to_string()
                }
            };
            a.replace("{kernel}", &q(&key))
                .replace("{out}", &q(&out.display().to_string()))
                .replace("{guest}", &q(&guest))
        };
        let args: Vec<String> = self.plan.suite.args.iter().map(|a| subst(a)).collect();
        let report_path = (self.plan.suite.report != "none").then(|| {
            PathBuf::from(
                self.plan
                    .suite
                    .report
                    .replace("{kernel}", &key)
                    .replace("{out}", &out.display().to_string()),
            )
        });
        if let Some(p) = &report_path {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::create_dir_all(&out);
        }
        let o = self.exec.mmstall(&args);
        let o = match &report_path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => CmdOutput { stdout: text, ..o },
                Err(e) if o.exit == Some(0) || o.exit == Some(1) => {
                    let guest_err = serde_json::from_str::<Value>(&o.stdout).ok().and_then(|v| {
                        v.get("stderr")
                            .and_then(Value::as_str)
                            .map(|s| first_lines(s, 3))
                    });
                    CmdOutput {
                        exit: Some(4),
                        stderr: format!(
                            "the suite wrote no report {}: {e}{}",
                            p.display(),
                            guest_err
                                .map(|g| format!(" (guest: {g})"))
                                .unwrap_or_default()
                        ),
                        ..o
                    }
                }
                Err(_) => o,
            },
            None => o,
        };
        let log = self.log(
            job,
            &format!("{which}-suite"),
            &format!("mmstall {}", args.join(" ")),
            &o,
        );
        run.suite = step(&format!("{which} stall suite"), StepStatus::Ok, o.secs, log);
        if o.unknown_subcommand() {
            run.suite.status = StepStatus::Unavailable {
                reason: format!(
                    "stall suite unavailable: this mmstall has no `{}`",
                    self.plan
                        .suite
                        .args
                        .iter()
                        .take_while(|a| !a.starts_with('-'))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            };
        } else {
            match (o.exit, parse_suite_json(&o.stdout)) {
                (Some(0) | Some(1), Ok(tests)) => run.tests = tests,
                (_, Err(e)) if o.exit == Some(0) || o.exit == Some(1) => {
                    run.suite.status = StepStatus::Failed {
                        detail: format!("unreadable suite JSON: {e}"),
                    }
                }
                (Some(4), _) => {
                    run.suite.status = StepStatus::Failed {
                        detail: first_lines(&o.stderr, 5),
                    }
                }
                _ => {
                    run.suite.status = StepStatus::Failed {
                        detail: format!("suite exited {:?}: {}", o.exit, first_lines(&o.stderr, 5)),
                    }
                }
            }
        }
        self.record_step(job, &run.suite);
        (run, None)
    }

    fn baseline(&mut self, job: &Job, tree: &str) -> (KernelRun, Option<InfraClass>) {
        let key = (job.kernel.clone(), job.config.clone());
        if let Some((r, c)) = self.baselines.get(&key) {
            return (r.clone(), *c);
        }
        let (r, c) = self.kernel_run(job, tree, None);
        self.record_kernel_run(job, "baseline", &r, c);
        self.baselines.insert(key, (r.clone(), c));
        (r, c)
    }

    fn run_job(&mut self, job: &Job) -> JobResult {
        let start = Instant::now();
        let k = self.plan.kernel(&job.kernel).cloned();
        let kernel_source = match k.as_ref().map(|k| &k.source) {
            Some(KernelSource::Tree { tree }) => tree.clone(),
            Some(KernelSource::Git { repo, git_ref }) => format!("{repo}@{git_ref}"),
            None => String::new(),
        };
        let mut r = JobResult {
            night: self.opts.night.clone(),
            plan: self.plan.name.clone(),
            job: job.id.clone(),
            series: job.series.clone(),
            kernel: job.kernel.clone(),
            kernel_source,
            commit: None,
            config: job.config.clone(),
            fragments: self
                .plan
                .config(&job.config)
                .map(|c| c.fragments.clone())
                .unwrap_or_default(),
            subjects: vec![],
            checkout: step("checkout", StepStatus::Ok, 0.0, None),
            static_: None,
            baseline: None,
            patched: None,
            comparisons: vec![],
            verdict: Verdict::Pass {
                not_checked: vec![],
            },
            duration_s: 0.0,
            started: Some(crate::reports::utc_timestamp_now()),
            host: crate::reports::hostname(),
        };
        let infra = |class: InfraClass, detail: String| Verdict::InfraError { class, detail };
        let t = Instant::now();
        let tree = match self.checkout(&job.kernel) {
            Ok((tree, commit)) => {
                r.commit = commit;
                r.checkout.duration_s = (t.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                tree
            }
            Err(detail) => {
                r.checkout.status = StepStatus::Failed {
                    detail: detail.clone(),
                };
                r.verdict = infra(InfraClass::Checkout, detail);
                return finish(r, start);
            }
        };
        self.record_step(job, &r.checkout);

        let series = if job.is_baseline() {
            None
        } else {
            match self.materialize(job) {
                Ok(p) => Some(p),
                Err(detail) => {
                    r.verdict = infra(InfraClass::SeriesUnreadable, detail);
                    return finish(r, start);
                }
            }
        };

        if let Some(s) = &series {
            // Applies at all? (cheap, before any build)
            let o = self.exec.apply_check(&tree, s);
            let log = self.log(
                job,
                "apply-check",
                &format!("apply check of {} onto {tree}", s.display()),
                &o,
            );
            let applies = o.success();
            if applies {
                r.subjects = serde_json::from_str(&o.stdout).unwrap_or_default();
            }
            let rec = step(
                "apply check",
                if applies {
                    StepStatus::Ok
                } else {
                    StepStatus::Failed {
                        detail: first_lines(&o.stderr, 8),
                    }
                },
                o.secs,
                log,
            );
            self.record_step(job, &rec);
            if self.plan.static_.enabled {
                let mut st = self.run_static(job, s);
                if applies && st.step.status == StepStatus::Ok {
                    // The series applies to the tree being built: a patch the
                    // static analysis could not apply means it analyzed something else.
                    if let Some(p) = st.patches.iter().find(|p| p.status == "failed") {
                        st.step.status = StepStatus::Failed { detail: format!("mmstall series could not apply patch {} (\"{}\") although it applies to the tree (see {})", p.index, p.subject, st.step.log.clone().unwrap_or_default()) };
                        st.introduced.clear();
                    }
                }
                self.record_step(job, &st.step);
                r.static_ = Some(st);
            }
            if !applies {
                let class = if o.exit == Some(2) {
                    InfraClass::SeriesUnreadable
                } else {
                    InfraClass::PatchDoesNotApply
                };
                r.verdict = infra(class, first_lines(&o.stderr, 8));
                return finish(r, start);
            }
        }

        if !self.plan.build.enabled {
            let static_ = r
                .static_
                .as_ref()
                .map(|s| !s.introduced.is_empty())
                .unwrap_or(false);
            let mut gaps = Gaps::default();
            gaps.static_step(r.static_.as_ref(), self.plan);
            gaps.disabled
                .push("kernel builds disabled in the plan (static only)".into());
            r.verdict = gaps.verdict(static_, false);
            return finish(r, start);
        }
        let (base, bfail) = self.baseline(job, &tree);
        r.baseline = Some(base.clone());
        if let Some(class) = bfail {
            let detail = failure_detail(&base).unwrap_or_default();
            r.verdict = infra_or_static_regression(&r, class, format!("baseline kernel: {detail}"));
            return finish(r, start);
        }
        let Some(s) = series else {
            // The baseline job: the kernel's own measurements.
            let mut gaps = Gaps::default();
            gaps.kernel_run(&base);
            r.verdict = gaps.verdict(false, false);
            return finish(r, start);
        };

        let (patched, pfail) = self.kernel_run(job, &tree, Some(&s));
        self.record_kernel_run(job, "patched", &patched, pfail);
        r.patched = Some(patched.clone());
        if let Some(class) = pfail {
            let detail = failure_detail(&patched).unwrap_or_default();
            let detail = if class == InfraClass::BootFailure {
                format!("patched kernel: {detail} (the baseline booted)")
            } else {
                format!("patched kernel: {detail}")
            };
            r.verdict = infra_or_static_regression(&r, class, detail);
            return finish(r, start);
        }

        r.comparisons = compare(
            &base,
            &patched,
            self.plan.suite.ratio_tolerance,
            self.plan.suite.ratio_floor,
        );
        let dynamic = r.comparisons.iter().any(|c| c.regression);
        let static_ = r
            .static_
            .as_ref()
            .map(|s| !s.introduced.is_empty())
            .unwrap_or(false);
        let mut gaps = Gaps::default();
        gaps.static_step(r.static_.as_ref(), self.plan);
        gaps.kernel_run(&patched);
        gaps.test_errors(&base);
        for b in &base.tests {
            if !patched.tests.iter().any(|p| p.name == b.name) {
                gaps.requested.push(format!(
                    "stall test `{}` ran on the baseline but not on the patched kernel",
                    b.name
                ));
            }
        }
        r.verdict = gaps.verdict(static_, dynamic);
        finish(r, start)
    }
}

pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A kernel that did not build or boot leaves the dynamic part unchecked,
/// but findings the static analysis introduced are still a regression (exit
/// 1, the infrastructure failure listed as not checked), never hidden
/// behind an infrastructure error.
fn infra_or_static_regression(r: &JobResult, class: InfraClass, detail: String) -> Verdict {
    let static_found = r
        .static_
        .as_ref()
        .is_some_and(|s| s.step.status == StepStatus::Ok && !s.introduced.is_empty());
    if static_found {
        Verdict::Regression {
            static_: true,
            dynamic: false,
            not_checked: vec![format!("{}: {}", class.label(), first_lines(&detail, 1))],
        }
    } else {
        Verdict::InfraError { class, detail }
    }
}

fn finish(mut r: JobResult, start: Instant) -> JobResult {
    r.duration_s = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    r
}

/// What a job could not check. `requested`: checks the plan asks for that
/// did not run or did not finish; `disabled`: checks the plan turned off.
/// The verdict rules (docs/nightly.md): a regression stays a regression
/// (with every gap listed); otherwise any requested gap makes the job
/// `not checked` (an infrastructure error, exit 3), never a pass; only
/// checks the plan disabled leave a `pass (partial)`.
#[derive(Default)]
struct Gaps {
    requested: Vec<String>,
    disabled: Vec<String>,
}

impl Gaps {
    fn static_step(&mut self, st: Option<&StaticResult>, plan: &Plan) {
        match st.map(|s| &s.step.status) {
            None if plan.static_.enabled => {}
            None => self
                .disabled
                .push("static analysis disabled in the plan".into()),
            Some(StepStatus::Ok) => {}
            Some(StepStatus::Unavailable { reason }) => self
                .requested
                .push(format!("static analysis unavailable: {reason}")),
            Some(StepStatus::Failed { detail }) => self.requested.push(format!(
                "static analysis failed: {}",
                first_lines(detail, 1)
            )),
            Some(StepStatus::Skipped { reason }) => self
                .requested
                .push(format!("static analysis skipped: {reason}")),
        }
    }

    fn kernel_run(&mut self, run: &KernelRun) {
        // One wording for both kernels: "stall suite: ..." (the step names
        // are "baseline stall suite", "patched boot").
        let plain = |s: &str| s.replace("baseline ", "").replace("patched ", "");
        for s in [&run.boot, &run.suite] {
            let what = s.name.split(' ').skip(1).collect::<Vec<_>>().join(" ");
            match &s.status {
                StepStatus::Ok => {}
                StepStatus::Skipped { reason } if reason.contains("disabled in the plan") => {
                    self.disabled.push(plain(reason))
                }
                StepStatus::Unavailable { reason } | StepStatus::Skipped { reason } => {
                    self.requested.push(plain(reason))
                }
                StepStatus::Failed { detail } => self
                    .requested
                    .push(plain(&format!("{what}: {}", first_lines(detail, 1)))),
            }
        }
        if matches!(run.suite.status, StepStatus::Ok) && run.tests.is_empty() {
            self.requested
                .push("stall suite: it reported no tests".to_string());
        }
        if !run.tests.is_empty() && run.tests.iter().all(|t| t.status == "skip") {
            self.requested
                .push("stall suite: every test was skipped".to_string());
        }
        self.test_errors(run);
    }

    /// A stall test that could not run (`error`) on either kernel leaves its
    /// comparison unchecked.
    fn test_errors(&mut self, run: &KernelRun) {
        for t in run.tests.iter().filter(|t| t.status == "error") {
            self.requested.push(format!(
                "stall test `{}` could not run: {}",
                t.name,
                first_lines(&t.detail, 1)
            ));
        }
    }

    fn verdict(self, static_: bool, dynamic: bool) -> Verdict {
        let clean = |v: Vec<String>| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for g in v {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
            out
        };
        let requested = clean(self.requested);
        let disabled = clean(self.disabled);
        if static_ || dynamic {
            Verdict::Regression {
                static_,
                dynamic,
                not_checked: requested.into_iter().chain(disabled).collect(),
            }
        } else if !requested.is_empty() {
            let mut detail = requested.join("; ");
            if !disabled.is_empty() {
                detail.push_str(&format!(" (also not checked: {})", disabled.join("; ")));
            }
            Verdict::InfraError {
                class: InfraClass::NotChecked,
                detail,
            }
        } else {
            Verdict::Pass {
                not_checked: disabled,
            }
        }
    }
}

fn baseline_failure(r: &KernelRun) -> Option<InfraClass> {
    if matches!(r.build.status, StepStatus::Failed { .. }) {
        return Some(InfraClass::BuildFailure);
    }
    if matches!(r.boot.status, StepStatus::Failed { .. }) {
        return Some(InfraClass::BootFailure);
    }
    None
}

fn failure_detail(r: &KernelRun) -> Option<String> {
    for s in [&r.build, &r.boot] {
        if let StepStatus::Failed { detail } = &s.status {
            return Some(format!("{}: {detail}", s.name));
        }
    }
    None
}

/// `vm build`'s exit codes: 1 the kernel does not compile; 2 bad input (a
/// patch that does not apply, dropped config options, ...); 3 the machine.
pub fn classify_build(o: &CmdOutput) -> (InfraClass, String) {
    // From the first `error` line on (progress notes before it are in the log).
    let from_error = o
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("error"))
        .collect::<Vec<_>>()
        .join("\n");
    let detail = first_lines(
        if from_error.is_empty() {
            &o.stderr
        } else {
            &from_error
        },
        12,
    );
    let class = if o.stderr.contains("does not apply") {
        InfraClass::PatchDoesNotApply
    } else if o.exit == Some(1) || o.stderr.contains("dropped") {
        InfraClass::BuildFailure
    } else {
        InfraClass::Machine
    };
    let detail = if o.unknown_subcommand() {
        "this mmstall has no `vm build`".to_string()
    } else if detail.is_empty() {
        format!("vm build exited {:?} without a build", o.exit)
    } else {
        detail
    };
    (class, detail)
}

/// Patched against baseline: a test that passed and now fails, a ratio above
/// baseline × (1 + tolerance) and above `floor`, or a kernel event (hung
/// task, lockdep, ...) the baseline did not have.
pub fn compare(
    base: &KernelRun,
    patched: &KernelRun,
    tolerance: f64,
    floor: f64,
) -> Vec<Comparison> {
    let mut out = Vec::new();
    for p in &patched.tests {
        let b = base.tests.iter().find(|b| b.name == p.name);
        let (bs, br) = b
            .map(|b| (b.status.clone(), b.ratio))
            .unwrap_or(("missing".into(), None));
        let mut reason = String::new();
        if p.status == "fail" && (bs == "pass" || bs == "missing") {
            reason = format!("fails (baseline: {bs})");
        } else if let (Some(bv), Some(pv)) = (br, p.ratio) {
            if pv > bv * (1.0 + tolerance) && pv > floor {
                reason = format!("ratio {pv:.2} > baseline {bv:.2} × {:.2}", 1.0 + tolerance);
            }
        }
        out.push(Comparison {
            test: p.name.clone(),
            baseline_status: bs,
            patched_status: p.status.clone(),
            baseline_ratio: br,
            patched_ratio: p.ratio,
            regression: !reason.is_empty(),
            reason,
        });
    }
    for e in &patched.events {
        if !base.events.contains(e) {
            out.push(Comparison {
                test: format!("kernel-event:{e}"),
                baseline_status: "absent".into(),
                patched_status: "present".into(),
                baseline_ratio: None,
                patched_ratio: None,
                regression: true,
                reason: format!(
                    "the patched kernel reports `{e}` while booting; the baseline does not"
                ),
            });
        }
    }
    out
}

/// `mmstall series --format json` (revisions branch): patches[], net.{introduced,fixed,unchanged}.
pub fn parse_series_json(text: &str) -> Result<StaticResult, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let findings = |p: Option<&Value>| -> Vec<Finding> {
        p.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| serde_json::from_value(f.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let patches_v = v
        .get("patches")
        .and_then(Value::as_array)
        .ok_or("no `patches` array")?;
    let mut patches = Vec::new();
    let mut by_fp: HashMap<String, usize> = HashMap::new();
    for p in patches_v {
        let index = p.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let intro = findings(p.get("introduced"));
        for f in &intro {
            by_fp.entry(f.fingerprint.clone()).or_insert(index);
        }
        patches.push(PatchSummary {
            index,
            subject: p
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            status: p
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            introduced: intro.len(),
            fixed: findings(p.get("fixed")).len(),
        });
    }
    let net = v.get("net").ok_or("no `net` object")?;
    let mut introduced = findings(net.get("introduced"));
    for f in &mut introduced {
        f.patch = by_fp.get(&f.fingerprint).copied();
    }
    Ok(StaticResult {
        step: step("static", StepStatus::Ok, 0.0, None),
        patches,
        introduced,
        fixed: findings(net.get("fixed")),
        unchanged: net
            .get("unchanged")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .unwrap_or(0),
    })
}

/// The suite JSON (see docs/nightly.md): `{"tests": [{"name", "status"|"ok",
/// "ratio"|"stall_ratio", "unit", "detail"}]}` or a bare array of tests.
pub fn parse_suite_json(text: &str) -> Result<Vec<SuiteTest>, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // `vm run --json`: the suite's JSON is the guest command's stdout.
    if v.get("outcome").is_some() && v.get("stdout").is_some() {
        let inner = v.get("stdout").and_then(Value::as_str).unwrap_or("");
        if inner.trim().is_empty() {
            let status = v
                .pointer("/outcome/status")
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Err(format!(
                "the suite printed nothing (vm run outcome: {status})"
            ));
        }
        v = serde_json::from_str(inner).map_err(|e| format!("the guest's output: {e}"))?;
    }
    let arr = v
        .as_array()
        .or_else(|| v.get("tests").and_then(Value::as_array))
        .or_else(|| v.get("results").and_then(Value::as_array))
        .ok_or("no `tests` array")?;
    let mut out = Vec::new();
    for (i, t) in arr.iter().enumerate() {
        let name = t
            .get("name")
            .or_else(|| t.get("test"))
            .or_else(|| t.get("id"))
            .and_then(Value::as_str)
            .ok_or(format!("test #{}: no `name`", i + 1))?;
        // mmstall-guest's report: `verdict` is {"verdict": "pass"|"fail"|"skip"|"xfail"|"error", "reason"};
        // the ratio of a test is its worst variant's median.
        // mmstall-guest writes {"verdict": "pass"} / {"verdict": "skip", "reason": ...}.
        let verdict_word = t.get("verdict").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.get("verdict").and_then(Value::as_str).map(str::to_string))
                .or_else(|| v.as_object().and_then(|o| o.keys().next().cloned()))
        });
        let variant_ratio = t
            .get("variants")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(|x| x.pointer("/ratio/median").and_then(Value::as_f64))
                    .fold(f64::NAN, f64::max)
            })
            .filter(|r| r.is_finite());
        let variant_detail = t
            .get("variants")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(|x| x.get("summary").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let status_text = t
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(verdict_word);
        let status = match (
            status_text.as_deref(),
            t.get("ok")
                .or_else(|| t.get("passed"))
                .and_then(Value::as_bool),
        ) {
            (Some(s), _) => match s.to_ascii_lowercase().as_str() {
                "pass" | "passed" | "ok" => "pass",
                "fail" | "failed" | "not ok" | "regression" => "fail",
                "skip" | "skipped" | "xfail" => "skip",
                _ => "error",
            },
            (None, Some(true)) => "pass",
            (None, Some(false)) => "fail",
            (None, None) => "error",
        };
        let ratio = t
            .get("ratio")
            .or_else(|| t.get("stall_ratio"))
            .and_then(Value::as_f64)
            .filter(|r| r.is_finite())
            .or(variant_ratio);
        out.push(SuiteTest {
            name: name.to_string(),
            status: status.to_string(),
            ratio,
            unit: t
                .get("unit")
                .and_then(Value::as_str)
                .unwrap_or("ratio")
                .to_string(),
            detail: t
                .get("detail")
                .or_else(|| t.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or(variant_detail),
            duration_s: t
                .get("duration_s")
                .and_then(Value::as_f64)
                .filter(|d| d.is_finite() && *d >= 0.0),
        });
    }
    Ok(out)
}

/// A fresh run into a directory that holds results: `results.jsonl` and
/// `steps.jsonl` become generation N (`results.jsonl.N`, `steps.jsonl.N`,
/// N one more than any kept generation), so every earlier run stays.
fn keep_previous_generation(out: &Path, progress: &mut dyn FnMut(&str)) -> std::io::Result<()> {
    let names = [RESULTS, STEPS];
    if !names.iter().any(|n| out.join(n).exists()) {
        return Ok(());
    }
    let gen = mmstall_fsio::next_generation(out, &names)?;
    for n in names {
        let from = out.join(n);
        if from.exists() {
            let to = out.join(format!("{n}.{gen}"));
            std::fs::rename(&from, &to).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "keeping the previous {} as {}: {e}",
                        from.display(),
                        to.display()
                    ),
                )
            })?;
        }
    }
    progress(&format!(
        "earlier results of {} kept as {RESULTS}.{gen} (a fresh run; --resume continues one)",
        out.display()
    ));
    Ok(())
}

/// Runs the plan. Returns every job's result (also those skipped by
/// `--resume`, read back from `results.jsonl`).
pub fn run(
    plan: &Plan,
    opts: &Options,
    exec: &mut dyn Executor,
    progress: &mut dyn FnMut(&str),
) -> std::io::Result<Vec<JobResult>> {
    std::fs::create_dir_all(&opts.out)?;
    // Absolute: run directories are handed to the guest, whose working directory differs.
    let abs = Options {
        out: std::fs::canonicalize(&opts.out)?,
        night: opts.night.clone(),
        only_jobs: opts.only_jobs.clone(),
        history: opts.history.clone(),
        resume: opts.resume,
    };
    let opts = &abs;
    let results_path = opts.out.join(RESULTS);
    let mut results = Vec::new();
    if opts.resume {
        let (prev, bad) = read_results(&results_path);
        for b in bad {
            progress(&b);
        }
        results.extend(prev.into_iter().filter(|r| r.night == opts.night));
    } else {
        keep_previous_generation(&opts.out, progress)?;
    }
    let mut ctx = Ctx {
        plan,
        opts,
        exec,
        checkouts: HashMap::new(),
        static_repos: HashMap::new(),
        baselines: HashMap::new(),
        series_available: None,
        rebuilt_repos: Vec::new(),
        notes: Vec::new(),
    };
    let jobs: Vec<Job> = plan
        .jobs()
        .into_iter()
        .filter(|j| opts.only_jobs.is_empty() || opts.only_jobs.contains(&j.id))
        .collect();
    // Baselines of resumed jobs are reused.
    for r in &results {
        if let Some(b) = &r.baseline {
            let class = match &r.verdict {
                Verdict::InfraError { class, detail } if detail.starts_with("baseline kernel") => {
                    Some(*class)
                }
                _ => baseline_failure(b),
            };
            ctx.baselines
                .entry((r.kernel.clone(), r.config.clone()))
                .or_insert_with(|| (b.clone(), class));
        }
    }
    if opts.resume {
        // Baselines measured by jobs that did not finish.
        if let Ok(lines) = mmstall_fsio::read_jsonl::<Value>(&opts.out.join(STEPS)) {
            for b in &lines.skipped {
                progress(&b.to_string());
            }
            for (_, v) in lines.records {
                if v.get("kernel_run").and_then(Value::as_str) != Some("baseline")
                    || v.get("night").and_then(Value::as_str) != Some(opts.night.as_str())
                {
                    continue;
                }
                let (Some(k), Some(c)) = (
                    v.get("kernel").and_then(Value::as_str),
                    v.get("config").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let Ok(run) = serde_json::from_value::<KernelRun>(v["run"].clone()) else {
                    continue;
                };
                let class = serde_json::from_value::<Option<InfraClass>>(v["class"].clone())
                    .unwrap_or(None);
                ctx.baselines
                    .entry((k.to_string(), c.to_string()))
                    .or_insert((run, class));
            }
        }
    }
    reports::write_all(&opts.out, &results, &plan.name)?;
    for (i, job) in jobs.iter().enumerate() {
        if results.iter().any(|r| r.job == job.id) {
            progress(&format!(
                "[{}/{}] {}: already measured (resume)",
                i + 1,
                jobs.len(),
                job.id
            ));
            continue;
        }
        progress(&format!("[{}/{}] {}: running", i + 1, jobs.len(), job.id));
        let r = ctx.run_job(job);
        for n in ctx.notes.drain(..) {
            progress(&format!("note: {n}"));
        }
        progress(&format!(
            "[{}/{}] {}: {} ({:.0} s)",
            i + 1,
            jobs.len(),
            job.id,
            r.verdict.word(),
            r.duration_s
        ));
        if append_jsonl(&results_path, &r)? == mmstall_fsio::Appended::AfterTornLine {
            progress(&format!(
                "{}: its last line was torn (an interrupted write); it was terminated before appending",
                results_path.display()
            ));
        }
        if let Some(h) = &opts.history {
            // A job that just ran is new to the history: appended without
            // reading the whole store (`merge --history` dedupes).
            match append_jsonl(h, &r) {
                Ok(mmstall_fsio::Appended::Clean) => {}
                Ok(mmstall_fsio::Appended::AfterTornLine) => progress(&format!(
                    "{}: its last line was torn (an interrupted write); it was terminated before appending",
                    h.display()
                )),
                Err(e) => progress(&format!("history {}: {e}", h.display())),
            }
        }
        results.push(r);
        reports::write_all(&opts.out, &results, &plan.name)?;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_json_shapes() {
        let t = parse_suite_json(r#"{"tests":[{"name":"a","status":"PASS","ratio":1.5,"unit":"x"},{"test":"b","ok":false,"stall_ratio":7},{"id":"c"}]}"#).unwrap();
        assert_eq!(
            t.iter()
                .map(|t| (t.name.as_str(), t.status.as_str(), t.ratio))
                .collect::<Vec<_>>(),
            [
                ("a", "pass", Some(1.5)),
                ("b", "fail", Some(7.0)),
                ("c", "error", None)
            ]
        );
        assert_eq!(parse_suite_json("[]").unwrap(), vec![]);
        assert!(parse_suite_json(r#"{"tests":[{"status":"pass"}]}"#)
            .unwrap_err()
            .contains("no `name`"));
        assert!(parse_suite_json("not json").is_err());
        let wrapped =
            serde_json::json!({"outcome": {"status": "boot-timeout"}, "stdout": ""}).to_string();
        assert!(parse_suite_json(&wrapped)
            .unwrap_err()
            .contains("boot-timeout"));
    }

    #[test]
    fn build_failures_are_classified_by_vm_build_exit_codes() {
        let c = |exit, err: &str| classify_build(&CmdOutput::fail(exit, err)).0;
        assert_eq!(
            c(
                2,
                "error: patch 1/2 does not apply: patch 1 \"x\": mm/a.c: hunk #1"
            ),
            InfraClass::PatchDoesNotApply
        );
        assert_eq!(
            c(1, "error: make bzImage failed (exit exit status: 2)"),
            InfraClass::BuildFailure
        );
        let (_, d) = classify_build(&CmdOutput::fail(1, "vm build: applied 1 patch(es)\nvm build: compiling\nerror: make bzImage failed (exit 2); log: L\nmm/util.c:9:1: error: expected ';'"));
        assert!(
            d.starts_with("error: make bzImage failed") && d.contains("expected ';'"),
            "{d}"
        );
        assert_eq!(
            c(2, "error: olddefconfig dropped 1 requested option(s):"),
            InfraClass::BuildFailure
        );
        assert_eq!(c(3, "error: `ccache` not found"), InfraClass::Machine);
        assert_eq!(
            c(2, "error: unrecognized subcommand 'build'"),
            InfraClass::Machine
        );
    }

    fn result(night: &str, job: &str, secs: f64) -> JobResult {
        JobResult {
            night: night.into(),
            plan: "p".into(),
            job: job.into(),
            series: job.into(),
            kernel: "k".into(),
            kernel_source: "t".into(),
            commit: None,
            config: "c".into(),
            fragments: vec![],
            subjects: vec![],
            checkout: step("checkout", StepStatus::Ok, 0.0, None),
            static_: None,
            baseline: None,
            patched: None,
            comparisons: vec![],
            verdict: Verdict::Pass {
                not_checked: vec![],
            },
            duration_s: secs,
            started: None,
            host: None,
        }
    }

    /// A re-run replaces the earlier result of its night and job; the
    /// history takes a result once, and a different one (a re-run) again.
    #[test]
    fn history_keeps_one_result_per_night_and_job() {
        let rs = vec![
            result("n1", "a", 1.0),
            result("n1", "b", 1.0),
            result("n1", "a", 2.0),
            result("n2", "a", 1.0),
        ];
        let last = last_per_job(rs.clone());
        let got: Vec<(&str, &str, f64)> = last
            .iter()
            .map(|r| (r.night.as_str(), r.job.as_str(), r.duration_s))
            .collect();
        assert_eq!(got, [("n1", "b", 1.0), ("n1", "a", 2.0), ("n2", "a", 1.0)]);
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("h.jsonl");
        assert_eq!(append_history(&h, &last).unwrap().0, 3);
        assert_eq!(append_history(&h, &last).unwrap().0, 0);
        let rerun = [result("n2", "a", 5.0)];
        assert_eq!(append_history(&h, &rerun).unwrap().0, 1);
        assert_eq!(read_results(&h).0.len(), 4);
    }

    #[test]
    fn comparison_thresholds() {
        let run = |tests: Vec<(&str, &str, Option<f64>)>, events: Vec<&str>| KernelRun {
            build: step("b", StepStatus::Ok, 0.0, None),
            build_dir: None,
            kernel_release: None,
            compiled: None,
            boot: step("b", StepStatus::Ok, 0.0, None),
            boot_secs: None,
            events: events.into_iter().map(str::to_string).collect(),
            suite: step("s", StepStatus::Ok, 0.0, None),
            tests: tests
                .into_iter()
                .map(|(n, s, r)| SuiteTest {
                    name: n.into(),
                    status: s.into(),
                    ratio: r,
                    unit: "ratio".into(),
                    detail: String::new(),
                    duration_s: None,
                })
                .collect(),
        };
        let base = run(
            vec![
                ("a", "pass", Some(2.0)),
                ("b", "fail", Some(9.0)),
                ("c", "pass", Some(1.0)),
            ],
            vec!["hung-task:x"],
        );
        let patched = run(
            vec![
                ("a", "pass", Some(2.9)),
                ("b", "fail", Some(9.5)),
                ("c", "pass", Some(1.6)),
            ],
            vec!["hung-task:x", "lockdep:y"],
        );
        let c = compare(&base, &patched, 0.5, 0.25);
        let reg: Vec<&str> = c
            .iter()
            .filter(|c| c.regression)
            .map(|c| c.test.as_str())
            .collect();
        // a: 2.9 ≤ 3.0; b: failed before too, 9.5 ≤ 13.5; c: 1.6 > 1.5; a new kernel event.
        assert_eq!(reg, ["c", "kernel-event:lockdep:y"]);
        // Twice a tiny ratio (measured on 6.12: 0.087 → 0.181, both passing) is noise.
        let base = run(vec![("m", "pass", Some(0.087))], vec![]);
        let patched = run(vec![("m", "pass", Some(0.181))], vec![]);
        assert!(!compare(&base, &patched, 0.5, 0.25)[0].regression);
        let patched = run(vec![("m", "pass", Some(0.45))], vec![]);
        assert!(compare(&base, &patched, 0.5, 0.25)[0].regression);
    }
}
