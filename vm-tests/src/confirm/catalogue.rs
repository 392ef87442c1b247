//! vm-tests/confirm.toml: which workload recipes reach which holder, and the
//! kernel frames that show the holder in a stack. Data, not code: a new
//! holder is a table entry.

use serde::Deserialize;
use std::path::Path;

pub const BUILTIN: &str = include_str!("../../confirm.toml");
const BUILTIN_NAME: &str = "vm-tests/confirm.toml (built in)";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderEntry {
    /// The function a finding names as holding the lock.
    pub name: String,
    /// Guest recipes that reach it (`mmstall-guest recipes`).
    #[serde(default)]
    pub recipes: Vec<String>,
    /// Instead of recipes: why no workload can reach it (e.g. a path that
    /// needs hardware or a configuration the confirm guest lacks), said as
    /// the finding's "no workload" reason.
    #[serde(default)]
    pub no_recipe: Option<String>,
    /// Other frames that stand for it in a stack (it may be inlined).
    #[serde(default)]
    pub frames: Vec<String>,
    /// Only for findings whose call path goes through this function.
    #[serde(default)]
    pub via: Option<String>,
    /// Only for findings of this long operation.
    #[serde(default)]
    pub operation: Option<String>,
}

impl HolderEntry {
    fn is_specific(&self) -> bool {
        self.via.is_some() || self.operation.is_some()
    }

    /// Whether this entry is for a finding with `call_path` and `operation`.
    fn fits(&self, call_path: &[String], operation: &str) -> bool {
        self.via.as_ref().is_none_or(|v| call_path.contains(v))
            && self.operation.as_ref().is_none_or(|o| o == operation)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "holder")]
    pub holders: Vec<HolderEntry>,
}

impl Catalogue {
    pub fn builtin() -> Catalogue {
        Self::parse(BUILTIN, BUILTIN_NAME).expect("the built-in catalogue parses")
    }

    pub fn load(path: &Path) -> Result<Catalogue, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the TOML text; errors name `source` and the line.
    pub fn parse(text: &str, source: &str) -> Result<Catalogue, String> {
        let c: Catalogue = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("{source}:{l}: {}", e.message()),
                None => format!("{source}: {}", e.message()),
            }
        })?;
        for h in &c.holders {
            match (h.recipes.is_empty(), &h.no_recipe) {
                (true, None) => {
                    return Err(format!("{source}: holder `{}` lists no recipes", h.name))
                }
                (false, Some(_)) => {
                    return Err(format!(
                        "{source}: holder `{}` has both recipes and `no_recipe`",
                        h.name
                    ))
                }
                _ => {}
            }
        }
        Ok(c)
    }

    /// Any entry of the holder (for its frames).
    pub fn holder(&self, name: &str) -> Option<&HolderEntry> {
        self.holders.iter().find(|h| h.name == name)
    }

    /// The entry for a finding: among the holder's entries, the first whose
    /// `via`/`operation` fit the finding; else the holder's plain entry. A
    /// holder with only specific entries, none fitting, has none.
    pub fn entry_for(
        &self,
        holder: &str,
        call_path: &[String],
        operation: &str,
    ) -> Option<&HolderEntry> {
        let of_holder = || self.holders.iter().filter(move |h| h.name == holder);
        of_holder()
            .find(|h| h.is_specific() && h.fits(call_path, operation))
            .or_else(|| of_holder().find(|h| !h.is_specific()))
    }

    /// Every recipe some holder needs, in catalogue order, once each.
    pub fn all_recipes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.holders.iter().flat_map(|h| &h.recipes) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }

    /// The recipes the entries for `findings` name (each finding's
    /// [`Catalogue::entry_for`]), in catalogue order, once each: what a
    /// confirmation of only these findings needs to run.
    pub fn recipes_for(&self, findings: &[super::findings::StaticFinding]) -> Vec<String> {
        let wanted: Vec<&HolderEntry> = findings
            .iter()
            .filter_map(|f| self.entry_for(&f.holder, &f.call_path, &f.operation))
            .collect();
        self.all_recipes()
            .into_iter()
            .filter(|r| wanted.iter().any(|e| e.recipes.contains(r)))
            .collect()
    }

    /// The frames that show `holder` in a kernel stack: itself, a syscall's
    /// wrappers (`sys_X` → `__x64_sys_X`, `__do_sys_X`, `__se_sys_X`) and the
    /// catalogue's `frames`.
    pub fn holder_frames(&self, holder: &str) -> Vec<String> {
        let mut out = vec![holder.to_string()];
        if holder.starts_with("sys_") {
            for prefix in ["__x64_", "__do_", "__se_", "__ia32_"] {
                out.push(format!("{prefix}{holder}"));
            }
        }
        for h in self.holders.iter().filter(|h| h.name == holder) {
            for f in &h.frames {
                if !out.contains(f) {
                    out.push(f.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_names_only_recipes_the_guest_has() {
        let c = Catalogue::builtin();
        let guest = include_str!("../../guest/src/recipes.rs");
        for r in c.all_recipes() {
            assert!(
                guest.contains(&format!("\"{r}\",")),
                "confirm.toml names recipe `{r}`, which the guest does not have"
            );
        }
        assert_eq!(c.holder("__vm_munmap").unwrap().recipes, vec!["munmap"]);
    }

    #[test]
    fn syscall_holders_match_their_wrappers() {
        let c = Catalogue::builtin();
        let f = c.holder_frames("sys_mlockall");
        assert!(f.contains(&"__x64_sys_mlockall".to_string()));
        assert!(f.contains(&"__do_sys_mlockall".to_string()));
        assert_eq!(
            c.holder_frames("dup_mmap"),
            vec!["dup_mmap", "copy_process"]
        );
    }

    #[test]
    fn specific_entries_win_and_a_holder_may_have_only_specific_ones() {
        let c = Catalogue::parse(
            r#"
[[holder]]
name = "sys_mremap"
recipes = ["mremap-shrink", "mremap-move"]
[[holder]]
name = "sys_mremap"
via = "move_vma"
recipes = ["mremap-move"]
[[holder]]
name = "sys_brk"
via = "vms_complete_munmap_vmas"
recipes = ["brk-shrink"]
"#,
            "t.toml",
        )
        .unwrap();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = c
            .entry_for("sys_mremap", &path(&["sys_mremap", "move_vma"]), "x")
            .unwrap();
        assert_eq!(e.recipes, vec!["mremap-move"]);
        let e = c
            .entry_for("sys_mremap", &path(&["sys_mremap", "vma_expand"]), "x")
            .unwrap();
        assert_eq!(e.recipes.len(), 2);
        assert!(c
            .entry_for("sys_brk", &path(&["sys_brk"]), "mm_populate")
            .is_none());
        assert!(c
            .entry_for(
                "sys_brk",
                &path(&["sys_brk", "vms_complete_munmap_vmas"]),
                "x"
            )
            .is_some());
    }

    #[test]
    fn the_recipes_of_some_findings_are_those_of_their_entries() {
        use crate::confirm::findings::StaticFinding;
        let f = |holder: &str, path: &[&str], operation: &str| StaticFinding {
            code: "MMS002".into(),
            rule: String::new(),
            file: "mm/x.c".into(),
            line: 1,
            function: path.last().unwrap().to_string(),
            holder: holder.into(),
            call_path: path.iter().map(|s| s.to_string()).collect(),
            operation: operation.into(),
            lock_mode: "write".into(),
            fingerprint: String::new(),
        };
        let c = Catalogue::builtin();
        let findings = vec![
            f("sys_mremap", &["sys_mremap", "move_vma"], "x"),
            f(
                "__vm_munmap",
                &["__vm_munmap", "vms_complete_munmap_vmas"],
                "x",
            ),
            // A duplicate, and a holder no entry lists: nothing more.
            f("sys_mremap", &["sys_mremap", "move_vma"], "y"),
            f("nobody", &["nobody"], "x"),
            // An entry that says why no recipe reaches it: nothing either.
            f(
                "handle_mm_fault",
                &["handle_mm_fault", "hugetlb_fault"],
                "x",
            ),
        ];
        assert_eq!(c.recipes_for(&findings), vec!["munmap", "mremap-move"]);
        assert!(c.recipes_for(&[]).is_empty());
    }

    #[test]
    fn errors_name_the_source_and_line() {
        let e = Catalogue::parse("[[holder]]\nname = \"x\"\nrecipes = 3\n", "c.toml").unwrap_err();
        assert!(e.starts_with("c.toml:3:"), "{e}");
        let e = Catalogue::parse("[[holder]]\nname = \"x\"\nrecipes = []\n", "c.toml").unwrap_err();
        assert_eq!(e, "c.toml: holder `x` lists no recipes");
        let e = Catalogue::parse(
            "[[holder]]\nname = \"x\"\nrecipes = [\"a\"]\nno_recipe = \"why\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(e, "c.toml: holder `x` has both recipes and `no_recipe`");
        let c =
            Catalogue::parse("[[holder]]\nname = \"x\"\nno_recipe = \"why\"\n", "c.toml").unwrap();
        assert_eq!(c.holders[0].no_recipe.as_deref(), Some("why"));
    }
}
