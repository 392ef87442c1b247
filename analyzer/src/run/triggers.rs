//! Triggers: the entry points from which a finding's holder is reached —
//! system calls (`SYSCALL_DEFINEn(munmap, ...)` → `munmap(2)`), handlers
//! installed in an operations table (`.fault = f` → `fault`, `.mmap = f` →
//! `mmap`, `.unlocked_ioctl = f` → `ioctl`, `.load_binary = f` →
//! `execve(2)`), kthread and workqueue
//! functions (`kthread`, `workqueue`), and the exit path (`do_exit`,
//! `mmput` → `exit`).
//!
//! Found by walking callers backwards over the lexical call index of the
//! run's scanned files (the parsed program holds only what the analysis
//! needed, not the callers of a holder). On a whole tree only the files
//! naming the lock are scanned for calls, so a caller elsewhere is not
//! seen: triggers are what the run's scope shows, never a complete list.
//! The walk is breadth-first and bounded ([`MAX_DEPTH`], [`MAX_VISITED`]);
//! triggers come nearest first, then by name.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::files::LoadedFile;
use crate::catalogue::is_identifier;
use crate::finding::Finding;
use crate::source::SourceSet;

/// Caller levels walked up from a holder.
pub const MAX_DEPTH: usize = 12;
/// Functions (chunks) visited per holder.
pub const MAX_VISITED: usize = 4000;

/// Designated-initializer fields whose function is an entry point, and the
/// trigger it is (the fault handlers' fields come from the catalogue).
pub const ENTRY_FIELDS: &[(&str, &str)] = &[
    ("mmap", "mmap"),
    ("unlocked_ioctl", "ioctl"),
    ("compat_ioctl", "ioctl"),
    // A binary format's loader runs in execve.
    ("load_binary", "execve(2)"),
];

/// Functions through which a task's exit reaches the holder: the walk stops
/// there (every caller of `mmput` is not a trigger of its own).
const EXIT_PATH: &[&str] = &["do_exit", "do_group_exit", "exit_mm", "mmput", "__mmput"];

/// Calls that start a function as a kthread or a work item (the function
/// passed to them has no lexical caller).
const STARTERS: &[(&str, &str)] = &[
    ("kthread_run", "kthread"),
    ("kthread_create", "kthread"),
    ("kthread_create_on_node", "kthread"),
    ("kthread_run_on_cpu", "kthread"),
    ("kthread_init_work", "kthread"),
    ("INIT_WORK", "workqueue"),
    ("INIT_WORK_ONSTACK", "workqueue"),
    ("INIT_DELAYED_WORK", "workqueue"),
    ("INIT_DEFERRABLE_WORK", "workqueue"),
    ("DECLARE_WORK", "workqueue"),
    ("DECLARE_DELAYED_WORK", "workqueue"),
    ("DECLARE_DEFERRABLE_WORK", "workqueue"),
];

type Fast = foldhash::fast::RandomState;

/// A chunk of the run: (file, chunk) indices.
pub(super) type ChunkRef = (u32, u32);

/// The lexical call graph of the run's scanned files, and what makes a
/// chunk an entry point.
pub(super) struct Walker<'a> {
    files: &'a [LoadedFile],
    set: &'a dyn SourceSet,
    /// Called name → chunks calling it (files whose calls were scanned).
    callers: HashMap<&'a str, Vec<ChunkRef>, Fast>,
    /// Function name → entry triggers from designated initializers.
    designated: HashMap<&'a str, Vec<&'static str>, Fast>,
    /// File index by its name.
    by_rel: HashMap<&'a str, u32, Fast>,
    /// Texts read for files the run did not keep (a chunk's head, a root's
    /// registration), at most once each.
    texts: HashMap<u32, Option<String>, Fast>,
}

/// Sets every finding's triggers (one walk per holder and holder file).
pub(super) fn attach(
    findings: &mut [Finding],
    walker: &mut Walker,
    fault_path: &crate::catalogue::FaultPath,
) {
    let mut known: BTreeMap<(String, String, bool), Vec<String>> = BTreeMap::new();
    for f in findings.iter_mut() {
        let key = (
            f.holder.clone(),
            f.acquired_at.file.clone(),
            f.held_on_entry,
        );
        if !known.contains_key(&key) {
            // Entered with the lock held by the fault path's contract (not
            // by an assertion a caller must satisfy): a page fault.
            let fault = f.held_on_entry && fault_path.entry_contracts.contains_key(&f.holder);
            let found = walker.triggers(&f.holder, &f.acquired_at.file, fault);
            known.insert(key.clone(), found);
        }
        f.triggers = known[&key].clone();
    }
}

impl<'a> Walker<'a> {
    /// The lexical call graph of `files` (callers indexed once).
    pub(super) fn new(
        files: &'a [LoadedFile],
        set: &'a dyn SourceSet,
        fault_fields: &[String],
    ) -> Walker<'a> {
        let mut callers: HashMap<&str, Vec<ChunkRef>, Fast> = HashMap::default();
        let mut designated: HashMap<&str, Vec<&'static str>, Fast> = HashMap::default();
        let mut by_rel = HashMap::default();
        for (fi, file) in files.iter().enumerate() {
            by_rel.insert(file.rel.as_str(), fi as u32);
            for (field, name) in &file.scan.designated {
                let label = if fault_fields.contains(field) {
                    Some("fault")
                } else {
                    ENTRY_FIELDS
                        .iter()
                        .find(|(f, _)| f == field)
                        .map(|&(_, label)| label)
                };
                if let Some(label) = label {
                    let labels = designated.entry(name.as_str()).or_default();
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
            }
            if file.scan.calls_unknown {
                continue;
            }
            for (ci, calls) in file.scan.calls.iter().enumerate() {
                for name in calls {
                    callers
                        .entry(name.as_str())
                        .or_default()
                        .push((fi as u32, ci as u32));
                }
            }
        }
        Walker {
            files,
            set,
            callers,
            designated,
            by_rel,
            texts: HashMap::default(),
        }
    }

    /// The text of file `fi`: kept by the run, or read once.
    fn text(&mut self, fi: u32) -> Option<&str> {
        let file = &self.files[fi as usize];
        if let Some(t) = &file.text {
            return Some(t.as_str());
        }
        let set = self.set;
        self.texts
            .entry(fi)
            .or_insert_with(|| set.read(&file.rel).ok().map(|sf| sf.text))
            .as_deref()
    }

    pub(super) fn chunk_text(&mut self, (fi, ci): ChunkRef) -> Option<&str> {
        let chunk = self.files[fi as usize].scan.chunks.get(ci as usize)?;
        let (start, end) = (chunk.start, chunk.end);
        self.text(fi).and_then(|t| t.get(start..end))
    }

    /// The functions a chunk defines (a `SYSCALL_DEFINEn` chunk defines the
    /// macro's name lexically, `sys_<name>` once normalized).
    fn names(&self, (fi, ci): ChunkRef) -> &'a [super::scan::Name] {
        let files: &'a [LoadedFile] = self.files;
        files[fi as usize]
            .scan
            .defs
            .get(ci as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The names a chunk defines with a body: the lexical definitions less
    /// macro invocations at the margin (`early_initcall(f); /* ... */`),
    /// whose "callers" are every other invocation of the macro.
    pub(super) fn functions(&mut self, chunk: ChunkRef) -> Vec<super::scan::Name> {
        let names = self.names(chunk);
        if names.len() <= 1 {
            return names.to_vec();
        }
        let Some(text) = self.chunk_text(chunk) else {
            return names.to_vec();
        };
        names
            .iter()
            .filter(|name| has_body(text, name))
            .cloned()
            .collect()
    }

    /// `munmap(2)` for a `SYSCALL_DEFINEn(munmap, ...)` or
    /// `COMPAT_SYSCALL_DEFINEn(...)` chunk: the macro's first argument.
    pub(super) fn syscall(&mut self, chunk: ChunkRef) -> Option<String> {
        let is_syscall = self.names(chunk).iter().any(|n| syscall_macro(n).is_some());
        if !is_syscall {
            return None;
        }
        let text = self.chunk_text(chunk)?;
        text.lines().find_map(|line| {
            let paren = line.find('(')?;
            syscall_macro(line[..paren].trim())?;
            let name = line[paren + 1..].split([',', ')']).next()?.trim();
            is_identifier(name).then(|| format!("{name}(2)"))
        })
    }

    /// The chunk of `file` defining `name` (or the syscall `sys_<name>`).
    pub(super) fn definition(&mut self, name: &str, file: &str) -> Option<ChunkRef> {
        let fi = *self.by_rel.get(file)?;
        let chunks = self.files[fi as usize].scan.defs.len() as u32;
        if let Some(ci) = (0..chunks).find(|&ci| self.names((fi, ci)).iter().any(|n| &**n == name))
        {
            return Some((fi, ci));
        }
        let syscall = format!("{}(2)", name.strip_prefix("sys_")?);
        (0..chunks)
            .find(|&ci| self.syscall((fi, ci)).as_deref() == Some(syscall.as_str()))
            .map(|ci| (fi, ci))
    }

    /// Whether the chunk's function is `static` (callable from its file only).
    fn is_static(&mut self, chunk: ChunkRef) -> bool {
        self.chunk_text(chunk).is_some_and(|t| {
            t.lines()
                .find(|l| {
                    let l = l.trim_start();
                    !l.is_empty()
                        && !l.starts_with("/*")
                        && !l.starts_with('*')
                        && !l.starts_with("//")
                        && !l.starts_with('#')
                })
                .is_some_and(|l| l.starts_with("static ") || l.starts_with("static\t"))
        })
    }

    /// `kthread` or `workqueue` when the file passes `name` to a starter
    /// (`kthread_run(name, ...)`, `INIT_WORK(&w, name)`).
    fn started_as(&mut self, fi: u32, name: &str) -> Option<&'static str> {
        let text = self.text(fi)?;
        let b = text.as_bytes();
        for at in memchr::memmem::find_iter(b, name.as_bytes()) {
            let before = at.checked_sub(1).map(|i| b[i]);
            let after = b.get(at + name.len()).copied();
            let ident = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
            if ident(before) || ident(after) {
                continue;
            }
            // The statement around the name, up to where it starts.
            let mut from = at.saturating_sub(160);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let head = &text[from..at];
            let head = head.rsplit([';', '{', '}']).next().unwrap_or(head);
            for &(starter, label) in STARTERS {
                if memchr::memmem::find_iter(head.as_bytes(), starter.as_bytes()).any(|k| {
                    let rest = head[k + starter.len()..].trim_start();
                    rest.starts_with('(')
                        && !head[..k].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                }) {
                    return Some(label);
                }
            }
        }
        None
    }

    /// The holder's triggers, nearest first.
    /// `fault_entry`: the holder is entered from the fault path.
    fn triggers(&mut self, holder: &str, file: &str, fault_entry: bool) -> Vec<String> {
        // (depth, trigger): sorted and deduplicated at the end.
        let mut found: Vec<(usize, String)> = Vec::new();
        if fault_entry {
            found.push((0, "fault".into()));
        }
        let Some(start) = self.definition(holder, file) else {
            return finish(found);
        };
        let mut seen: HashSet<ChunkRef, Fast> = HashSet::default();
        seen.insert(start);
        let mut queue: VecDeque<(ChunkRef, usize)> = VecDeque::from([(start, 0)]);
        while let Some((chunk, depth)) = queue.pop_front() {
            if let Some(call) = self.syscall(chunk) {
                found.push((depth, call));
                continue;
            }
            let names = self.functions(chunk);
            let names = names.as_slice();
            if names.iter().any(|n| EXIT_PATH.contains(&&**n)) {
                found.push((depth, "exit".into()));
                continue;
            }
            for name in names {
                if let Some(labels) = self.designated.get(&**name) {
                    found.extend(labels.iter().map(|l| (depth, l.to_string())));
                }
            }
            let mut has_callers = false;
            let (fi, _) = chunk;
            let local_only = self.is_static(chunk);
            for name in names {
                let Some(callers) = self.callers.get(&**name) else {
                    continue;
                };
                for &caller in callers {
                    if caller == chunk {
                        continue;
                    }
                    // A caller in another file calls this definition only if
                    // it is not static and that file has none of its own.
                    if caller.0 != fi && (local_only || self.defines(caller.0, name)) {
                        continue;
                    }
                    has_callers = true;
                    if depth < MAX_DEPTH && seen.len() < MAX_VISITED && seen.insert(caller) {
                        queue.push_back((caller, depth + 1));
                    }
                }
            }
            if !has_callers {
                for name in names {
                    if let Some(label) = self.started_as(fi, name) {
                        found.push((depth, label.into()));
                    }
                }
            }
        }
        finish(found)
    }

    /// The chunks calling the definition `name` of `chunk` (a static one
    /// from its file only; another file's call reaches it only if that file
    /// has no definition of its own).
    pub(super) fn callers_of(&mut self, chunk: ChunkRef, name: &str) -> Vec<ChunkRef> {
        let local_only = self.is_static(chunk);
        let Some(callers) = self.callers.get(name) else {
            return Vec::new();
        };
        callers
            .iter()
            .copied()
            .filter(|&caller| {
                caller != chunk
                    && (caller.0 == chunk.0 || !(local_only || self.defines(caller.0, name)))
            })
            .collect()
    }

    /// File `fi` defines `name` itself.
    fn defines(&self, fi: u32, name: &str) -> bool {
        self.files[fi as usize]
            .scan
            .defs
            .iter()
            .any(|d| d.iter().any(|n| &**n == name))
    }
}

/// Whether `text` defines `name` with a body: a line at the margin naming
/// it before its first `(`, followed by `{` before any `;`.
fn has_body(text: &str, name: &str) -> bool {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(paren) = line.find('(') else {
            continue;
        };
        let head = line[..paren].trim_end();
        let at_margin = line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !at_margin || !head.ends_with(name) {
            continue;
        }
        let before = head[..head.len() - name.len()].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[start + paren..];
        match (rest.find('{'), rest.find(';')) {
            (Some(brace), Some(semi)) if brace < semi => return true,
            (Some(_), None) => return true,
            _ => {}
        }
    }
    false
}

/// Nearest first, then by name; each trigger once.
fn finish(mut found: Vec<(usize, String)>) -> Vec<String> {
    found.sort();
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|(_, t)| seen.insert(t.clone()))
        .map(|(_, t)| t)
        .collect()
}

/// `SYSCALL_DEFINE3` or `COMPAT_SYSCALL_DEFINE3`: the macro, else `None`.
fn syscall_macro(name: &str) -> Option<&str> {
    let digits = name
        .strip_prefix("SYSCALL_DEFINE")
        .or_else(|| name.strip_prefix("COMPAT_SYSCALL_DEFINE"))?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_macros_are_recognized_by_name() {
        assert_eq!(syscall_macro("SYSCALL_DEFINE3"), Some("SYSCALL_DEFINE3"));
        assert_eq!(
            syscall_macro("COMPAT_SYSCALL_DEFINE6"),
            Some("COMPAT_SYSCALL_DEFINE6")
        );
        assert_eq!(syscall_macro("SYSCALL_DEFINE"), None);
        assert_eq!(syscall_macro("SYSCALL_DEFINEx"), None);
        assert_eq!(syscall_macro("do_munmap"), None);
    }

    #[test]
    fn a_macro_at_the_margin_is_not_a_definition() {
        let text = "early_initcall(demo_init); /* early */\n\nstatic int demo_map(unsigned long a,\n\t\t    unsigned long b)\n{\n\treturn 0;\n}\n";
        assert!(has_body(text, "demo_map"));
        assert!(!has_body(text, "early_initcall"));
        assert!(!has_body(text, "map"));
    }

    #[test]
    fn triggers_come_nearest_first_then_by_name_once_each() {
        let found = vec![
            (2, "munmap(2)".to_string()),
            (1, "mremap(2)".to_string()),
            (0, "fault".to_string()),
            (2, "brk(2)".to_string()),
            (3, "mremap(2)".to_string()),
        ];
        assert_eq!(finish(found), ["fault", "mremap(2)", "brk(2)", "munmap(2)"]);
    }
}
