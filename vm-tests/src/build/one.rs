//! One build of a request, in named steps: synchronize the scratch copy,
//! apply the series (restored however the build ends), put the right object
//! tree in place, configure, compile, and record the result (a baseline's
//! objects are snapshotted for the patched builds that start from it).

use super::model::{
    io_err, write_meta, Build, BuildError, BuildMeta, Ctx, ProgressMode, Reporter, SeriesMeta,
    StageSecs, BASE_CONFIG,
};
use super::objects::{restore_snapshot, take_snapshot, LiveState};
use crate::config::{self, Dropped};
use crate::patches::{self, LoadedSeries};
use crate::process;
use crate::tree;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Restores the scratch copy when a patched build ends, however it ends.
struct Restore<'a> {
    origin: &'a Path,
    walk: &'a [(PathBuf, tree::Meta)],
    scratch: &'a Path,
    manifest: &'a Path,
}
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Err(e) = tree::sync(self.origin, self.walk, self.scratch, self.manifest) {
            eprintln!(
                "vm build: warning: restoring {} failed: {e} (the next build restores it)",
                self.scratch.display()
            );
        }
    }
}

/// The fixed places one build uses (see [`crate::cache`]).
struct Paths {
    /// `builds/<key>`: the results.
    dir: PathBuf,
    /// The tree's scratch copy make compiles.
    scratch: PathBuf,
    /// What the last sync left in the scratch copy.
    manifest: PathBuf,
    /// The live object directory of this tree and config.
    obj: PathBuf,
}

impl Ctx<'_> {
    pub(super) fn build_one(
        &self,
        key: &str,
        series: Option<&LoadedSeries>,
        baseline: Option<&Build>,
        rep: &mut dyn Reporter,
    ) -> Result<Build, BuildError> {
        let total = Instant::now();
        let mut secs = StageSecs::default();
        let p = Paths {
            dir: self.cache.build_dir(key),
            scratch: self.cache.scratch_src(&self.tree.slug),
            manifest: self.cache.scratch_manifest(&self.tree.slug),
            obj: self.cache.live_obj(&self.tree.slug, self.config_hash),
        };

        let t = Instant::now();
        self.sync_scratch(&p, rep)?;
        secs.sync = t.elapsed().as_secs_f64();

        // Declared before the patches are applied; dropped (scratch copy
        // restored) when this function returns, after make.
        let _restore;
        if let Some(s) = series {
            _restore = Restore {
                origin: &self.tree.origin,
                walk: self.origin_walk,
                scratch: &p.scratch,
                manifest: &p.manifest,
            };
            let t = Instant::now();
            patches::apply_all(s, &p.scratch).map_err(BuildError::PatchFailed)?;
            secs.patch = t.elapsed().as_secs_f64();
            rep.note(&format!(
                "vm build: applied {} patch(es) from {}",
                s.subjects.len(),
                s.path.display()
            ));
        }

        fs::create_dir_all(&p.dir).map_err(io_err(format!("creating {}", p.dir.display())))?;
        let _ = fs::remove_file(p.dir.join("meta.json"));

        secs.copy_baseline = self.prepare_objects(&p.obj, baseline, rep)?;

        let t = Instant::now();
        let dropped = self.configure(&p, baseline.is_none(), rep)?;
        secs.config = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let compiled = self.compile(&p, series, baseline, rep)?;
        secs.make = t.elapsed().as_secs_f64();

        let bz = p.dir.join("bzImage");
        fs::copy(p.obj.join("arch/x86/boot/bzImage"), &bz).map_err(io_err("copying bzImage"))?;
        let release = fs::read_to_string(p.obj.join("include/config/kernel.release"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if series.is_none() {
            // Snapshot the clean baseline object tree for patched builds.
            let t = Instant::now();
            take_snapshot(&p.obj, &p.dir.join("obj"))?;
            LiveState {
                baseline: Some(key.to_string()),
                dirty: false,
            }
            .save(&p.obj)?;
            secs.copy_baseline += t.elapsed().as_secs_f64();
        }
        secs.total = total.elapsed().as_secs_f64();
        rep.note(&format!(
            "vm build: done in {:.0} s ({} files compiled): {}",
            secs.total,
            compiled,
            bz.display()
        ));
        let meta = self.meta(key, series, baseline, release, compiled, dropped, secs);
        write_meta(&p.dir, &meta)?;
        Ok(Build {
            dir: p.dir,
            bzimage: bz,
            meta,
            cached: false,
            baseline_built: None,
        })
    }

    /// Brings the scratch copy in line with the tree (and restores what an
    /// earlier patched build left).
    fn sync_scratch(&self, p: &Paths, rep: &mut dyn Reporter) -> Result<(), BuildError> {
        let st = tree::sync(&self.tree.origin, self.origin_walk, &p.scratch, &p.manifest)?;
        if st.copied + st.removed + st.restored > 0 {
            rep.note(&format!(
                "vm build: scratch copy {} synchronized ({} copied, {} restored, {} removed)",
                p.scratch.display(),
                st.copied,
                st.restored,
                st.removed
            ));
        }
        Ok(())
    }

    /// The live object directory must hold a consistent state before make:
    /// a baseline snapshot (a patched build starts from its baseline's), or
    /// nothing. Returns the seconds spent copying; leaves the directory
    /// marked dirty until a baseline snapshot is taken (a crash leaves it so).
    fn prepare_objects(
        &self,
        obj: &Path,
        baseline: Option<&Build>,
        rep: &mut dyn Reporter,
    ) -> Result<f64, BuildError> {
        let t = Instant::now();
        let state = LiveState::load(obj);
        let want_base = baseline.map(|b| b.meta.key.clone());
        match (&want_base, &state) {
            // Patched build: start from exactly the baseline's objects.
            (Some(bk), s) if s.baseline.as_deref() != Some(bk.as_str()) || s.dirty => {
                restore_snapshot(&self.cache.build_dir(bk).join("obj"), obj)?;
                rep.note(&format!(
                    "vm build: object tree restored from baseline {bk}"
                ));
            }
            // Baseline build after a patched one: go back to that patched
            // build's baseline, or start empty.
            (None, s) if s.dirty => {
                let snap = s
                    .baseline
                    .as_deref()
                    .map(|b| self.cache.build_dir(b).join("obj"))
                    .filter(|p| p.is_dir());
                match snap {
                    Some(snap) => restore_snapshot(&snap, obj)?,
                    None => {
                        let _ = fs::remove_dir_all(obj);
                    }
                }
            }
            _ => {}
        }
        let secs = t.elapsed().as_secs_f64();
        fs::create_dir_all(obj).map_err(io_err(format!("creating {}", obj.display())))?;
        LiveState {
            baseline: want_base.clone().or(state.baseline.clone()),
            dirty: true,
        }
        .save(obj)?;
        Ok(secs)
    }

    /// Config: tinyconfig + fragments + olddefconfig for a baseline; the
    /// baseline's .config (already merged) + olddefconfig for a patched
    /// build. Saves the config and the fragments; fails on options
    /// olddefconfig dropped unless they are allowed (then returns them).
    fn configure(
        &self,
        p: &Paths,
        from_scratch: bool,
        rep: &mut dyn Reporter,
    ) -> Result<Vec<Dropped>, BuildError> {
        let config_log = p.dir.join("config.log");
        let _ = fs::remove_file(&config_log);
        if from_scratch {
            self.run_logged(
                self.make(&p.scratch, &p.obj).arg(BASE_CONFIG),
                "tinyconfig",
                &config_log,
                ProgressMode::Quiet,
                rep,
            )?;
            let base = fs::read_to_string(p.obj.join(".config"))
                .map_err(io_err("reading the tinyconfig .config"))?;
            fs::write(p.obj.join(".config"), config::apply(&base, self.merged))
                .map_err(io_err("writing .config"))?;
        }
        self.run_logged(
            self.make(&p.scratch, &p.obj).arg("olddefconfig"),
            "olddefconfig",
            &config_log,
            ProgressMode::Quiet,
            rep,
        )?;
        let final_config =
            fs::read_to_string(p.obj.join(".config")).map_err(io_err("reading .config"))?;
        fs::write(p.dir.join("config"), &final_config).map_err(io_err("saving config"))?;
        fs::write(
            p.dir.join("fragments.config"),
            self.merged.to_fragment_text(),
        )
        .map_err(io_err("saving fragments"))?;
        let dropped = config::check_survivors(&final_config, self.merged);
        if !dropped.is_empty() {
            if !self.req.allow_dropped {
                return Err(BuildError::Dropped {
                    dropped,
                    config: p.dir.join("config"),
                });
            }
            for d in &dropped {
                rep.note(&format!("vm build: warning: dropped {d}"));
            }
        }
        Ok(dropped)
    }

    /// `make bzImage` into `build.log`; returns how many files compiled.
    fn compile(
        &self,
        p: &Paths,
        series: Option<&LoadedSeries>,
        baseline: Option<&Build>,
        rep: &mut dyn Reporter,
    ) -> Result<usize, BuildError> {
        let label = match series {
            Some(s) => format!(
                "patched kernel ({} patch(es), incremental from {})",
                s.subjects.len(),
                baseline.map(|b| b.meta.key.as_str()).unwrap_or("?")
            ),
            None => format!("{} {}", self.tree.spec, self.tree.version),
        };
        rep.note(&format!(
            "vm build: compiling {label} in {} with -j{}",
            p.obj.display(),
            self.req.jobs
        ));
        let build_log = p.dir.join("build.log");
        let _ = fs::remove_file(&build_log);
        self.run_logged(
            self.make(&p.scratch, &p.obj)
                .arg(format!("-j{}", self.req.jobs.max(1)))
                .arg("bzImage"),
            "bzImage",
            &build_log,
            self.req.progress,
            rep,
        )
    }

    /// `meta.json` of a finished build.
    #[allow(clippy::too_many_arguments)]
    fn meta(
        &self,
        key: &str,
        series: Option<&LoadedSeries>,
        baseline: Option<&Build>,
        kernel_release: String,
        compiled: usize,
        dropped: Vec<Dropped>,
        secs: StageSecs,
    ) -> BuildMeta {
        BuildMeta {
            key: key.to_string(),
            tree: self.tree.spec.to_string(),
            tree_origin: self.tree.origin.clone(),
            tree_identity: self.identity.to_string(),
            kernel_version: self.tree.version.clone(),
            kernel_release,
            series: series.map(|s| SeriesMeta {
                path: s.path.clone(),
                hash: s.hash.clone(),
                subjects: s.subjects.clone(),
            }),
            fragments: self.merged.fragments.clone(),
            config_hash: self.config_hash.to_string(),
            baseline: baseline.map(|b| b.meta.key.clone()),
            compiled,
            ccache: process::have("ccache"),
            jobs: self.req.jobs,
            dropped,
            secs,
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}
