use super::*;

fn table(text: &str) -> MacroTable {
    MacroTable::new([std::sync::Arc::new(defines(text))])
}

fn tables(texts: &[&str]) -> MacroTable {
    MacroTable::new(texts.iter().map(|t| std::sync::Arc::new(defines(t))))
}

fn value(t: &MacroTable, name: &str) -> Option<u64> {
    t.value(symbol_hash(name))
}

fn eval(text: &str) -> Option<u64> {
    evaluate(text, &mut |_| None)
}

#[test]
fn literals_with_bases_and_suffixes() {
    assert_eq!(eval("42"), Some(42));
    assert_eq!(eval("0x00000004"), Some(4));
    assert_eq!(eval("0X10UL"), Some(16));
    assert_eq!(eval("010"), Some(8));
    assert_eq!(eval("0b101"), Some(5));
    assert_eq!(eval("7ULL"), Some(7));
    assert_eq!(eval("0"), Some(0));
    assert_eq!(eval("0x1g"), None);
}

#[test]
fn operators_follow_c_precedence() {
    assert_eq!(eval("1 << 3 | 1"), Some(9));
    assert_eq!(eval("1 | 2 & 6"), Some(3));
    assert_eq!(eval("(1 | 2) & 6"), Some(2));
    assert_eq!(eval("1 + 2 << 1"), Some(6));
    assert_eq!(eval("~0x0fUL & 0xff"), Some(0xf0));
    assert_eq!(eval("-1"), Some(u64::MAX));
    assert_eq!(eval("2 * 3 + 1"), Some(7));
    assert_eq!(eval("0xf0 >> 4 ^ 1"), Some(0xe));
    // Not flag arithmetic, or not a whole expression.
    assert_eq!(eval("1 ? 2 : 3"), None);
    assert_eq!(eval("!1"), None);
    assert_eq!(eval("1 < 2"), None);
    assert_eq!(eval("4 / 2"), None);
    assert_eq!(eval("(1 | 2"), None);
    assert_eq!(eval("1 2"), None);
    assert_eq!(eval("1 << 64"), None);
    assert_eq!(eval(""), None);
}

#[test]
fn casts_and_bit_helpers() {
    assert_eq!(eval("((__force fgf_t)0x00000080)"), Some(0x80));
    assert_eq!(eval("((unsigned long)1 << 5)"), Some(32));
    assert_eq!(eval("BIT(3)"), Some(8));
    assert_eq!(eval("BIT_ULL(40)"), Some(1 << 40));
    assert_eq!(eval("_BITUL(2)"), Some(4));
    assert_eq!(eval("_AC(1, UL) << 4"), Some(16));
    assert_eq!(eval("UL(0x10)"), Some(16));
    assert_eq!(eval("GENMASK(7, 4)"), Some(0xf0));
    assert_eq!(eval("GENMASK_ULL(63, 62)"), Some(0xc000_0000_0000_0000));
    assert_eq!(eval("GENMASK(3, 4)"), None);
    assert_eq!(eval("BIT(64)"), None);
    assert_eq!(eval("sizeof(long)"), None);
    assert_eq!(eval("round_up(3, 4)"), None);
    // A parenthesized constant is no type.
    assert_eq!(eval("(FOO) 1"), None);
}

#[test]
fn definitions_are_read_from_kernel_text() {
    let text = "\
#define FGP_LOCK\t\t((__force fgf_t)0x00000002)
#  define FGP_CREAT 0x4 /* create */
#define FGP_STABLE BIT(7) // stable
#define FGP_WRITEBEGIN\t(FGP_LOCK | FGP_CREAT | \\
\t\t\t FGP_STABLE)
#define fgp_lower 3
#define FGP_FUNC(x) (x)
#define FGP_EMPTY
#define FGP_TEXT \"text\"
static int x; /* #define NOT_A_DEFINE 1 */
int undefined_name_is_fine(void);
";
    let d = defines(text);
    let names: Vec<i64> = d.iter().map(|d| d.symbol).collect();
    assert_eq!(
        names,
        [
            "FGP_LOCK",
            "FGP_CREAT",
            "FGP_STABLE",
            "FGP_WRITEBEGIN",
            "FGP_EMPTY",
            "FGP_TEXT"
        ]
        .map(symbol_hash)
    );
    let t = MacroTable::new([std::sync::Arc::new(d)]);
    assert_eq!(value(&t, "FGP_LOCK"), Some(2));
    assert_eq!(value(&t, "FGP_CREAT"), Some(4));
    assert_eq!(value(&t, "FGP_STABLE"), Some(0x80));
    assert_eq!(value(&t, "FGP_WRITEBEGIN"), Some(0x86));
    assert_eq!(value(&t, "FGP_EMPTY"), None);
    assert_eq!(value(&t, "FGP_TEXT"), None);
    assert_eq!(value(&t, "FGP_FUNC"), None);
    assert_eq!(value(&t, "NOT_A_DEFINE"), None);
}

#[test]
fn references_resolve_through_files_and_cycles_are_unknown() {
    let t = tables(&[
        "#define A_FLAG (B_FLAG << 1)\n#define LOOP_A (LOOP_B | 1)\n",
        "#define B_FLAG 0x10\n#define LOOP_B (LOOP_A | 2)\n#define SELF (SELF)\n",
    ]);
    assert_eq!(value(&t, "A_FLAG"), Some(0x20));
    assert_eq!(value(&t, "LOOP_A"), None);
    assert_eq!(value(&t, "LOOP_B"), None);
    assert_eq!(value(&t, "SELF"), None);
    // Asked twice (the second from the memo): the same answer.
    assert_eq!(value(&t, "A_FLAG"), Some(0x20));
}

#[test]
fn a_chain_deeper_than_the_limit_is_unknown() {
    let mut text = String::from("#define D0 1\n");
    for i in 1..=MAX_DEPTH + 2 {
        text.push_str(&format!("#define D{i} (D{} | 1)\n", i - 1));
    }
    let t = table(&text);
    assert_eq!(value(&t, &format!("D{}", MAX_DEPTH - 1)), Some(1));
    assert_eq!(value(&t, &format!("D{}", MAX_DEPTH + 2)), None);
}

#[test]
fn names_defined_twice_are_known_only_when_the_values_agree() {
    let t = tables(&[
        "#define ARCH_FLAG 0x1\n#define SAME_FLAG (1 << 2)\n#define MIXED 8\n",
        "#define ARCH_FLAG 0x2\n#define SAME_FLAG 4\n#define MIXED (TWO << 2)\n",
        "#define ARCH_FLAG 0x1\n#define TWO 2\n",
    ]);
    assert_eq!(value(&t, "ARCH_FLAG"), None);
    assert_eq!(value(&t, "SAME_FLAG"), Some(4));
    assert_eq!(value(&t, "MIXED"), Some(8));
    // `#ifdef` branches of one file count alike.
    let t = table("#ifdef CONFIG_X\n#define BRANCH 1\n#else\n#define BRANCH 0\n#endif\n");
    assert_eq!(value(&t, "BRANCH"), None);
    // One opaque definition makes the name unknown.
    let t = table("#define HALF 1\n#define HALF some_function()\n");
    assert_eq!(value(&t, "HALF"), None);
}

#[test]
fn no_define_no_value() {
    let t = MacroTable::new(std::iter::empty());
    assert!(t.is_empty());
    assert_eq!(value(&t, "FGP_LOCK"), None);
    assert_eq!(value(MacroTable::empty(), "FGP_LOCK"), None);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// A random or/and/shift/not tree over small literals, as text and as
    /// the number Rust computes for it.
    fn expr() -> impl Strategy<Value = (String, u64)> {
        let leaf = (0u64..1 << 20).prop_map(|n| (format!("{n:#x}"), n));
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|((a, x), (b, y))| (format!("({a} | {b})"), x | y)),
                (inner.clone(), inner.clone())
                    .prop_map(|((a, x), (b, y))| (format!("({a} & {b})"), x & y)),
                inner.clone().prop_map(|(a, x)| (format!("(~{a})"), !x)),
                (inner, 0u64..8).prop_map(|((a, x), s)| (format!("({a} << {s})"), x << s)),
            ]
        })
    }

    proptest! {
        #[test]
        fn evaluation_matches_rust((text, want) in expr()) {
            prop_assert_eq!(eval(&text), Some(want));
        }

        #[test]
        fn a_define_of_an_expression_has_its_value((text, want) in expr()) {
            let t = table(&format!("#define PROP_FLAG {text}\n#define PROP_REF (PROP_FLAG)\n"));
            prop_assert_eq!(value(&t, "PROP_FLAG"), Some(want));
            prop_assert_eq!(value(&t, "PROP_REF"), Some(want));
        }
    }
}

#[test]
fn userspace_shims_are_not_the_kernels_values() {
    // include/linux/raid/pq.h builds in userspace too, with `# define
    // GFP_KERNEL 0` under the `#else` of `#ifdef __KERNEL__`.
    let shim =
        "#ifdef __KERNEL__\n#include <linux/slab.h>\n#else\n# define GFP_KERNEL\t0\n#endif\n";
    let uapi = "#ifndef __KERNEL__\n#define DEMO_SIZE 8\n#else\n#define DEMO_SIZE 16\n#endif\n";
    let gfp =
        "#define GFP_KERNEL (0x400u | 0x800u)\n#if defined(__KERNEL__)\n#define DEMO_K 1\n#endif\n";
    let t = tables(&[shim, uapi, gfp]);
    assert_eq!(value(&t, "GFP_KERNEL"), Some(0xc00));
    assert_eq!(value(&t, "DEMO_SIZE"), Some(16));
    assert_eq!(value(&t, "DEMO_K"), Some(1));
    // Other conditionals still count both ways: they must agree.
    let arch = "#ifdef CONFIG_X\n#define DEMO_A 1\n#else\n#define DEMO_A 2\n#endif\n";
    assert_eq!(value(&table(arch), "DEMO_A"), None);
}
