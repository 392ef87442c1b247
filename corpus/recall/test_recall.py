"""Tests of the recall scorer and the replay's still-in-code check.

    python3 -m unittest discover -s corpus/recall
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import replay  # noqa: E402
import score  # noqa: E402


def label(**kw) -> score.Label:
    base = dict(index=1, version="4.20", file="mm/mmap.c", function="unmap_region",
                expected="flag", rule="MMS002", why="w", lines=["mm/mmap.c:1"])
    base.update(kw)
    return score.Label(**base)


def finding(**kw) -> dict:
    base = {"code": "MMS002", "file": "mm/mmap.c", "line": 2814, "function": "__do_munmap",
            "holder": "__vm_munmap", "operation": "unmap_region",
            "call_path": ["__vm_munmap", "__do_munmap"], "context": ["downgrade=0"]}
    base.update(kw)
    return base


class Matching(unittest.TestCase):
    def test_opaque_operation_counts_for_its_own_rule_only(self):
        self.assertTrue(score.matches(label(), finding()))
        self.assertFalse(score.matches(label(rule="MMS001"), finding()))

    def test_function_must_be_site_holder_path_or_operation(self):
        self.assertFalse(score.matches(label(function="vms_clear_ptes"), finding()))
        self.assertTrue(score.matches(label(function="__do_munmap"), finding()))

    def test_holder_and_context_narrow(self):
        self.assertTrue(score.matches(label(holder="__vm_munmap", context=["downgrade=0"]), finding()))
        self.assertFalse(score.matches(label(holder="sys_brk"), finding()))
        self.assertFalse(score.matches(label(context=["downgrade=1"]), finding()))

    def test_via_in_order_and_not_via(self):
        f = finding(holder="sys_brk", call_path=["sys_brk", "do_brk_flags", "do_munmap", "__do_munmap"],
                    context=[])
        self.assertTrue(score.matches(label(via=["do_brk_flags", "__do_munmap"]), f))
        self.assertFalse(score.matches(label(via=["__do_munmap", "do_brk_flags"]), f))
        self.assertFalse(score.matches(label(not_via=["do_brk_flags"]), f))

    def test_at_selects_the_call_site(self):
        lb = label(file="mm/mlock.c", function="__mlock_vma_pages_range", rule="MMS001",
                   at=["mm/mlock.c:447"], context=["mlock=1"])
        at_site = finding(code="MMS001", file="mm/mlock.c", line=447, function="mlock_fixup",
                          operation="__mlock_vma_pages_range", context=[])
        other_call = dict(at_site, line=475)
        inside = finding(code="MMS001", file="mm/mlock.c", line=197, function="__mlock_vma_pages_range",
                         operation="__get_user_pages", context=["mlock=1"])
        self.assertTrue(score.matches(lb, at_site))
        self.assertFalse(score.matches(lb, other_call))
        self.assertTrue(score.matches(lb, inside))
        self.assertFalse(score.matches(lb, dict(inside, context=["mlock=0"])))

    def test_operation_filter(self):
        lb = label(file="mm/mremap.c", function="move_vma", rule="MMS003", operation=["move_page_tables"])
        f = finding(code="MMS003", file="mm/mremap.c", function="move_vma", operation="ksm_madvise")
        self.assertFalse(score.matches(lb, f))
        self.assertTrue(score.matches(lb, dict(f, operation="move_page_tables")))

    def test_same_named_function_of_another_file(self):
        f = finding(file="arch/x86/mm/x.c", function="unmap_region", call_path=["h"])
        self.assertFalse(score.matches(label(), f))


class Labels(unittest.TestCase):
    def write(self, text: str) -> str:
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as fh:
            fh.write(textwrap.dedent(text))
        self.addCleanup(os.unlink, path)
        return path

    def test_errors_name_the_entry_and_key(self):
        entry = '[[function]]\nversion="6.1"\nfile="f"\nfunction="g"\nrule="MMS001"\nwhy="w"\nlines=[]\n'
        with self.assertRaisesRegex(score.LabelError, r"#1: missing key `expected`"):
            score.load_labels(self.write(entry))
        with self.assertRaisesRegex(score.LabelError, r"expected must be flag or clean"):
            score.load_labels(self.write(entry + 'expected="maybe"\n'))
        with self.assertRaisesRegex(score.LabelError, r"unknown key\(s\) \['mood'\]"):
            score.load_labels(self.write(entry + 'expected="flag"\nmood=1\n'))
        with self.assertRaisesRegex(score.LabelError, r"no era group"):
            score.load_labels(self.write(entry.replace('"6.1"', '"7.0"') + 'expected="flag"\n'))

    def test_the_corpus(self):
        labels, scope = score.load_labels(os.path.join(HERE, "functions.toml"))
        self.assertGreaterEqual(len(labels), 80)
        self.assertIn("mm", scope)
        for era in score.ERAS:
            group = [lb for lb in labels if lb.era == era]
            self.assertTrue(any(lb.expected == "flag" for lb in group), era)
            self.assertTrue(any(lb.expected == "clean" for lb in group), era)
        self.assertGreaterEqual(len({lb.version for lb in labels}), 8)
        for lb in labels:
            self.assertTrue(lb.lines and lb.why, lb.name())
            for ref in lb.lines:
                path, _, num = ref.rpartition(":")
                self.assertTrue(path and num.isdigit(), ref)
        keys = [(lb.version, lb.file, lb.function, lb.rule, lb.holder, tuple(lb.context),
                 tuple(lb.via), tuple(lb.not_via)) for lb in labels]
        self.assertEqual(len(keys), len(set(keys)), "duplicate labels")


class Scoring(unittest.TestCase):
    def run_score(self, findings: list[dict], target: str = "0.95"):
        tmp = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
        labels = os.path.join(tmp, "l.toml")
        with open(labels, "w") as fh:
            fh.write(textwrap.dedent('''
                [[function]]
                version = "4.20"
                file = "mm/mmap.c"
                function = "unmap_region"
                expected = "flag"
                rule = "MMS002"
                lines = ["mm/mmap.c:1"]
                why = "w"

                [[function]]
                version = "4.20"
                file = "mm/madvise.c"
                function = "madvise_dontneed_free"
                expected = "clean"
                rule = "MMS002"
                lines = ["mm/madvise.c:1"]
                why = "w"
                '''))
        with open(os.path.join(tmp, "4.20.json"), "w") as fh:
            json.dump({"findings": findings}, fh)
        return subprocess.run([sys.executable, os.path.join(HERE, "score.py"), "--binary", sys.executable,
                               "--labels", labels, "--from-json", tmp, "--target", target],
                              capture_output=True, text=True)

    def test_all_found_and_kept_is_exit_0(self):
        proc = self.run_score([finding()])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("3.x-4.x   1/1 = 1.00", proc.stdout)

    def test_a_miss_and_a_false_report_are_listed_and_exit_1(self):
        fp = finding(file="mm/madvise.c", function="madvise_vma", holder="sys_madvise",
                     operation="madvise_dontneed_free", call_path=["sys_madvise", "madvise_vma"], context=[])
        proc = self.run_score([fp])
        self.assertEqual(proc.returncode, 1)
        self.assertIn("0/1 = 0.00", proc.stdout)
        self.assertIn("- missed: 4.20 mm/mmap.c unmap_region flag MMS002", proc.stdout)
        self.assertIn("- reported: 4.20 mm/madvise.c madvise_dontneed_free clean MMS002", proc.stdout)

    def test_missing_saved_output_is_exit_3(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", tmp]))
        proc = subprocess.run([sys.executable, os.path.join(HERE, "score.py"), "--binary", sys.executable,
                               "--from-json", tmp, "--version", "6.12"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 3, proc.stderr)


class StillInCode(unittest.TestCase):
    @staticmethod
    def source(text: str) -> replay.Source:
        src = replay.Source.__new__(replay.Source)
        src.bodies = {}
        src._index(textwrap.dedent(text))
        return src

    OLD = """
        long sys_x(void)
        {
        \tdown_write(&mm->mmap_sem);
        \tfixup();
        \tup_write(&mm->mmap_sem);
        }
        static int fixup(void)
        {
        \tpopulate();
        }
        """

    def test_unchanged_chain_still_exists(self):
        f = {"holder": "sys_x", "function": "fixup", "operation": "populate", "call_path": ["sys_x", "fixup"]}
        new = self.source(textwrap.dedent(self.OLD).replace("\tfixup();", "\thelper();")
                          + "void helper(void)\n{\n\tfixup();\n}\n")
        self.assertTrue(replay.still_in_code(self.source(self.OLD), new, f))

    def test_a_downgrade_on_the_path_or_a_removed_call_is_a_fix(self):
        f = {"holder": "sys_x", "function": "fixup", "operation": "populate", "call_path": ["sys_x", "fixup"]}
        downgraded = self.OLD.replace("\tpopulate();", "\tdowngrade_write(&mm->mmap_sem);\n\tpopulate();")
        self.assertFalse(replay.still_in_code(self.source(self.OLD), self.source(downgraded), f))
        removed = self.OLD.replace("\tpopulate();", "\tnothing();")
        self.assertFalse(replay.still_in_code(self.source(self.OLD), self.source(removed), f))
        gone = self.OLD.replace("static int fixup(void)", "static int fixup2(void)")
        self.assertIsNone(replay.still_in_code(self.source(self.OLD), self.source(gone), f))


if __name__ == "__main__":
    unittest.main()
