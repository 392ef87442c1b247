//! The inputs of a job: the kernel tree (a tree as given, or a git ref checked
//! out into the cache) and the series as a file `vm build --series` reads.

use super::context::{first_lines, Checkout, Ctx};
use crate::plan::{safe_name, Job, KernelSource, SeriesSource};
use std::path::{Path, PathBuf};

impl Ctx<'_> {
    pub(super) fn checkout(&mut self, kernel: &str) -> Result<(String, Option<String>), String> {
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
    pub(super) fn materialize(&mut self, job: &Job) -> Result<PathBuf, String> {
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
}
