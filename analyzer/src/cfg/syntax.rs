//! Syntax-node lookups the CFG builder and the parse make on every node:
//! fields by id and kinds from a table, not tree-sitter's lookups by name.

/// The child of `n` in `field`, by the field's id: tree-sitter's lookup by
/// name compares the name with every field of the grammar, on every call,
/// and the CFG builder asks for fields of every node it visits. The ids of
/// the C grammar's fields are looked up once.
pub fn field<'t>(n: tree_sitter::Node<'t>, name: &'static str) -> Option<tree_sitter::Node<'t>> {
    static IDS: std::sync::LazyLock<Vec<(&'static str, std::num::NonZeroU16)>> =
        std::sync::LazyLock::new(|| {
            let lang: tree_sitter::Language = tree_sitter_c::LANGUAGE.into();
            FIELDS
                .iter()
                .filter_map(|&f| Some((f, lang.field_id_for_name(f)?)))
                .collect()
        });
    match IDS.iter().find(|(f, _)| *f == name) {
        Some((_, id)) => n.child_by_field_id(id.get()),
        None => n.child_by_field_name(name),
    }
}

/// [`field`] and [`kind`] as methods of syntax nodes.
pub trait Fields<'t> {
    fn field(&self, name: &'static str) -> Option<tree_sitter::Node<'t>>;
    fn kind_name(&self) -> &'static str;
}

impl<'t> Fields<'t> for tree_sitter::Node<'t> {
    fn field(&self, name: &'static str) -> Option<tree_sitter::Node<'t>> {
        field(*self, name)
    }

    fn kind_name(&self) -> &'static str {
        kind(*self)
    }
}

/// A node's kind, from a table of the grammar's kind names made once:
/// tree-sitter's `Node::kind` measures and checks the C string each time,
/// and the CFG builder asks it of every node it visits.
pub fn kind(n: tree_sitter::Node) -> &'static str {
    static KINDS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let lang: tree_sitter::Language = tree_sitter_c::LANGUAGE.into();
        (0..lang.node_kind_count() as u16)
            .map(|id| lang.node_kind_for_id(id).unwrap_or(""))
            .collect()
    });
    KINDS
        .get(n.kind_id() as usize)
        .copied()
        .unwrap_or_else(|| n.kind())
}

/// The fields [`field`] is asked for.
const FIELDS: &[&str] = &[
    "operator",
    "left",
    "right",
    "declarator",
    "condition",
    "body",
    "arguments",
    "value",
    "label",
    "function",
    "argument",
    "update",
    "parameters",
    "initializer",
    "consequence",
    "alternative",
    "type",
];
