//! Parsing: normalized source → tree-sitter-c tree → per-function IR.

use crate::cfg::Fields;
use tree_sitter::{Node as TsNode, Parser};

use crate::catalogue::{Catalogue, LockMode};
use crate::cfg::{declarator_name, CfgBuilder};
use crate::error::AnalyzerError;
use crate::ir::*;
use crate::normalize::Hint;

/// The functions tree-sitter's C core allocates with, for a program that
/// sets its own global allocator: otherwise every syntax tree's nodes come
/// from the C library's `malloc`, beside the rest of the run.
pub type CAllocator = (
    unsafe extern "C" fn(usize) -> *mut std::ffi::c_void,
    unsafe extern "C" fn(usize, usize) -> *mut std::ffi::c_void,
    unsafe extern "C" fn(*mut std::ffi::c_void, usize) -> *mut std::ffi::c_void,
    unsafe extern "C" fn(*mut std::ffi::c_void),
);

/// Makes the parser allocate with `alloc` (malloc, calloc, realloc, free).
///
/// # Safety
/// Call before any parser or tree exists, once: memory allocated by one set
/// of functions must not be freed by another.
pub unsafe fn use_allocator(alloc: CAllocator) {
    let (malloc, calloc, realloc, free) = alloc;
    // SAFETY: the caller guarantees no tree-sitter object exists yet.
    unsafe { tree_sitter::set_allocator(Some(malloc), Some(calloc), Some(realloc), Some(free)) }
}

pub fn new_parser() -> Result<Parser, AnalyzerError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_c::LANGUAGE.into())
        .map_err(|e| AnalyzerError::Parser(e.to_string()))?;
    Ok(parser)
}

/// Parses one file's text into function IRs. `file` is the file's index.
pub fn parse_file(
    parser: &mut Parser,
    source: &str,
    file: u32,
    catalogue: &Catalogue,
) -> Result<FileIr, AnalyzerError> {
    parse_file_selected(parser, source, file, catalogue, None)
}

/// Parses only the `keep` byte ranges of a file (sorted, disjoint); the rest
/// is blanked, so offsets, lines and columns stay those of the file.
pub fn parse_file_selected(
    parser: &mut Parser,
    source: &str,
    file: u32,
    catalogue: &Catalogue,
    keep: Option<&[(usize, usize)]>,
) -> Result<FileIr, AnalyzerError> {
    let normalized = crate::normalize::normalize_selected(source, catalogue, keep);
    parse_normalized(
        parser,
        normalized,
        file,
        catalogue,
        0,
        source.lines().count(),
    )
}

/// Parses one chunk of a file whose preprocessor lines were already resolved
/// (`normalize::blank_preprocessor_text`); `line_offset` is the number of
/// lines before the chunk, so reported lines are the file's.
pub fn parse_chunk(
    parser: &mut Parser,
    pp_chunk: &str,
    line_offset: u32,
    catalogue: &Catalogue,
) -> Result<FileIr, AnalyzerError> {
    let normalized = crate::normalize::normalize_tokens(pp_chunk, catalogue);
    parse_normalized(parser, normalized, 0, catalogue, line_offset, 0)
}

fn parse_normalized(
    parser: &mut Parser,
    normalized: crate::normalize::Normalized,
    file: u32,
    catalogue: &Catalogue,
    line_offset: u32,
    line_count: usize,
) -> Result<FileIr, AnalyzerError> {
    let tree = parser
        .parse(normalized.text.as_bytes(), None)
        .ok_or_else(|| AnalyzerError::Parser("parse cancelled".into()))?;
    let src = normalized.text.as_bytes();
    let mut functions = Vec::new();
    collect_functions(
        tree.root_node(),
        src,
        file,
        catalogue,
        &normalized.hints,
        line_offset,
        &mut functions,
    );
    Ok(FileIr {
        functions,
        line_count,
    })
}

/// Syntax nesting (tree-sitter node depth) above which a function is not
/// analyzed: the CFG builder, condition expressions and their evaluation
/// recurse along the syntax tree, and a worker thread's stack (2 MiB) must
/// hold the deepest walk in a debug build (`tests/deep_input.rs` checks a
/// function just under it). Kernel functions nest far less: every finding on
/// the 6.12 tree is the same with the limit.
pub const MAX_SYNTAX_DEPTH: usize = 600;

/// Whether some node under `n` (`n` is depth 0) lies deeper than `limit`,
/// found without recursion. A subtree cannot be deeper than it has nodes
/// (`descendant_count`, kept by tree-sitter in every node), so only the
/// subtrees big enough to reach past the limit are entered: for an ordinary
/// function that is the body and a few large statements, not every node.
pub fn deeper_than(n: TsNode, limit: usize) -> bool {
    // (node, its depth under `n`)
    let mut stack = vec![(n, 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        // The deepest node of this subtree is at most this much further.
        if depth + node.descendant_count().saturating_sub(1) <= limit {
            continue;
        }
        let mut cursor = node.walk();
        if cursor.goto_first_child() {
            loop {
                stack.push((cursor.node(), depth + 1));
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }
    false
}

fn collect_functions(
    n: TsNode,
    src: &[u8],
    file: u32,
    cat: &Catalogue,
    hints: &[Hint],
    line_offset: u32,
    out: &mut Vec<Function>,
) {
    // Error recovery and linkage blocks can wrap definitions, nested as deep
    // as the input goes: walked in order with an explicit stack.
    fn named<'t>(node: TsNode<'t>) -> std::vec::IntoIter<TsNode<'t>> {
        let mut cursor = node.walk();
        node.named_children(&mut cursor)
            .collect::<Vec<_>>()
            .into_iter()
    }
    let mut stack = vec![named(n)];
    while let Some(children) = stack.last_mut() {
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        match child.kind_name() {
            "function_definition" => {
                if let Some(f) = function_ir(child, src, file, cat, hints, line_offset) {
                    out.push(f);
                }
            }
            "ERROR" | "linkage_specification" | "declaration_list" | "translation_unit" => {
                stack.push(named(child))
            }
            _ => {}
        }
    }
}

fn function_ir(
    def: TsNode,
    src: &[u8],
    file: u32,
    cat: &Catalogue,
    hints: &[Hint],
    line_offset: u32,
) -> Option<Function> {
    if deeper_than(def, MAX_SYNTAX_DEPTH) {
        return too_deep_function(def, src, file, hints, line_offset);
    }
    let declarator = def.field("declarator")?;
    let func_decl = find_function_declarator(declarator)?;
    let name_node = func_decl.field("declarator")?;
    let name = declarator_name(name_node, src)?;
    let body = def.field("body")?;
    let params = parameter_names(func_decl, src);
    let mut c = def.walk();
    let is_static = def.children(&mut c).any(|ch| {
        ch.kind_name() == "storage_class_specifier"
            && ch
                .utf8_text(src)
                .map(|t| t.trim() == "static")
                .unwrap_or(false)
    });
    let assumed_clear = cat.assumed_clear_in(&name);
    let builder = CfgBuilder::new(src, line_offset)
        .assuming_clear(&assumed_clear)
        .asserting(&cat.asserts);
    let (cfg, mut calls, vars) = builder.build(body);
    for call in &mut calls {
        call.catalogued = Catalogued::of(cat, call);
    }
    crate::fresh::mark_calls_on_fresh_objects(&cfg, &mut calls, &vars, cat);

    let entry_hint = entry_hint(def, body, src, &calls, hints, cat, line_offset);

    let field_stores = field_stores(&cfg, &vars, &params);

    let retry_marker_lines = retry_marker_lines(body, src, cat, line_offset);
    let lock_flags = lock_flags(&cfg, &calls, &vars, body.utf8_text(src).unwrap_or(""));
    Some(Function {
        lock_flags,
        retry_marker_lines,
        name,
        file,
        line: line_offset + name_node.start_position().row as u32 + 1,
        params,
        is_static,
        has_parse_error: def.has_error(),
        cfg,
        calls,
        vars,
        entry_hint,
        entry_facts: Vec::new(),
        field_stores,
        content_key: content_key(def, src, hints),
        skipped: None,
    })
}

/// Per variable, whether it is a lock flag (see [`Function::lock_flags`]).
fn lock_flags(cfg: &Cfg, calls: &[CallSite], vars: &[String], body: &str) -> Vec<bool> {
    let mut flags = vec![false; vars.len()];
    for node in &cfg.nodes {
        let mut after_lock_call = false;
        for ev in &node.events {
            match ev {
                Event::Call(c) => {
                    after_lock_call |= calls
                        .get(*c as usize)
                        .is_some_and(|c| c.catalogued.lock_call)
                }
                Event::Assign {
                    var,
                    value: Value::Const(_),
                } if after_lock_call => {
                    if let Some(f) = flags.get_mut(*var as usize) {
                        *f = true;
                    }
                }
                Event::Assign { .. } => {}
            }
        }
    }
    if flags.contains(&true) {
        for (f, taken) in flags.iter_mut().zip(address_taken(vars, body)) {
            *f &= !taken;
        }
    }
    flags
}

/// Per variable, whether the analysis must not follow constants assigned to
/// it along paths: field paths (any callee given the base may store to
/// them) and names whose address appears in the body (`&locked`, `& locked`).
fn address_taken(vars: &[String], body: &str) -> Vec<bool> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut taken: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let bytes = body.as_bytes();
    for (i, _) in body.match_indices('&') {
        // `&&` is a logical and, `a & b` a bitwise one (a name before it;
        // after `)` it may be a cast, `(void *)&x`: taken, to be safe).
        if bytes.get(i + 1) == Some(&b'&') || (i > 0 && bytes[i - 1] == b'&') {
            continue;
        }
        let before = body[..i].trim_end();
        if before.ends_with(is_ident) && !before.ends_with("return") {
            continue;
        }
        let rest = body[i + 1..].trim_start();
        let rest = rest.trim_start_matches('(').trim_start();
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end > 0 {
            taken.insert(&rest[..end]);
        }
    }
    vars.iter()
        .map(|v| v.contains('.') || v.starts_with('$') || taken.contains(v.as_str()))
        .collect()
}

/// The names of a function's parameters, in order (empty for an unnamed one).
fn parameter_names(func_decl: TsNode, src: &[u8]) -> Vec<String> {
    let mut params = Vec::new();
    if let Some(list) = func_decl.field("parameters") {
        let mut c = list.walk();
        for p in list.named_children(&mut c) {
            if p.kind_name() == "parameter_declaration" {
                params.push(
                    p.field("declarator")
                        .and_then(|d| declarator_name(d, src))
                        .unwrap_or_default(),
                );
            }
        }
    }
    params
}

/// The strongest hold a function promises on entry: lock assertions in
/// its body, lock annotations on its declarator (`hints`).
fn entry_hint(
    def: TsNode,
    body: TsNode,
    src: &[u8],
    calls: &[CallSite],
    hints: &[Hint],
    cat: &Catalogue,
    line_offset: u32,
) -> Option<EntryHint> {
    let mut entry_hint: Option<EntryHint> = None;
    let mut promise = |mode: LockMode, line: u32| {
        if entry_hint.is_none_or(|h| mode > h.mode) {
            entry_hint = Some(EntryHint { mode, line });
        }
    };
    for call in calls {
        if let Some(a) = cat.assertions.get(&call.callee) {
            if !a.match_arg || call.args.first().is_some_and(|t| cat.names_mmap_lock(t)) {
                promise(a.mode, call.line);
            }
        }
    }
    for h in hints
        .iter()
        .filter(|h| h.offset >= def.start_byte() && h.offset < body.start_byte())
    {
        if let Some(a) = cat.assertions.get(&h.name) {
            if !a.match_arg || cat.names_mmap_lock(&h.argument) {
                let line = line_offset + line_of(src, h.offset);
                promise(a.mode, line);
            }
        }
    }
    entry_hint
}

/// Stores into fields of struct parameters (`p->field = c` or `= param`),
/// which callers follow as constants (init helpers); any other value is an
/// unknown store, which ends what a caller knew of the field.
fn field_stores(cfg: &Cfg, vars: &[String], params: &[String]) -> Vec<FieldStore> {
    let mut field_stores = Vec::new();
    for node in &cfg.nodes {
        for ev in &node.events {
            if let Event::Assign { var, value } = ev {
                let path = &vars[*var as usize];
                let Some((base, field)) = path.split_once('.') else {
                    continue;
                };
                let Some(param) = params.iter().position(|p| p == base) else {
                    continue;
                };
                let source = match value {
                    Value::Const(c) | Value::OrBits(_, c) => StoreSource::Const(*c),
                    Value::Path(p) => match params.iter().position(|q| q == p) {
                        Some(j) => StoreSource::Param(j),
                        None => StoreSource::Unknown,
                    },
                    v => match v.bit_op() {
                        Some(op) => StoreSource::Bits(op),
                        None => StoreSource::Unknown,
                    },
                };
                field_stores.push(FieldStore {
                    param,
                    field: field.to_string(),
                    source,
                });
            }
        }
    }
    field_stores
}

/// Lines of the body where the retry protocol covers what follows: a call
/// of a lock-dropping helper (`retry_drops`), or a test of a retry flag in a
/// condition (`retry_flag_tests`; setting the flag covers nothing). Named in
/// code only (a comment saying "FAULT_FLAG_ALLOW_RETRY" is not the
/// protocol), as whole identifiers; sorted.
fn retry_marker_lines(body: TsNode, src: &[u8], cat: &Catalogue, line_offset: u32) -> Vec<u32> {
    let body_text = std::str::from_utf8(&src[body.start_byte()..body.end_byte()]).unwrap_or("");
    let body_line = line_offset + body.start_position().row as u32 + 1;
    let fp = &cat.fault_path;
    let named = |names: &[String], id: &str| names.iter().any(|m| m == id);
    // Most bodies name no marker: only those are tokenized.
    if !fp
        .retry_drops
        .iter()
        .chain(&fp.retry_flag_tests)
        .any(|m| body_text.contains(m.as_str()))
    {
        return Vec::new();
    }
    let mut retry_marker_lines: Vec<u32> = crate::normalize::identifiers(body_text)
        .into_iter()
        .filter(|&(at, id)| {
            named(&fp.retry_drops, id)
                || (named(&fp.retry_flag_tests, id)
                    && in_condition(body, body.start_byte() + at, id.len()))
        })
        .map(|(at, _)| body_line + line_of(body_text.as_bytes(), at) - 1)
        .collect();
    retry_marker_lines.sort_unstable();
    retry_marker_lines.dedup();
    retry_marker_lines
}

/// Whether the identifier at `at` (absolute byte offset) lies in the
/// condition of an `if`, a loop or a `?:` inside `body`.
fn in_condition(body: TsNode, at: usize, len: usize) -> bool {
    let Some(mut node) = body.descendant_for_byte_range(at, at + len) else {
        return false;
    };
    while let Some(parent) = node.parent() {
        if node.id() == body.id() {
            return false;
        }
        let conditional = matches!(
            parent.kind_name(),
            "if_statement"
                | "while_statement"
                | "do_statement"
                | "for_statement"
                | "conditional_expression"
        );
        if conditional
            && parent
                .field("condition")
                .is_some_and(|c| c.id() == node.id())
        {
            return true;
        }
        node = parent;
    }
    false
}

/// A function too deeply nested to analyze: named (from the text before its
/// body, read lexically: the declarator may be as deep as the rest), with an
/// empty body, and the reason it is skipped.
fn too_deep_function(
    def: TsNode,
    src: &[u8],
    file: u32,
    hints: &[Hint],
    line_offset: u32,
) -> Option<Function> {
    let head_end = def.field("body").map_or(def.end_byte(), |b| b.start_byte());
    let head = std::str::from_utf8(&src[def.start_byte()..head_end]).ok()?;
    let paren = head.find('(')?;
    let name_start = head[..paren]
        .trim_end()
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |k| k + 1);
    let name = head[name_start..paren].trim_end().to_string();
    if name.is_empty() {
        return None;
    }
    let line = line_offset + line_of(src, def.start_byte() + name_start);
    let mut cfg = Cfg {
        nodes: vec![Node::default(), Node::default()],
        entry: 0,
        exit: 1,
    };
    cfg.nodes[0].succ.push(1);
    Some(Function {
        retry_marker_lines: Vec::new(),
        name,
        file,
        line,
        params: Vec::new(),
        is_static: false,
        has_parse_error: def.has_error(),
        cfg,
        calls: Vec::new(),
        vars: Vec::new(),
        lock_flags: Vec::new(),
        entry_hint: None,
        entry_facts: Vec::new(),
        field_stores: Vec::new(),
        content_key: content_key(def, src, hints),
        skipped: Some(format!(
            "nesting too deep (more than {MAX_SYNTAX_DEPTH} levels of syntax)"
        )),
    })
}

/// The function's identity as far as the analysis can tell: its text (and
/// where its first line starts, which columns are counted from), the
/// annotations read from it. Lines are not part of it.
fn content_key(def: TsNode, src: &[u8], hints: &[Hint]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x6d6d_7374_616c_6c00).build_hasher();
    src[def.start_byte()..def.end_byte()].hash(&mut h);
    def.start_position().column.hash(&mut h);
    for hint in hints
        .iter()
        .filter(|h| h.offset >= def.start_byte() && h.offset < def.end_byte())
    {
        (hint.offset - def.start_byte(), &hint.name, &hint.argument).hash(&mut h);
    }
    h.finish()
}

fn find_function_declarator(n: TsNode) -> Option<TsNode> {
    if n.kind_name() == "function_declarator" {
        // `int (*f(void))(int)` returns a function pointer; the innermost wins.
        if let Some(inner) = n.field("declarator").and_then(find_function_declarator) {
            return Some(inner);
        }
        return Some(n);
    }
    n.field("declarator").and_then(find_function_declarator)
}

fn line_of(src: &[u8], offset: usize) -> u32 {
    memchr::memchr_iter(b'\n', &src[..offset.min(src.len())]).count() as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::{address_taken, deeper_than, new_parser};
    use proptest::prelude::*;

    /// The depth of the deepest node under `n`, by visiting every node.
    fn full_depth(n: tree_sitter::Node) -> usize {
        let mut cursor = n.walk();
        let (mut depth, mut deepest) = (0usize, 0usize);
        loop {
            if cursor.goto_first_child() {
                depth += 1;
                deepest = deepest.max(depth);
                continue;
            }
            loop {
                if depth == 0 {
                    return deepest;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
                cursor.goto_parent();
                depth -= 1;
            }
        }
    }

    /// C text nesting statements, parentheses and operator chains to a
    /// chosen shape (and, with junk tokens, error nodes).
    fn nested_c() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("x".to_string()),
            Just("f(a, b)".to_string()),
            Just("p->q".to_string()),
            Just(")".to_string()),
        ];
        leaf.prop_recursive(8, 200, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| format!("({e})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| format!("{{ if ({a}) {{ {b}; }} }}")),
                inner
                    .clone()
                    .prop_map(|e| format!("{{ while (y) {{ {e}; }} }}")),
                proptest::collection::vec(inner, 1..4).prop_map(|v| v.join("; ")),
            ]
        })
    }

    proptest! {
        #[test]
        fn deeper_than_matches_a_walk_of_every_node(body in nested_c(), limit in 0usize..40) {
            let text = format!("int f(void) {{ {body}; }}");
            let mut parser = new_parser().unwrap();
            let tree = parser.parse(&text, None).unwrap();
            let root = tree.root_node();
            prop_assert_eq!(deeper_than(root, limit), full_depth(root) > limit);
        }
    }

    #[test]
    fn address_taken_tells_address_of_from_and() {
        let vars: Vec<String> = ["locked", "mask", "flag", "a.b", "$ret", "cast"]
            .map(String::from)
            .to_vec();
        let body = "{ f(mm, &locked); if (x & mask && flag) g(); h((void *)&cast); }";
        assert_eq!(
            address_taken(&vars, body),
            [true, false, false, true, true, true]
        );
    }
}
