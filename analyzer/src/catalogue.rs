//! The catalogue: lock API, assertions, long operations and macro hints as data.
//!
//! The built-in catalogue (`analyzer/catalogue.toml`) is compiled in; a user's
//! `mmstall.toml` is deep-merged over it (tables merge key by key, arrays are
//! extended), so users add kernel APIs without touching code.

use std::collections::BTreeMap;

pub use crate::catalogue_facts::{
    is_ident_char, is_identifier, ArgFactKey, CallFacts, EntryFacts, FactKey, FlagName,
};

/// The catalogue's maps are looked up for every call of every scanned
/// function: hashed with foldhash, not SipHash (no untrusted keys here).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use std::path::Path;

use serde::Deserialize;

use crate::error::AnalyzerError;

pub const BUILTIN_CATALOGUE: &str = include_str!("../catalogue.toml");

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockOp {
    Acquire,
    Release,
    Downgrade,
}

/// How a conditional acquisition reports success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcquireCond {
    /// Returns 0 on success, a negative errno when interrupted (`*_killable`).
    Zero,
    /// Returns true on success (`*_trylock`).
    Nonzero,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockApiEntry {
    pub op: LockOp,
    pub mode: Option<LockMode>,
    pub cond: Option<AcquireCond>,
    #[serde(default)]
    pub match_arg: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionEntry {
    pub mode: LockMode,
    #[serde(default)]
    pub match_arg: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LongClass {
    Populate,
    Zap,
    Walk,
    /// A blocking wait for a page's I/O (`lock_page`, `folio_wait_locked`):
    /// long under the lock in *any* mode, since it blocks every writer.
    #[serde(rename = "io_wait")]
    IoWait,
}

impl LongClass {
    pub fn as_str(self) -> &'static str {
        match self {
            LongClass::Populate => "populate",
            LongClass::Zap => "zap",
            LongClass::Walk => "walk",
            LongClass::IoWait => "io_wait",
        }
    }

    /// Populate, zap and walk are findings only under a write hold.
    pub fn needs_write(self) -> bool {
        self != LongClass::IoWait
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongOpList {
    #[serde(default)]
    pub always: Vec<String>,
    #[serde(default)]
    pub in_loop: Vec<String>,
    /// Mid-level functions of older trees (`make_pages_present`): followed
    /// into when the analyzed files define them, long when they do not (a
    /// subdirectory linted alone), so the catalogue holds primitives.
    #[serde(default)]
    pub unless_defined: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockNames {
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacroHints {
    #[serde(default)]
    pub annotations: Vec<String>,
    #[serde(default)]
    pub annotation_calls: Vec<String>,
    #[serde(default)]
    pub loop_macros: Vec<String>,
    #[serde(default)]
    pub loop_macro_patterns: Vec<String>,
    #[serde(default)]
    pub annotation_prefixes: Vec<String>,
    #[serde(default)]
    pub declaration_macro_prefixes: Vec<String>,
    #[serde(default)]
    pub declaration_macro_arg: BTreeMap<String, usize>,
    #[serde(default)]
    pub block_macros: Vec<String>,
    #[serde(default)]
    pub drop_statements: Vec<String>,
    #[serde(default)]
    pub type_args: BTreeMap<String, Vec<usize>>,
}

/// The raw, serde-shaped catalogue (what the TOML says).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    lock_api: BTreeMap<String, LockApiEntry>,
    lock_names: LockNames,
    #[serde(default)]
    assertions: BTreeMap<String, AssertionEntry>,
    #[serde(default)]
    long_ops: BTreeMap<LongClass, LongOpList>,
    #[serde(default)]
    macros: MacroHints,
    #[serde(default)]
    fault_path: FaultPath,
    #[serde(default)]
    rmap: RmapWalkers,
    #[serde(default)]
    task_flags: TaskFlags,
    #[serde(default)]
    rules: BTreeMap<String, RuleConfig>,
    #[serde(default)]
    not_followed: BTreeMap<String, String>,
    #[serde(default)]
    not_followed_from: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    call_facts: BTreeMap<String, BTreeMap<String, CallFacts>>,
    #[serde(default)]
    pure: BTreeMap<String, String>,
    #[serde(default)]
    asserts: BTreeMap<String, String>,
    #[serde(default)]
    stable: BTreeMap<String, String>,
    #[serde(default)]
    assume_clear: BTreeMap<String, AssumeClear>,
    #[serde(default)]
    zeroing_allocators: BTreeMap<String, String>,
    #[serde(default)]
    keeps_bits: BTreeMap<String, KeepsBits>,
    #[serde(default)]
    free_range: BTreeMap<String, FreeRange>,
    /// Tables owned by other stages (rules, I/O waits...) pass through untouched.
    #[serde(flatten)]
    extra: BTreeMap<String, toml::Value>,
}

/// A flag whose tests are taken as clear in the functions named
/// (`[assume_clear.FLAG]`): a rare state the kernel handles on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeClear {
    pub why: String,
    /// The functions where `x & FLAG` is 0.
    #[serde(rename = "in")]
    pub functions: Vec<String>,
}

/// A range a function knows to be free (`[free_range.FUNCTION]`): unless
/// its flag parameter `param` has one of the `unless` flags on entry, the
/// lookups (`lookups`) of the mappings in its range return NULL in the
/// functions named (`in`), reached from it through one another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeRange {
    pub why: String,
    pub param: String,
    pub unless: Vec<String>,
    #[serde(rename = "in")]
    pub functions: Vec<String>,
    pub lookups: Vec<String>,
}

/// A helper that returns its argument `arg` with bits only cleared
/// (`[keeps_bits.NAME]`): what it returns has at most the argument's bits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepsBits {
    pub arg: usize,
    pub why: String,
}

/// The fault path's contract and the retry protocol (rule MMS004).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPath {
    /// Functions entered with the mmap lock held (for read unless stated).
    #[serde(default)]
    pub entry_contracts: BTreeMap<String, LockMode>,
    /// Designated-initializer fields whose function is a fault handler (`.fault = f`).
    #[serde(default)]
    pub handler_fields: Vec<String>,
    /// Helpers that drop the lock when the fault may be retried: calls
    /// after one of them in a body are taken to run unlocked.
    #[serde(default)]
    pub retry_drops: Vec<String>,
    /// Flags whose test in a condition shows the function follows the
    /// retry protocol (setting them covers nothing).
    #[serde(default)]
    pub retry_flag_tests: Vec<String>,
    /// Lock-or-retry helpers: their own waits are the protocol's; they
    /// return with the lock held when they succeed (callers not covered).
    #[serde(default)]
    pub retry_lock_helpers: Vec<String>,
    /// Functions that wait for page I/O only when asked by a flag argument
    /// (`__filemap_get_folio` waits only with `FGP_LOCK`/`FGP_WRITEBEGIN`):
    /// a call none of whose arguments names one of the flags reaches none of
    /// the callee's waits.
    #[serde(default)]
    pub flag_guarded_waits: BTreeMap<String, Vec<String>>,
    /// Functions returning a folio or page nobody else holds yet: a wait
    /// on what one of them just returned (`folio_lock(folio)` after
    /// `folio = alloc_hugetlb_folio(..)` on every path) cannot block.
    #[serde(default)]
    pub fresh_allocators: Vec<String>,
    /// What holds on entry to a handler of a field (`[fault_path.entry_facts.FIELD]`):
    /// `->pfn_mkwrite` of a file system runs only for DAX mappings.
    #[serde(default)]
    pub entry_facts: BTreeMap<String, EntryFacts>,
}

impl FaultPath {
    /// Whether a call to `callee` with these argument texts can reach the
    /// callee's waits.
    pub fn call_may_wait(&self, callee: &str, args: &[String]) -> bool {
        match self.flag_guarded_waits.get(callee) {
            None => true,
            Some(flags) => args
                .iter()
                .any(|a| flags.iter().any(|f| names_identifier(a, f))),
        }
    }
}

/// Does `text` contain `ident` as a whole identifier?
fn names_identifier(text: &str, ident: &str) -> bool {
    text.match_indices(ident).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + ident.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

/// Task flags set around calls (`[task_flags]`): direct compaction and
/// direct reclaim run under `memalloc_noreclaim_save()`, which sets
/// `PF_MEMALLOC`, and migration tests `current->flags & PF_MEMALLOC` before
/// it would sleep on a page lock. The callees of calls that follow a setter
/// on every path are analyzed with the flag set in `word`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFlags {
    /// The task's flag word as the source tests it (`current->flags`),
    /// normalized like a path (`current.flags`).
    #[serde(default)]
    pub word: Option<FlagWord>,
    /// Calls that set a flag in the word: name -> flag.
    #[serde(default)]
    pub setters: BTreeMap<String, FlagName>,
    /// Calls that restore a flag to the value a setter saved: after one the
    /// flag is what it was when the caller was entered.
    #[serde(default)]
    pub restorers: BTreeMap<String, FlagName>,
}

/// The flag word's path (`current->flags` read as `current.flags`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FlagWord(pub String);

impl TryFrom<String> for FlagWord {
    type Error = String;
    fn try_from(s: String) -> Result<FlagWord, String> {
        // `current->flags` is the path `current.flags` (as the CFG names it).
        let path: String = s.split_whitespace().collect::<String>().replace("->", ".");
        if path.split('.').all(is_identifier) {
            Ok(FlagWord(path))
        } else {
            Err(format!(
                "\"{s}\" is not a variable or field path such as \"current->flags\""
            ))
        }
    }
}

/// Reverse-map walkers (rule MMS005).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmapWalkers {
    #[serde(default)]
    pub walkers: Vec<String>,
    /// Designated-initializer fields that name an rmap_walk callback (`.rmap_one = f`).
    #[serde(default)]
    pub callback_fields: Vec<String>,
}

pub use crate::settings::RuleConfig;

/// How a callee counts as a long operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongOp {
    pub class: LongClass,
    /// Long only when called inside a loop.
    pub in_loop: bool,
    /// Long only when no definition is in view (see [`LongOpList::unless_defined`]).
    pub unless_defined: bool,
}

/// The merged catalogue, indexed for the analysis.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub lock_api: HashMap<String, LockApiEntry>,
    pub lock_fields: Vec<String>,
    pub assertions: HashMap<String, AssertionEntry>,
    pub long_ops: HashMap<String, LongOp>,
    pub macros: MacroHints,
    pub annotation_set: HashSet<String>,
    pub annotation_call_set: HashSet<String>,
    pub loop_macro_set: HashSet<String>,
    pub block_macro_set: HashSet<String>,
    pub drop_statement_set: HashSet<String>,
    /// The merged TOML, for `mmstall catalogue`.
    pub merged_toml: toml::Value,
    pub extra: BTreeMap<String, toml::Value>,
    pub fault_path: FaultPath,
    pub rmap: RmapWalkers,
    pub task_flags: TaskFlags,
    pub rules: BTreeMap<String, RuleConfig>,
    /// Callees whose long operations are not reported through the call,
    /// with the fact about the kernel API that makes them bounded or
    /// impossible under the mmap lock (`[not_followed]`).
    pub not_followed: HashMap<String, String>,
    /// The same for calls from one caller only (`[not_followed_from.CALLER]`),
    /// by caller, then callee.
    pub not_followed_from: BTreeMap<String, BTreeMap<String, String>>,
    /// What a caller guarantees about the arguments it hands one callee
    /// (`[call_facts.CALLER.CALLEE]`), by caller, then callee.
    pub call_facts: BTreeMap<String, BTreeMap<String, CallFacts>>,
    /// The calls `[call_facts]` keys name (`@folio_test_hugetlb`): their
    /// results get keys a context can give.
    pub call_fact_calls: HashSet<String>,
    /// Side-effect-free macros and helpers that may have no definition in
    /// view, with why (`[pure]`): a helper calling them can still be a
    /// predicate whose result a context decides.
    pub pure: HashMap<String, String>,
    /// Assertions whose first argument is a condition the code promises
    /// false (`VM_BUG_ON(!migrate)`): a path on which it holds does not go
    /// on (`[asserts]`, with why).
    pub asserts: HashMap<String, String>,
    /// Calls with the same result for the same argument throughout one
    /// operation (`[stable]`, pure too): a branch on one decides the same
    /// test in the callees under it.
    pub stable: HashMap<String, String>,
    /// Flags whose tests (`x & FLAG`) are taken as clear in the functions
    /// named (`[assume_clear]`): rare states the kernel handles on purpose.
    pub assume_clear: BTreeMap<String, AssumeClear>,
    /// Allocators returning zeroed memory (`[zeroing_allocators]`): the
    /// fields of what they return are 0 until written.
    pub zeroing_allocators: HashMap<String, String>,
    /// Helpers returning their argument with bits only cleared
    /// (`[keeps_bits]`), by the argument's index.
    pub keeps_bits: HashMap<String, usize>,
    /// Functions that know their range is free (`[free_range]`), by name.
    pub free_range: BTreeMap<String, FreeRange>,
}

impl Catalogue {
    pub fn builtin() -> Catalogue {
        Catalogue::from_toml_str(BUILTIN_CATALOGUE, Path::new("<builtin catalogue.toml>"))
            .expect("the built-in catalogue is valid (tested)")
    }

    pub(crate) fn from_toml_str(text: &str, origin: &Path) -> Result<Catalogue, AnalyzerError> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| config_error(origin, text, e))?;
        let merged_toml: toml::Value =
            toml::from_str(text).map_err(|e| config_error(origin, text, e))?;
        let mut long_ops = HashMap::default();
        for (class, list) in &raw.long_ops {
            for name in &list.always {
                long_ops.insert(
                    name.clone(),
                    LongOp {
                        class: *class,
                        in_loop: false,
                        unless_defined: false,
                    },
                );
            }
            for name in &list.in_loop {
                long_ops.entry(name.clone()).or_insert(LongOp {
                    class: *class,
                    in_loop: true,
                    unless_defined: false,
                });
            }
            for name in &list.unless_defined {
                long_ops.entry(name.clone()).or_insert(LongOp {
                    class: *class,
                    in_loop: false,
                    unless_defined: true,
                });
            }
        }
        let set = |v: &Vec<String>| v.iter().cloned().collect::<HashSet<_>>();
        Ok(Catalogue {
            annotation_set: set(&raw.macros.annotations),
            annotation_call_set: set(&raw.macros.annotation_calls),
            loop_macro_set: set(&raw.macros.loop_macros),
            block_macro_set: set(&raw.macros.block_macros),
            drop_statement_set: set(&raw.macros.drop_statements),
            lock_api: raw.lock_api.into_iter().collect(),
            lock_fields: raw.lock_names.fields,
            assertions: raw.assertions.into_iter().collect(),
            long_ops,
            macros: raw.macros,
            merged_toml,
            extra: raw.extra,
            fault_path: raw.fault_path,
            rmap: raw.rmap,
            task_flags: raw.task_flags,
            rules: raw.rules,
            not_followed: raw.not_followed.into_iter().collect(),
            not_followed_from: raw.not_followed_from,
            call_fact_calls: raw
                .call_facts
                .values()
                .flat_map(|m| m.values())
                .flat_map(|cf| cf.facts.keys())
                .flat_map(|k| k.rest.split('.'))
                .filter_map(|seg| seg.strip_prefix('@'))
                .map(str::to_string)
                .collect(),
            call_facts: raw.call_facts,
            pure: raw.pure.into_iter().collect(),
            asserts: raw.asserts.into_iter().collect(),
            stable: raw.stable.into_iter().collect(),
            assume_clear: raw.assume_clear,
            zeroing_allocators: raw.zeroing_allocators.into_iter().collect(),
            keeps_bits: raw
                .keeps_bits
                .into_iter()
                .map(|(k, v)| (k, v.arg))
                .collect(),
            free_range: raw.free_range,
        })
    }

    /// The lock API entry of a call to `callee` with these argument texts
    /// when it is a call on the mmap lock (the name, and the first argument
    /// when the entry requires it).
    pub fn mmap_lock_call(&self, callee: &str, args: &[String]) -> Option<&LockApiEntry> {
        let entry = self.lock_api.get(callee)?;
        if entry.match_arg && !args.first().is_some_and(|a| self.names_mmap_lock(a)) {
            return None;
        }
        Some(entry)
    }

    /// The flags `[assume_clear]` takes as clear in function `name`.
    pub fn assumed_clear_in(&self, name: &str) -> Vec<&str> {
        self.assume_clear
            .iter()
            .filter(|(_, a)| a.functions.iter().any(|f| f == name))
            .map(|(flag, _)| flag.as_str())
            .collect()
    }

    /// Does an argument's text name the mmap lock (`&mm->mmap_sem`, `&vma->vm_mm->mmap_lock`)?
    pub fn names_mmap_lock(&self, arg: &str) -> bool {
        self.lock_fields.iter().any(|f| {
            arg.match_indices(f.as_str()).any(|(i, _)| {
                let before = arg[..i].chars().next_back();
                let after = arg[i + f.len()..].chars().next();
                !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
            })
        })
    }

    /// An annotation by prefix (`__init_memblock`); the caller checks that no `(` follows.
    pub fn is_annotation_prefix(&self, name: &str) -> bool {
        self.macros
            .annotation_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }

    /// For a declaration macro (`DEFINE_MUTEX`), the index of the argument naming the variable.
    pub fn declaration_macro_arg(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.macros.declaration_macro_arg.get(name) {
            return Some(*i);
        }
        self.macros
            .declaration_macro_prefixes
            .iter()
            .any(|p| {
                name.starts_with(p.as_str())
                    && name.len() > p.len()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .then_some(0)
    }

    pub fn is_loop_macro(&self, name: &str) -> bool {
        self.loop_macro_set.contains(name)
            || self
                .macros
                .loop_macro_patterns
                .iter()
                .any(|p| !p.is_empty() && name.contains(p.as_str()))
    }

    /// Names that matter to the lock analysis: a file mentioning none of them
    /// cannot take, assert or release the lock.
    pub fn lock_tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock_fields.clone();
        v.extend(
            self.lock_api
                .keys()
                .filter(|k| k.starts_with("mmap_"))
                .cloned(),
        );
        v.extend(
            self.assertions
                .keys()
                .filter(|k| k.starts_with("mmap_"))
                .cloned(),
        );
        v.sort();
        v.dedup();
        v
    }
}

pub(crate) fn config_error(origin: &Path, text: &str, e: toml::de::Error) -> AnalyzerError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
    AnalyzerError::Config {
        path: origin.to_path_buf(),
        line,
        column,
        message: in_user_terms(e.message()),
    }
}

/// serde's messages say what was expected in Rust's terms (`a sequence`,
/// `usize`, `` `read` or `write` ``): said in the file's terms instead.
pub(crate) fn in_user_terms(message: &str) -> String {
    let message = message.trim_end();
    let Some((found, expected)) = message.split_once(", expected ") else {
        return message.to_string();
    };
    // Unknown keys keep serde's message (it lists the known ones).
    if found.starts_with("unknown field") || found.starts_with("missing field") {
        return message.to_string();
    }
    let found = match found.strip_prefix("unknown variant ") {
        Some(value) => format!("unknown value {}", value.replace('`', "\"")),
        None => found
            .replace("invalid type: ", "wrong type: ")
            .replace('`', ""),
    };
    let expected = match expected {
        "a sequence" => "a list of strings".to_string(),
        "a string" => "a string".to_string(),
        "a boolean" => "true or false".to_string(),
        "a map" => "a table".to_string(),
        "usize" | "u32" | "u64" | "i64" => "a whole number".to_string(),
        e if e.starts_with("struct ") => "a table".to_string(),
        e if e.starts_with("one of ") || e.contains('`') => {
            let values: Vec<String> = e
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|v| format!("\"{v}\""))
                .collect();
            format!("one of {}", values.join(", "))
        }
        e => e.to_string(),
    };
    format!("{found}, expected {expected}")
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_indexes() {
        let c = Catalogue::builtin();
        assert_eq!(
            c.lock_api["mmap_write_lock_killable"].cond,
            Some(AcquireCond::Zero)
        );
        assert_eq!(c.long_ops["unmap_vmas"].class, LongClass::Zap);
        assert!(c.long_ops["handle_mm_fault"].in_loop);
        assert!(c.is_loop_macro("for_each_vma_range"));
        assert!(c.is_loop_macro("for_each_online_node"));
        assert!(!c.is_loop_macro("vma_iter_next"));
    }

    #[test]
    fn names_mmap_lock_needs_a_whole_field_name() {
        let c = Catalogue::builtin();
        assert!(c.names_mmap_lock("&mm->mmap_sem"));
        assert!(c.names_mmap_lock("&vma->vm_mm->mmap_lock"));
        assert!(!c.names_mmap_lock("&mapping->i_mmap_rwsem"));
        assert!(!c.names_mmap_lock("&mm->mmap_lock_seq"));
    }

    #[test]
    fn user_file_extends_arrays_and_overrides_scalars() {
        let user = r#"
[long_ops.zap]
always = ["my_zap_helper"]
[lock_api.my_mm_lock]
op = "acquire"
mode = "write"
"#;
        let c = Catalogue::with_user_str(user, Path::new("mmstall.toml")).unwrap();
        assert_eq!(c.long_ops["my_zap_helper"].class, LongClass::Zap);
        assert_eq!(
            c.long_ops["unmap_vmas"].class,
            LongClass::Zap,
            "builtin kept"
        );
        assert_eq!(c.lock_api["my_mm_lock"].op, LockOp::Acquire);
    }

    #[test]
    fn malformed_user_file_names_file_line_and_key() {
        let user = "[lock_api.foo]\nop = \"acquire\"\nmood = \"write\"\n";
        let err = Catalogue::with_user_str(user, Path::new("tree/mmstall.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("tree/mmstall.toml:3:1: "), "{msg}");
        assert!(msg.contains("mood"), "{msg}");
        let err =
            Catalogue::with_user_str("[rules.MMS009]\nenabled = false\n", Path::new("m.toml"))
                .unwrap_err();
        assert!(err.to_string().starts_with("m.toml:1:1: "), "{err}");
        let err =
            Catalogue::with_user_str("[rules.MMS001]\nseverity = \"loud\"\n", Path::new("m.toml"))
                .unwrap_err();
        assert!(
            err.to_string().starts_with("m.toml:2:12: ") && err.to_string().contains("loud"),
            "{err}"
        );
    }

    #[test]
    fn user_task_flags_extend_the_builtin_and_bad_names_point_at_the_value() {
        let user = "[task_flags.setters]\nmemalloc_noio_save = \"PF_MEMALLOC_NOIO\"\n";
        let c = Catalogue::with_user_str(user, Path::new("m.toml")).unwrap();
        let setter = |name: &str| c.task_flags.setters.get(name).map(|f| f.0.as_str());
        assert_eq!(setter("memalloc_noio_save"), Some("PF_MEMALLOC_NOIO"));
        assert_eq!(setter("memalloc_noreclaim_save"), Some("PF_MEMALLOC"));
        assert_eq!(
            c.task_flags.word.as_ref().map(|w| w.0.as_str()),
            Some("current.flags")
        );
        let bad = "[task_flags.restorers]\nmy_restore = \"pf_memalloc\"\n";
        let err = Catalogue::with_user_str(bad, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:2:14: "), "{err}");
        assert!(err.contains("not a flag name"), "{err}");
        let bad = "[task_flags]\nword = \"f(x)\"\n";
        let err = Catalogue::with_user_str(bad, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:2:8: "), "{err}");
    }

    /// Type errors name the offending value's line and column in the user's
    /// file (not 0:0, not the table header) and what was expected in the
    /// file's terms, without Rust type names.
    #[test]
    fn type_errors_name_the_value_in_user_terms() {
        let cases: [(&str, &str, &str); 8] = [
            (
                "[rules.MMS001]\nenabled = true\nseverity = \"loud\"\n",
                "m.toml:3:12: ",
                "expected one of \"error\", \"warning\", \"note\"",
            ),
            (
                "[rules.MMS002]\nenabled = \"no\"\n",
                "m.toml:2:11: ",
                "expected true or false",
            ),
            (
                "# zap helpers\n[long_ops.zap]\nalways = \"my_zap\"\n",
                "m.toml:3:10: ",
                "expected a list of strings",
            ),
            (
                "[lock_api.my_lock]\nop = \"acquire\"\nmode = \"writ\"\n",
                "m.toml:3:8: ",
                "expected one of \"read\", \"write\"",
            ),
            (
                "[macros]\nloop_macros = [\"a\", 3]\n",
                "m.toml:2:21: ",
                "expected a string",
            ),
            (
                "[macros.declaration_macro_arg]\nDEFINE_X = \"one\"\n",
                "m.toml:2:12: ",
                "expected a whole number",
            ),
            (
                "[fault_path.entry_facts.pfn_mkwrite]\nwhy = \"dax\"\nfacts = { \"vmf.vma\" = 1 }\n",
                "m.toml:3:",
                "is not a path from the first parameter",
            ),
            (
                "[keeps_bits.my_filter]\narg = \"first\"\nwhy = \"clears\"\n",
                "m.toml:2:7: ",
                "expected a whole number",
            ),
        ];
        for (user, place, expected) in cases {
            let err = Catalogue::with_user_str(user, Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(place), "{user:?}: {err}");
            assert!(err.contains(expected), "{user:?}: {err}");
            for rust in [
                "usize", "sequence", "struct ", "enum ", "variant", "Vec<", "`",
            ] {
                assert!(!err.contains(rust), "{user:?}: {err}");
            }
        }
    }
}
