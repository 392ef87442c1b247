#!/usr/bin/env python3
"""Regenerate functions.toml: the label entries, with the regular expressions
that find their deciding lines in each extracted tree.

    python3 corpus/recall/make_labels.py [--corpus DIR] [-o functions.toml]

Each L(...) call below is one label written by reading the code of the
listed versions; `decide` names (file, function, regex[, nth]) per line to
cite, looked up in $MMSTALL_CACHE/corpus/VERSION (scripts/corpus-trees.sh).
A regex that no longer matches stops the run naming version, file and
function, so a label never cites a line that does not say what it claims.
The function of a line is found lexically (the last definition starting in
column 0 above it). Python 3.11, standard library only.
"""
import argparse
import os
import re

CORPUS = os.path.join(os.environ.get("MMSTALL_CACHE", os.path.expanduser("~/.cache/mmstall")), "corpus")
HEADER = """# Labelled cross-era recall corpus for mmstall (issue 15).
#
# Every entry names one function of one real kernel tree (extracted by
# scripts/corpus-trees.sh into $MMSTALL_CACHE/corpus/VERSION) and says what the
# analyzer must report about it. The labels were written by reading the code;
# `lines` are file:line references into that tree (lock taken, downgrade,
# long call...) and `why` says in one sentence why the label holds. No kernel
# source text is kept here.
#
# Keys:
#   version   tree (era group: 2.6 | 3.x-4.x | 5.x | 6.x)
#   file      path in the tree of the labelled function
#   function  the function that makes the long call (or whose call the label is about)
#   expected  "flag": a finding of `rule` must speak about the function;
#             "clean": no finding of `rule` may
#   rule      MMS001 populate | MMS002 zap | MMS003 walk | MMS004 I/O wait | MMS005 rmap trylock
#   holder    (optional) the function that takes the lock, as lint names it
#             (SYSCALL_DEFINEn(x) and asmlinkage sys_x are both `sys_x`)
#   context   (optional) constant arguments the finding must carry ("downgrade=0")
#   via       (optional) functions that must be on the finding's call path, in order
#   not_via   (optional) functions that must not be on it (selects one path)
#   at        (optional) file:line of the labelled call: a finding there, or one
#             inside `function` carrying `context`, speaks about the entry; other
#             calls of the same function (another argument, another path) do not
#   operation (optional) the long operation the finding must name (its `operation`)
#   class     (optional) the class of issue 15 the entry exercises (1-7)
#   seed      (optional) the historical fix the entry belongs to
#
# A finding "speaks about" the function when the function is where the long
# call is, the holder, on the call path, or the long operation itself (an
# opaque catalogue entry), and holder/context/via/not_via match.
# corpus/recall/score.py (scripts/score-recall.sh) does the scoring.

# Paths linted in every tree besides the labelled files (one analysis over a
# scratch tree of hard links; lint takes one PATH).
[scope]
paths = ["mm", "kernel/fork.c", "fs/proc/task_mmu.c", "arch/x86/mm/fault.c", "include/linux"]"""


def funcs(v, f):
    """(line number, enclosing function, text) of every line of VERSION/FILE."""
    p=os.path.join(CORPUS, v, f)
    cur='?'; out=[]
    for i,l in enumerate(open(p,errors='replace'),1):
        if l[:1].isalpha() or l.startswith('SYSCALL'):
            m=re.match(r'^(?:SYSCALL_DEFINE\d\((\w+)|.*?\b(\w+)\s*\((?!\*))',l)
            if m and not l.rstrip().endswith(';') and not l.startswith(('struct','static struct','#')) or (m and l.startswith('SYSCALL')):
                cur=m.group(1) or m.group(2)
        out.append((i,cur,l))
    return out
cache = {}


def line(v, f, fn, rx, nth=0):
    """`file:N` of the nth line of function fn matching rx (comments skipped)."""
    key=(v,f)
    if key not in cache: cache[key]=funcs(v,f)
    r=re.compile(rx); hits=[]
    for i,cur,l in cache[key]:
        s=l.strip()
        if s.startswith(('*','/*','//')): continue
        if cur==fn and r.search(l): hits.append(i)
    if len(hits)<=nth: raise SystemExit(f"{v} {f} {fn}: no match for {rx!r} (hits {hits})")
    return f"{f}:{hits[nth]}"
labels = []


def L(versions, file, function, expected, rule, decide, why, **kw):
    """One label per version; a dict value picks per version ('*': the others)."""
    for v in versions.split():
        lines=[]
        for d in decide:
            f,fn,rx=d[:3]; nth=d[3] if len(d)>3 else 0
            if isinstance(f, dict): f=f.get(v, f.get('*'))
            if isinstance(fn, dict): fn=fn.get(v, fn.get('*'))
            if isinstance(rx, dict): rx=rx.get(v, rx.get('*'))
            if f is None or fn is None: continue
            lines.append(line(v,f,fn,rx,nth))
        ent=dict(version=v,file=file if isinstance(file,str) else file.get(v,file.get('*')),
                 function=function if isinstance(function,str) else function.get(v,function.get('*')),
                 expected=expected, rule=rule)
        for k in ('holder','context','via','not_via','at','operation'):
            if k in kw:
                val=kw[k]
                if isinstance(val,dict): val=val.get(v,val.get('*'))
                if val: ent[k]=val
        if 'cls' in kw: ent['class']=kw['cls']
        if 'seed' in kw: ent['seed']=kw['seed']
        ent['lines']=lines
        ent['why']=why if isinstance(why,str) else why.get(v,why.get('*'))
        labels.append(ent)
def q(s):
    return '"'+s.replace('\\','\\\\').replace('"','\\"')+'"'


def emit(path, header):
    out=[header]
    cur=None
    for e in labels:
        out.append('')
        out.append('[[function]]')
        for k in ('version','file','function','expected','rule','holder','context','via','not_via','at','operation','class','seed','lines','why'):
            if k not in e: continue
            val=e[k]
            if isinstance(val,list): out.append(f'{k} = [{", ".join(q(x) for x in val)}]')
            elif isinstance(val,int): out.append(f'{k} = {val}')
            else: out.append(f'{k} = {q(val)}')
    open(path,'w').write('\n'.join(out)+'\n')


# ---------------------------------------------------------------------------
# The labels
# ---------------------------------------------------------------------------
def build():
    ALL="2.6.27 2.6.28 2.6.29 2.6.36 2.6.37 3.10 4.3 4.4 4.19 4.20 5.4 5.10 6.1 6.12"
    LOCK=r'down_write|mmap_write_lock'
    mprot_holder={'2.6.27':'sys_mprotect','2.6.28':'sys_mprotect','4.19':'do_mprotect_pkey','4.20':'do_mprotect_pkey','5.4':'do_mprotect_pkey','5.10':'do_mprotect_pkey','6.1':'do_mprotect_pkey','6.12':'do_mprotect_pkey','*':'mprotect'}
    # ---- mprotect: change_protection under the write lock, every era
    L(ALL,'mm/mprotect.c','mprotect_fixup','flag','MMS003',
      [('mm/mprotect.c',mprot_holder,LOCK),('mm/mprotect.c','mprotect_fixup',r'^\s+change_protection\(')],
      "mprotect(2) takes the lock for write and mprotect_fixup() rewrites the page tables of the range with change_protection() before it returns")
    # ---- mprotect: populate when a locked private mapping becomes writable (4.x+)
    L("4.4 4.19 5.4 5.10 6.1 6.12",'mm/mprotect.c','mprotect_fixup','flag','MMS001',
      [('mm/mprotect.c',mprot_holder,LOCK),('mm/mprotect.c','mprotect_fixup',r'populate_vma_page_range\(')],
      "when a VM_LOCKED mapping becomes writable, mprotect_fixup() faults in the whole range with populate_vma_page_range() while mprotect(2) still holds the lock for write", cls=1)
    # ---- mremap: move_page_tables under write
    mrem={'2.6.27':'sys_mremap','2.6.28':'sys_mremap','*':'mremap'}
    L(ALL,'mm/mremap.c','move_vma','flag','MMS003',
      [('mm/mremap.c',mrem,LOCK),('mm/mremap.c','move_vma',r'moved_len = move_page_tables\(')],
      "mremap(2) holds the lock for write and move_vma() moves every page table entry of the mapping with move_page_tables()",
      operation=['move_page_tables','move_ptes'])
    # ---- dup_mmap: copy_page_range under oldmm's write lock
    L(ALL,'kernel/fork.c','dup_mmap','flag','MMS003',
      [('kernel/fork.c','dup_mmap',r'down_write\(&oldmm|down_write_killable\(&oldmm|mmap_write_lock_killable\(oldmm'),('kernel/fork.c','dup_mmap',r'retval = copy_page_range\(')],
      "fork takes the parent's (oldmm) lock for write and copies every page table of the parent with copy_page_range() in the VMA loop; the child's lock (mm) is a second, nested lock", cls=5)
    # ---- munmap(2): zap under write before 4.20
    mun={'2.6.27':'sys_munmap','2.6.28':'sys_munmap','2.6.29':'munmap','2.6.36':'munmap','2.6.37':'munmap','*':'vm_munmap'}
    L("2.6.27 2.6.28 2.6.29 2.6.36 2.6.37 3.10 4.3 4.4 4.19",'mm/mmap.c','unmap_region','flag','MMS002',
      [('mm/mmap.c',mun,r'down_write'),('mm/mmap.c','do_munmap',r'unmap_region\(mm'),('mm/mmap.c','unmap_region',r'unmap_vmas\(')],
      "munmap(2) takes the lock for write and do_munmap() zaps the range (unmap_region() -> unmap_vmas()) before the lock is dropped",
      holder={'2.6.27':'sys_munmap','2.6.28':'sys_munmap','2.6.29':'sys_munmap','2.6.36':'sys_munmap','2.6.37':'sys_munmap','*':'vm_munmap'}, via=['do_munmap'], seed="munmap-zap-4.20")
    # ---- 4.20 / 5.4: __do_munmap(.., downgrade)
    L("4.20 5.4 5.10",'mm/mmap.c','unmap_region','flag','MMS002',
      [('mm/mmap.c','vm_munmap',r'__vm_munmap\(start, len, false\)'),('mm/mmap.c','__vm_munmap',r'down_write_killable|mmap_write_lock_killable'),('mm/mmap.c','__do_munmap',r'unmap_region\(mm')],
      "vm_munmap() (in-kernel callers) passes downgrade=false: __do_munmap() zaps with unmap_region() under the write lock",
      holder='__vm_munmap', context=['downgrade=0'], cls=2, seed="munmap-zap-4.20")
    L("4.20 5.4 5.10",'mm/mmap.c','unmap_region','clean','MMS002',
      [('mm/mmap.c','munmap',r'__vm_munmap\(addr, len, true\)'),('mm/mmap.c','__do_munmap',r'downgrade_write|mmap_write_downgrade'),('mm/mmap.c','__do_munmap',r'unmap_region\(mm')],
      "munmap(2) passes downgrade=true: __do_munmap() detaches the VMAs, downgrades to read and only then zaps (unmap_region()); a VM_GROWSDOWN/UP neighbour cancels the downgrade at run time, which the label counts as downgraded",
      holder='__vm_munmap', context=['downgrade=1'], cls=2, seed="munmap-zap-4.20")
    L("6.1",'mm/mmap.c','unmap_region','flag','MMS002',
      [('mm/mmap.c','vm_munmap',r'__vm_munmap\(start, len, false\)'),('mm/mmap.c','__vm_munmap',r'mmap_write_lock_killable'),('mm/mmap.c','do_mas_align_munmap',r'unmap_region\(mm')],
      "vm_munmap() passes downgrade=false down do_mas_munmap() to do_mas_align_munmap(), which zaps with unmap_region() under the write lock",
      holder='__vm_munmap', context=['downgrade=0'], cls=2)
    L("6.1",'mm/mmap.c','unmap_region','clean','MMS002',
      [('mm/mmap.c','munmap',r'__vm_munmap\(addr, len, true\)'),('mm/mmap.c','do_mas_align_munmap',r'mmap_write_downgrade'),('mm/mmap.c','do_mas_align_munmap',r'unmap_region\(mm')],
      "munmap(2) passes downgrade=true: do_mas_align_munmap() downgrades before unmap_region()",
      holder='__vm_munmap', context=['downgrade=1'], cls=2)
    L("6.12",'mm/vma.c','vms_clear_ptes','flag','MMS002',
      [('mm/mmap.c','vm_munmap',r'__vm_munmap\(start, len, false\)'),('mm/mmap.c','__vm_munmap',r'mmap_write_lock_killable'),('mm/vma.c','vms_clear_ptes',r'unmap_vmas\(')],
      "vm_munmap() passes unlock=false: vms_complete_munmap_vmas() keeps the write lock and vms_clear_ptes() zaps with unmap_vmas()",
      holder='__vm_munmap', context=['unlock=0'], cls=2)
    L("6.12",'mm/vma.c','vms_clear_ptes','clean','MMS002',
      [('mm/mmap.c','munmap',r'__vm_munmap\(addr, len, true\)'),('mm/vma.c','vms_complete_munmap_vmas',r'mmap_write_downgrade'),('mm/vma.c','vms_clear_ptes',r'unmap_vmas\(')],
      "munmap(2) passes unlock=true: vms_complete_munmap_vmas() downgrades before vms_clear_ptes()",
      holder='__vm_munmap', context=['unlock=1'], cls=2)
    # ---- brk shrink
    brkf={'2.6.27':'sys_brk','2.6.28':'sys_brk','*':'brk'}
    L("2.6.27 2.6.29 2.6.36 3.10 4.4 4.19",'mm/mmap.c','unmap_region','flag','MMS002',
      [('mm/mmap.c',brkf,r'down_write'),('mm/mmap.c',brkf,r'do_munmap\(mm, newbrk'),('mm/mmap.c','do_munmap',r'unmap_region\(mm')],
      "shrinking the heap: brk(2) holds the lock for write and calls do_munmap() on the released range, which zaps it",
      holder='sys_brk', via=['do_munmap'], not_via={'4.19':['do_brk_flags'],'*':['do_brk']}, cls=4)
    L("4.20 5.4 5.10",'mm/mmap.c','unmap_region','clean','MMS002',
      [('mm/mmap.c','brk',r'__do_munmap\(mm, newbrk'),('mm/mmap.c','__do_munmap',r'downgrade_write|mmap_write_downgrade'),('mm/mmap.c','__do_munmap',r'unmap_region\(mm')],
      "shrinking the heap: brk(2) calls __do_munmap(.., downgrade=true), which downgrades before the zap (the do_brk_flags() -> do_munmap() path of heap growth is another path)",
      holder='sys_brk', not_via=['do_brk_flags','do_munmap'], cls=2, seed="munmap-zap-4.20")
    L("6.1",'mm/mmap.c','unmap_region','clean','MMS002',
      [('mm/mmap.c','do_brk_munmap',r'do_mas_align_munmap\(mas, vma, mm, newbrk, oldbrk, uf, true\)'),('mm/mmap.c','do_mas_align_munmap',r'mmap_write_downgrade'),('mm/mmap.c','do_mas_align_munmap',r'unmap_region\(mm')],
      "shrinking the heap: brk(2) -> do_brk_munmap() calls do_mas_align_munmap(.., downgrade=true), which downgrades before unmap_region()",
      holder='sys_brk', via=['do_brk_munmap'], cls=2)
    L("6.12",'mm/vma.c','vms_clear_ptes','clean','MMS002',
      [('mm/mmap.c','brk',r'do_vmi_align_munmap\(&vmi, brkvma'),('mm/vma.c','vms_complete_munmap_vmas',r'mmap_write_downgrade'),('mm/vma.c','vms_clear_ptes',r'unmap_vmas\(')],
      "shrinking the heap: brk(2) calls do_vmi_align_munmap(.., unlock=true), so vms_complete_munmap_vmas() downgrades before vms_clear_ptes()",
      holder='sys_brk', via=['do_vmi_align_munmap'], cls=2)
    # ---- mlock seeds (2.6.27 -> 2.6.28 downgrade -> 2.6.29 revert)
    L("2.6.27",'mm/mlock.c','mlock_fixup','flag','MMS001',
      [('mm/mlock.c','sys_mlock',r'down_write'),('mm/mlock.c','mlock_fixup',r'make_pages_present\(')],
      "mlock(2) holds the lock for write while mlock_fixup() faults the whole range in with make_pages_present() (get_user_pages)",
      holder='sys_mlock', seed="mlock-downgrade-2.6.28")
    L("2.6.28",'mm/mlock.c','__mlock_vma_pages_range','clean','MMS001',
      [('mm/mlock.c','mlock_fixup',r'downgrade_write'),('mm/mlock.c','mlock_fixup',r'ret = __mlock_vma_pages_range\('),('mm/mlock.c','__mlock_vma_pages_range',r'__get_user_pages\(')],
      "2.6.28 mlock_fixup() downgrades to read before __mlock_vma_pages_range() populates with __get_user_pages(), and retakes the write lock after",
      holder='sys_mlock', at=['mm/mlock.c:447'], context=['mlock=1'], cls=1, seed="mlock-downgrade-2.6.28")
    L("2.6.28",'mm/mlock.c','__mlock_vma_pages_range','flag','MMS004',
      [('mm/mlock.c','mlock_fixup',r'downgrade_write'),('mm/mlock.c','__mlock_vma_pages_range',r'^\s+lock_page\(')],
      "under the read hold left by the downgrade, __mlock_vma_pages_range() waits in lock_page() on every page it populated, without the retry protocol",
      holder='sys_mlock', cls=1, seed="mlock-downgrade-2.6.28")
    L("2.6.29 2.6.36 2.6.37",'mm/mlock.c','__mlock_vma_pages_range','flag','MMS001',
      [('mm/mlock.c','mlock',r'down_write'),('mm/mlock.c','mlock_fixup',r'ret = __mlock_vma_pages_range\('),('mm/mlock.c','__mlock_vma_pages_range',r'__get_user_pages\(')],
      "the 2.6.28 downgrade is reverted: mlock_fixup() calls __mlock_vma_pages_range() with the write lock of mlock(2) held, and it populates with __get_user_pages()",
      holder='sys_mlock', seed="mlock-downgrade-2.6.28", cls=1)
    L("2.6.29 2.6.36",'mm/mlock.c','__mlock_vma_pages_range','flag','MMS004',
      [('mm/mlock.c','mlock_fixup',r'ret = __mlock_vma_pages_range\('),('mm/mlock.c','__mlock_vma_pages_range',r'^\s+lock_page\(')],
      "the same lock_page() of every populated page, now under the write lock of mlock(2)",
      holder='sys_mlock', cls=1, seed="mlock-downgrade-2.6.28")
    L("2.6.36 3.10 4.4",'mm/mlock.c','munlock_vma_pages_range','flag','MMS004',
      [('mm/mlock.c','mlock_fixup',r'munlock_vma_pages_range\(vma'),('mm/mlock.c','munlock_vma_pages_range',r'^\s+lock_page\(')],
      "munlock(2) holds the lock for write; mlock_fixup() -> munlock_vma_pages_range() takes lock_page() of each page it finds with follow_page()",
      cls=1)
    L("3.10",'mm/mlock.c','__mm_populate','clean','MMS001',
      [('mm/mlock.c','mlock',r'up_write'),('mm/mlock.c','__mm_populate',r'down_read'),('mm/mlock.c','__mm_populate',r'__mlock_vma_pages_range\(')],
      "since 3.9 mlock(2) drops the write lock and __mm_populate() populates under its own read lock")
    L("4.4 4.19 5.4 5.10 6.1",'mm/gup.c','__mm_populate','clean','MMS001',
      [('mm/gup.c','__mm_populate',r'down_read\(|mmap_read_lock\('),('mm/gup.c','__mm_populate',r'populate_vma_page_range\(')],
      "__mm_populate() (mlock, MAP_POPULATE) takes only the read lock around populate_vma_page_range()")
    # ---- fault path: filemap_fault before and after the retry protocol (2.6.37)
    OTHER_WAITS=" The label is about that wait (findings through lock_page_or_retry): the function's other waits under the lock stay (the re-read of a page that is not up to date waits in wait_on_page_locked(), and page_cache_read() can enter reclaim; the lock is dropped for them only from 5.1, commit 6b4c9f446981)"
    L("2.6.27 2.6.28 2.6.29",'mm/filemap.c','filemap_fault','flag','MMS004',
      [('mm/filemap.c','filemap_fault',r'find_lock_page\('),('mm/filemap.c','filemap_fault',r'wait_on_page_locked\(')],
      "filemap_fault() is entered with the read lock held (do_page_fault) and waits for the page with find_lock_page() (lock_page) and wait_on_page_locked(), with no way to drop the lock",
      cls=6, seed="fault-retry-2.6.37")
    L("2.6.36",'mm/filemap.c','filemap_fault','flag','MMS004',
      [('arch/x86/mm/fault.c','do_page_fault',r'down_read\(&mm->mmap_sem\)'),('mm/filemap.c','filemap_fault',r'^\s+lock_page\(page\)')],
      "do_page_fault() takes the read lock, handle_mm_fault() reaches filemap_fault(), which waits in lock_page() for the page under I/O: the stall the 2.6.37 retry protocol fixed",
      cls=6, seed="fault-retry-2.6.37")
    L("2.6.37",'mm/filemap.c','filemap_fault','clean','MMS004',
      [('arch/x86/mm/fault.c','do_page_fault',r'FAULT_FLAG_ALLOW_RETRY'),('mm/filemap.c','filemap_fault',r'lock_page_or_retry\(')],
      "do_page_fault() sets FAULT_FLAG_ALLOW_RETRY and filemap_fault() waits with lock_page_or_retry(), which drops the lock and returns VM_FAULT_RETRY."+OTHER_WAITS,
      via=['lock_page_or_retry'], cls=6, seed="fault-retry-2.6.37")
    L("3.10 4.4 4.19",'mm/filemap.c','filemap_fault','clean','MMS004',
      [('mm/filemap.c','filemap_fault',r'lock_page_or_retry\(')],
      "filemap_fault() waits for the page only through lock_page_or_retry() (drops the lock when retry is allowed)."+OTHER_WAITS,
      via=['lock_page_or_retry'], cls=6)
    L("5.4 5.10",'mm/filemap.c','filemap_fault','clean','MMS004',
      [('mm/filemap.c','filemap_fault',r'lock_page_maybe_drop_mmap\(')],
      "filemap_fault() waits for the page only through lock_page_maybe_drop_mmap() (drops the lock when retry is allowed), and from 5.1 drops it for readahead and the re-read too. What allocating and charging the new page cache page under the lock can reach is another question, every fault's (not_via __alloc_pages_nodemask and try_charge: direct compaction, node reclaim and cgroup-v1 memcg reclaim under pagecache_get_page(FGP_CREAT), which the precision corpus judges per path)",
      not_via=['__alloc_pages_nodemask', 'try_charge'], cls=6)
    L("6.1 6.12",'mm/filemap.c','filemap_fault','clean','MMS004',
      [('mm/filemap.c','filemap_fault',r'lock_folio_maybe_drop_mmap\(')],
      "filemap_fault() waits for the folio only through lock_folio_maybe_drop_mmap() (drops the lock when retry is allowed)", cls=6)
    # ---- rmap trylock (MMS005), removed in 4.4
    L("2.6.28 2.6.29",'mm/rmap.c','try_to_mlock_page','flag','MMS005',
      [('mm/rmap.c','try_to_mlock_page',r'down_read_trylock\(&vma->vm_mm->mmap_sem\)')],
      "called from the anon/file reverse-map walks of try_to_unmap() for VM_LOCKED vmas, it trylocks the mm's mmap_sem to mlock the page", seed="rmap-trylock-4.4")
    L("2.6.28 2.6.29 2.6.36 3.10",'mm/rmap.c','try_to_unmap_cluster','flag','MMS005',
      [('mm/rmap.c','try_to_unmap_cluster',r'down_read_trylock\(&vma->vm_mm->mmap_sem\)')],
      "nonlinear-mapping part of the file reverse-map walk (try_to_unmap_file()); trylocks mmap_sem to mlock pages of VM_LOCKED vmas", seed="rmap-trylock-4.4")
    L("2.6.36 3.10 4.3",'mm/rmap.c','try_to_unmap_one','flag','MMS005',
      [('mm/rmap.c','try_to_unmap_one',r'down_read_trylock\(&vma->vm_mm->mmap_sem\)')],
      "the rmap_one step of try_to_unmap() trylocks the mm's mmap_sem to mlock a page of a VM_LOCKED vma", seed="rmap-trylock-4.4")
    L("4.4",'mm/rmap.c','try_to_unmap_one','clean','MMS005',
      [('mm/rmap.c','try_to_unmap_one',r'mlock_vma_page\(page\)')],
      "4.4 mlocks the page under the page table lock (no mmap_sem trylock left in the walk)", seed="rmap-trylock-4.4")
    L("4.19",'mm/khugepaged.c','khugepaged_scan_mm_slot','clean','MMS005',
      [('mm/khugepaged.c','khugepaged_scan_mm_slot',r'down_read_trylock\(&mm->mmap_sem\)')],
      "a trylock of mmap_sem in khugepaged's own scan, not reached from a reverse-map walk")
    # ---- reclaim under a fault (MMS004) and the single-argument loop macro
    L("2.6.27 2.6.28 2.6.29",'mm/vmscan.c','shrink_zone','flag','MMS004',
      [('mm/vmscan.c',{'2.6.27':'shrink_zone','*':'shrink_zone'},{'2.6.27':r'shrink_inactive_list\(','*':r'for_each_evictable_lru\(l\)'}),
       ('mm/vmscan.c',{'2.6.27':None,'*':'shrink_zone'},r'for_each_evictable_lru\(l\)',1),
       ('mm/vmscan.c','handle_write_error',r'^\s+lock_page\(')],
      {'2.6.27':"reclaim entered under the mmap lock (a fault's allocation, a memcg charge while mbind migrates under write) runs shrink_zone() -> shrink_inactive_list() -> shrink_page_list() -> pageout(), whose write error path waits in lock_page()",
       '*':"reclaim entered under the mmap lock (a fault's allocation, a memcg charge while mbind migrates under write) runs shrink_zone(), whose two for_each_evictable_lru(l) loops reach shrink_list() -> shrink_inactive_list() -> shrink_page_list() -> pageout() and its lock_page() on a write error"},
      cls=3)
    # ---- /proc/PID/mem and ptrace: __access_remote_vm
    acc={'2.6.27':'access_process_vm','2.6.36':'access_process_vm','*':'__access_remote_vm'}
    L("2.6.27 2.6.36 3.10 4.19 5.4 5.10 6.1 6.12",'mm/memory.c',acc,'flag','MMS004',
      [('mm/memory.c',acc,r'down_read|mmap_read_lock'),('mm/memory.c',acc,r'set_page_dirty_lock\(')],
      "the remote access (ptrace, /proc/PID/mem) holds the target's read lock and, after writing into a page, calls set_page_dirty_lock(), which waits in lock_page()")
    # ---- madvise: DONTNEED/WILLNEED take the read lock (the mode depends on the behavior)
    mad={'4.20':'madvise','5.4':'madvise','*':'do_madvise'}
    L("4.20 5.4 5.10 6.1 6.12",'mm/madvise.c','madvise_dontneed_free','clean','MMS002',
      [('mm/madvise.c','madvise_need_mmap_write',r'case MADV_DONTNEED:'),('mm/madvise.c',mad,r'down_read\(|mmap_read_lock\('),('mm/madvise.c','madvise_dontneed_single_vma',r'zap_page_range')],
      "madvise_need_mmap_write() returns 0 for MADV_DONTNEED/MADV_FREE, so madvise(2) zaps with the read lock only; the write lock is taken only for behaviors that never reach the zap")
    L("4.20 5.4 5.10 6.1 6.12",'mm/madvise.c','madvise_willneed','clean','MMS003',
      [('mm/madvise.c','madvise_need_mmap_write',r'case MADV_WILLNEED:'),({'4.20':'mm/madvise.c','*':'mm/madvise.c'},{'4.20':'force_swapin_readahead','*':'madvise_willneed'},r'walk_page_range\(')],
      "MADV_WILLNEED runs its swap-in page-table walk under the read lock (madvise_need_mmap_write() returns 0 for it)")
    # ---- /proc/PID/{smaps,clear_refs,pagemap}
    L("2.6.36 3.10 4.4",'fs/proc/task_mmu.c','show_smap','clean','MMS003',
      [('fs/proc/task_mmu.c','m_start',r'down_read'),('fs/proc/task_mmu.c','show_smap',r'walk_page_range\(|walk_page_vma\(')],
      "seq_file m_start() takes the read lock; show_smap() walks the VMA's page tables under it")
    L("4.19 4.20 5.4 5.10 6.1 6.12",'fs/proc/task_mmu.c','smap_gather_stats','clean','MMS003',
      [('fs/proc/task_mmu.c','smap_gather_stats',r'walk_page_vma\(|walk_page_range\(')],
      "smaps and smaps_rollup walk under the read lock taken by m_start()/show_smaps_rollup()")
    L("2.6.36 3.10",'fs/proc/task_mmu.c','clear_refs_write','clean','MMS003',
      [('fs/proc/task_mmu.c','clear_refs_write',r'down_read'),('fs/proc/task_mmu.c','clear_refs_write',r'walk_page_range\(')],
      "clear_refs walks every VMA under the read lock")
    L("4.4 4.19 4.20 5.4 5.10",'fs/proc/task_mmu.c','clear_refs_write','clean','MMS003',
      [('fs/proc/task_mmu.c','clear_refs_write',r'downgrade_write|mmap_write_downgrade'),('fs/proc/task_mmu.c','clear_refs_write',r'walk_page_range\(')],
      "for soft-dirty, clear_refs_write() takes the write lock only to clear VM_SOFTDIRTY and downgrades before walk_page_range()", cls=2)
    L("6.1 6.12",'fs/proc/task_mmu.c','clear_refs_write','flag','MMS003',
      [('fs/proc/task_mmu.c','clear_refs_write',r'mmap_write_lock_killable'),('fs/proc/task_mmu.c','clear_refs_write',r'walk_page_range\(')],
      "clear_refs_write() now holds the write lock across walk_page_range() of the whole address space")
    L("2.6.36 3.10 4.4 4.20 5.4 5.10",'fs/proc/task_mmu.c','pagemap_read','clean','MMS003',
      [('fs/proc/task_mmu.c','pagemap_read',r'down_read|mmap_read_lock'),('fs/proc/task_mmu.c','pagemap_read',r'walk_page_range\(')],
      "pagemap_read() walks under the read lock")
    # ---- mbind: page-table walk under write; migrate_pages: under read
    mb={'2.6.27':'check_range','2.6.36':'check_range','3.10':'check_range','*':'queue_pages_range'}
    L("2.6.27 2.6.36 3.10 4.4 4.19 5.4 5.10 6.1 6.12",'mm/mempolicy.c',mb,'flag','MMS003',
      [('mm/mempolicy.c','do_mbind',r'down_write|mmap_write_lock'),('mm/mempolicy.c','do_mbind',r'check_range\(|queue_pages_range\('),
       ('mm/mempolicy.c',mb,{'2.6.27':r'check_pgd_range\(','2.6.36':r'check_pgd_range\(','3.10':r'check_pgd_range\(','*':r'walk_page_range\('})],
      {'2.6.27':"mbind(2) holds the lock for write while check_range() walks the page tables by hand (check_pgd_range -> check_pte_range) to queue pages",
       '2.6.36':"mbind(2) holds the lock for write while check_range() walks the page tables by hand (check_pgd_range -> check_pte_range) to queue pages",
       '3.10':"mbind(2) holds the lock for write while check_range() walks the page tables by hand (check_pgd_range -> check_pte_range) to queue pages",
       '*':"mbind(2) holds the lock for write while queue_pages_range() walks the page tables with walk_page_range()"},
      cls=1)
    L("2.6.36 4.4 5.4",'mm/mempolicy.c','migrate_to_node','clean','MMS003',
      [('mm/mempolicy.c','do_migrate_pages',r'down_read'),('mm/mempolicy.c','migrate_to_node',r'check_range\(|queue_pages_range\(')],
      "migrate_pages(2): do_migrate_pages() takes only the read lock around the walks of migrate_to_node()")
    # ---- mincore under read
    L("4.4 4.19 5.4 5.10 6.1 6.12",'mm/mincore.c','do_mincore','clean','MMS003',
      [('mm/mincore.c','mincore',r'down_read|mmap_read_lock'),('mm/mincore.c','do_mincore',r'walk_page_range\(')],
      "mincore(2) walks with walk_page_range() under the read lock")
    mad26={'2.6.27':'sys_madvise','*':'madvise'}
    L("2.6.27 2.6.29 2.6.37",'mm/madvise.c','madvise_dontneed','clean','MMS002',
      [('mm/madvise.c','madvise_need_mmap_write',r'case MADV_DONTNEED:'),('mm/madvise.c',mad26,r'down_read\('),('mm/madvise.c','madvise_dontneed',r'zap_page_range\(',1)],
      "madvise_need_mmap_write() returns 0 for MADV_DONTNEED, so madvise(2) zaps with zap_page_range() under the read lock only")
    L("2.6.37",'mm/mempolicy.c','migrate_to_node','clean','MMS003',
      [('mm/mempolicy.c','do_migrate_pages',r'down_read'),('mm/mempolicy.c','migrate_to_node',r'check_range\(')],
      "migrate_pages(2): do_migrate_pages() takes only the read lock around the walks of migrate_to_node()")


def main():
    global CORPUS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("-o", "--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "functions.toml"))
    args = ap.parse_args()
    CORPUS = args.corpus
    build()
    emit(args.output, HEADER)
    print(f"{len(labels)} labels written to {args.output}")


if __name__ == "__main__":
    main()
