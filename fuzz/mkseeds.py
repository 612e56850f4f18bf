#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the seed inputs of fuzz_mm_api and fuzz_pt_api.

The seeds are binary, in the encodings the fuzzers decode (see the op_*
functions of fuzz_mm_api.c and fuzz_pt_api.c); this script is their
readable source. Each seed is a short scenario that reaches a path a
random start would take long to find: a THP shared by fork and written,
hugetlb copy-on-write, a private file mapping over a shared one, a full
machine, a collapse, an allocation that fails...

    fuzz/mkseeds.py [DIR]      (default: tests/fuzz-corpus)

writes DIR/mm_api/*.bin and DIR/pt_api/*.bin. Rerun it after changing an
encoding, and commit the result.
"""
import os
import sys

# ---------------------------------------------------------------- fuzz_mm_api

RAM = {16: 0, 32: 1, 64: 2, 24: 3}
THP = {"madvise": 0, "always": 1, "never": 2}
PROFILE = {"current": 0, "6.12": 1, "6.7": 2, "6.1": 3, "5.8": 4, "5.7": 5}
KIND = {"anon": 0, "shared": 3, "hugetlb": 4, "hugetlb-shared": 5, "file": 6, "pfile": 7}
MMAP_PROT = {"rw": 0, "r": 2, "none": 3}
MPROTECT = {"none": 0, "r": 1, "rw": 2, "w": 3}
ADVICE = {"dontneed": 0, "free": 1, "hugepage": 2, "nohugepage": 3}
ALIGN = {0: 0, "64K": 1, "2M": 2, "1G": 3}


def mm_header(ram=32, hugetlb=0, thp="madvise", profile="current"):
    assert hugetlb < 8
    return bytes([RAM[ram] | hugetlb << 2 | THP[thp] << 5, PROFILE[profile]])


def page(pg):
    assert 0 <= pg < 2048
    return bytes([pg & 0xFF, pg >> 8])


def length(n):
    """A length in pages that get_len() decodes exactly."""
    if 1 <= n <= 64:
        return bytes([n - 1])
    if n % 512 == 0 and 1 <= n // 512 <= 4:
        return bytes([0x40 | (n // 512 - 1)])
    if (n - 1) % 32 == 0 and (n - 1) // 32 < 64:
        return bytes([0xC0 | (n - 1) // 32])
    raise ValueError(n)


def mmap(p, kind, pg, n, prot="rw", placed=False, align=0, offset=False,
         hugepage=False, nohugepage=False, file=0, pgoff=0):
    kb = KIND[kind] | MMAP_PROT[prot] << 3
    a = ALIGN[align]
    fb = (int(placed) | (3 if a == 3 else a) << 1 | int(offset) << 3 | int(hugepage) << 4 |
          int(nohugepage and not hugepage) << 5 | file << 6 | int(a == 3) << 7)
    return bytes([0, p, kb, fb, pgoff // 4]) + page(pg) + length(n)


def munmap(p, pg, n):
    return bytes([2, p]) + page(pg) + length(n)


def mprotect(p, pg, n, prot):
    return bytes([3, p, MPROTECT[prot]]) + page(pg) + length(n)


def madvise(p, pg, n, advice):
    return bytes([4, p, ADVICE[advice]]) + page(pg) + length(n)


def mremap(p, src, dst=0, fixed=False, align=0, offset=False, wrong_len=False):
    b = int(fixed) | ALIGN[align] << 1 | int(offset) << 3 | (0x30 if wrong_len else 0)
    return bytes([5, p, b]) + page(src) + page(dst)


def fork(p):
    return bytes([6, p])


def exit_(p):
    return bytes([7, p])


def new_proc():
    return bytes([8, 0])


def write(p, pg, n, value, c0=0, c1=7, buffer=False):
    cb = c0 | c1 << 3 | 0x40
    return bytes([25 if buffer else 9, p, cb, value]) + page(pg) + length(n)


def read(p, pg, n):
    return bytes([11, p]) + page(pg) + length(n)


def fault(p, pg, write=False, remote=False, unshare=False):
    return bytes([12, p, int(write) | int(remote) << 1 | int(unshare) << 2]) + page(pg)


def thp(mode):
    return bytes([13, THP[mode]])


def shrink():
    return bytes([14, 1])


def fragment(order):
    return bytes([14, order << 1])


def unfragment():
    return bytes([14, 0])


def dump(p, pg, n):
    return bytes([15, p]) + page(pg) + length(n)


def mm_seeds():
    s = {}
    for prof in ("current", "5.7", "6.1"):
        s["thp-fork-cow-" + prof] = mm_header(thp="always", profile=prof) + b"".join([
            mmap(0, "anon", 0, 1024, hugepage=True),
            write(0, 0, 512, 0x11),
            fork(0),
            write(1, 3, 1, 0x22, c0=2, c1=4),
            read(0, 0, 8), read(1, 0, 8),
            write(0, 600, 1, 0x23),
            dump(0, 0, 1024),
            munmap(0, 256, 64),
            shrink(),
            mremap(0, 512, align="2M"),
            exit_(1),
            read(0, 0, 64),
        ])
    s["hugetlb-cow"] = mm_header(hugetlb=4) + b"".join([
        mmap(0, "hugetlb", 512, 512),
        write(0, 512, 1, 0x33),
        fork(0),
        write(1, 512, 1, 0x44),
        write(0, 513, 1, 0x55),
        read(0, 512, 2), read(1, 512, 2),
        madvise(1, 512, 512, "dontneed"),
        read(1, 512, 1),
        munmap(0, 512, 512),
        mmap(0, "hugetlb", 1024, 512, placed=True, align="2M"),
        mremap(0, 1024, dst=0, fixed=True),
        read(0, 0, 4),
    ])
    s["hugetlb-shared"] = mm_header(hugetlb=6) + b"".join([
        mmap(0, "hugetlb-shared", 1024, 1024),
        fork(0),
        write(0, 1024, 1, 0x66),
        read(1, 1024, 1),
        write(1, 1536, 1, 0x67),
        read(0, 1536, 1),
        munmap(0, 1024, 512),
        exit_(0),
        read(0, 1536, 1),
    ])
    s["shared-anon-fork"] = mm_header() + b"".join([
        mmap(0, "shared", 100, 16),
        write(0, 100, 16, 0x77),
        fork(0),
        write(1, 101, 1, 0x88, c0=1, c1=6),
        read(0, 100, 4),
        mprotect(1, 100, 16, "r"),
        write(1, 100, 1, 0x89),
        madvise(0, 100, 16, "dontneed"),
        read(0, 100, 16),
        mremap(1, 100, dst=1500, fixed=True),
        read(1, 1500, 16),
    ])
    s["file-private-over-shared"] = mm_header() + b"".join([
        mmap(0, "file", 0, 64),
        mmap(0, "pfile", 128, 64),
        write(0, 1, 1, 0x99),
        read(0, 129, 1),
        write(0, 129, 1, 0xAA, c0=0, c1=0),
        write(0, 1, 1, 0xBB),
        read(0, 129, 1),
        madvise(0, 129, 1, "dontneed"),
        read(0, 129, 1),
        fork(0),
        fault(1, 130, write=True),
        write(0, 2, 1, 0xCC),
        read(1, 130, 1), read(1, 2, 1),
        mmap(0, "file", 300, 64, file=1, pgoff=680),
        read(0, 300, 30),
        fault(0, 330),
    ])
    s["madv-free"] = mm_header() + b"".join([
        mmap(0, "anon", 0, 16),
        write(0, 0, 16, 0x12),
        madvise(0, 0, 16, "free"),
        read(0, 0, 2),
        write(0, 1, 1, 0x13, c0=3, c1=3),
        fork(0),
        read(1, 0, 16),
        madvise(1, 0, 8, "dontneed"),
        read(1, 0, 16),
    ])
    s["mprotect-thp"] = mm_header(thp="always") + b"".join([
        mmap(0, "anon", 512, 512),
        write(0, 512, 512, 0x21, buffer=True),
        mprotect(0, 600, 1, "r"),
        write(0, 600, 1, 0x22),
        fault(0, 600, write=True),
        mprotect(0, 600, 1, "rw"),
        write(0, 600, 1, 0x23),
        mprotect(0, 512, 512, "none"),
        read(0, 512, 1),
        mprotect(0, 512, 512, "w"),
        read(0, 700, 2),
        madvise(0, 512, 97, "nohugepage"),
        dump(0, 512, 512),
    ])
    s["fragmented"] = mm_header(ram=16, thp="always") + b"".join([
        fragment(3),
        mmap(0, "anon", 0, 1024, hugepage=True),
        write(0, 0, 1024, 0x31),
        unfragment(),
        mmap(0, "anon", 1024, 512, hugepage=True),
        write(0, 1024, 1, 0x32),
        read(0, 1030, 1),
    ])
    s["out-of-memory"] = mm_header(ram=16, hugetlb=2) + b"".join([
        mmap(0, "anon", 0, 2048),
        write(0, 0, 2048, 0x41),
        fork(0),
        write(1, 0, 2048, 0x42),
        read(0, 0, 64),
        exit_(1),
        write(0, 0, 1, 0x43),
    ])
    s["mremap"] = mm_header(thp="always") + b"".join([
        mmap(0, "anon", 0, 64),
        write(0, 0, 64, 0x51, buffer=True),
        mremap(0, 0, dst=1000, fixed=True),
        read(0, 1000, 64),
        mremap(0, 1000, wrong_len=True),
        mmap(0, "anon", 1024, 512, hugepage=True),
        write(0, 1024, 512, 0x52),
        mremap(0, 1024, dst=1537, fixed=True),
        read(0, 1537, 4),
        mremap(0, 1537, align="64K", offset=True, dst=3),
    ])
    s["placed"] = mm_header(profile="6.7") + b"".join([
        mmap(0, "anon", 0, 512, placed=True),
        mmap(0, "anon", 5, 97, placed=True, align="2M", offset=True),
        mmap(0, "hugetlb", 0, 512, placed=True),
        mmap(0, "shared", 0, 1024, placed=True, align="1G"),
        new_proc(),
        mmap(1, "anon", 0, 1, placed=True, align="64K"),
        write(1, 2047, 1, 0x61),
        dump(0, 0, 2048),
        thp("never"),
        exit_(0),
    ])
    return s


# ---------------------------------------------------------------- fuzz_pt_api

def pt_page(pg):
    assert 0 <= pg < 4096
    return bytes([pg & 0xFF, pg >> 8])


def attrs(write=False, dirty=False, accessed=False, sw=False, special=False):
    return (int(write) | int(dirty) << 1 | int(accessed) << 2 | int(sw) << 3 |
            (0x60 if special else 0))


def pt_map(pg, size_index, count=1, pfn=0, a=0, fail=0, unaligned_pfn=False):
    """size_index: the index in the format's page sizes, smallest first."""
    fb = (0xC0 | (fail - 1)) if fail else 0
    fb |= int(unaligned_pfn)
    return (bytes([0, size_index, a, count - 1, fb]) + pt_page(pg) +
            bytes([pfn & 0xFF, (pfn >> 8) & 0xFF, pfn >> 16]))


def pt_range(n):
    if 1 <= n <= 32:
        return bytes([n - 1])
    for sh in range(13):
        for k in range(1, 9):
            if k << sh == n:
                return bytes([0x80 | (sh << 3) | (k - 1)])
    raise ValueError(n)


def pt_unmap(pg, n, free=False, fail=0):
    fb = int(free) | ((0xC0 | ((fail - 1) & 7)) if fail else 0)
    if fail and free:
        fb &= ~6  # bits 1-2 both set would mean an unknown flag
    return bytes([2, fb]) + pt_page(pg) + pt_range(n)


def pt_protect(pg, n, set_=0, clear=0, fail=0):
    fb = (0xC0 | (fail - 1)) if fail else 0x10
    return bytes([3, set_, clear, fb]) + pt_page(pg) + pt_range(n)


def pt_split(pg, level, fail=0):
    return bytes([4, level, (0xC0 | (fail - 1)) if fail else 0]) + pt_page(pg)


def pt_collapse(pg, level):
    return bytes([5, level]) + pt_page(pg)


def pt_bits(pg, a, set_=True):
    return bytes([6 if set_ else 7, a]) + pt_page(pg)


def pt_seeds():
    tiny, x86_4l, x86_5l, keep = 0, 4, 5, 8
    D, A = attrs(dirty=True), attrs(accessed=True)
    s = {}
    # tiny: 4K, 8K (contiguous), 16K, 64K, 256K, 1M are indexes 0 to 5.
    s["tiny-collapse-split"] = bytes([tiny]) + b"".join([
        pt_map(0, 3, count=4, pfn=0x1000, a=attrs(write=True)),
        pt_collapse(0, 3),
        pt_split(0, 3),
        pt_split(16, 2),
        pt_bits(5, D),
        pt_protect(0, 8, set_=attrs(sw=True)),
        pt_unmap(4, 3),
        pt_collapse(0, 1),
        pt_map(4, 0, count=3, pfn=0x1004, a=attrs(write=True, sw=True)),
        pt_collapse(0, 1),
        pt_collapse(0, 2),
    ])
    s["tiny-contig"] = bytes([tiny]) + b"".join([
        pt_map(64, 1, count=4, pfn=0x200, a=A),
        pt_bits(66, D),
        pt_bits(67, D, set_=False),
        pt_protect(65, 2, set_=attrs(write=True)),
        pt_split(64, 0),
        pt_collapse(64, 1),
        pt_unmap(68, 1),
    ])
    s["tiny-large"] = bytes([tiny]) + b"".join([
        pt_map(0, 5, pfn=0x4000, a=attrs(write=True, accessed=True)),
        pt_unmap(100, 5),
        pt_protect(300, 20, clear=attrs(write=True)),
        pt_map(100, 0, count=4, pfn=0x4064),
        pt_map(1024, 4, count=2, pfn=0x8000),
        pt_split(1024, 3),
        pt_unmap(1024, 64),
    ])
    s["x86-4l"] = bytes([x86_4l]) + b"".join([
        pt_map(0, 1, pfn=0x200, a=attrs(write=True)),
        pt_map(512, 0, count=4, pfn=0x400),
        pt_split(0, 1),
        pt_collapse(0, 1),
        pt_protect(10, 4, set_=D),
        pt_unmap(0, 512, free=True),
    ])
    s["x86-5l"] = bytes([x86_5l]) + b"".join([
        pt_map(1024, 1, pfn=0x600),
        pt_bits(1030, A),
        pt_unmap(1030, 1),
    ])
    s["alloc-failure"] = bytes([tiny]) + b"".join([
        pt_map(3000, 0, pfn=0x10, fail=1),
        pt_map(3000, 0, pfn=0x10, fail=3),
        pt_map(3000, 0, pfn=0x10),
        pt_map(0, 4, pfn=0x100, fail=1),
        pt_map(0, 4, pfn=0x100),
        pt_unmap(5, 1, fail=1),
        pt_protect(7, 1, set_=D, fail=2),
        pt_split(0, 4, fail=1),
    ])
    s["keep-reclaim"] = bytes([tiny | keep]) + b"".join([
        pt_map(0, 0, count=4, pfn=0x20),
        pt_unmap(0, 4),
        pt_map(0, 3, pfn=0x40),
        pt_unmap(0, 16, free=True),
        pt_map(0, 2, count=2, pfn=0x80),
    ])
    s["special"] = bytes([tiny]) + b"".join([
        pt_map(32, 2, count=2, pfn=0x77, a=attrs(sw=True, special=True)),
        pt_split(32, 1),
        pt_bits(33, D),
        pt_protect(32, 8, set_=D),
        pt_collapse(32, 1),
        pt_unmap(34, 2),
    ])
    # A built format (shape 8: tiny's bits and a contiguous bit): 512-byte
    # pages, 8-entry directories, a 30-bit space, leaves at levels 0-4 and a
    # 4-item contiguous leaf at level 0.
    built = bytes([6, 8, 20, 0x02, 0, 2, 30])
    s["built-format"] = built + b"".join([
        pt_map(0, 0, count=4, pfn=0x100),
        pt_map(64, 1, count=2, pfn=0x140),
        pt_map(512, 3, pfn=0x1000),
        pt_split(512, 2),
        pt_protect(65, 2, set_=D),
        pt_unmap(0, 2),
    ])
    s["bad-format"] = bytes([6, 0x01, 0, 0, 3, 2, 0]) + bytes(8)
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz-corpus")
    for sub, seeds in (("mm_api", mm_seeds()), ("pt_api", pt_seeds())):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            assert len(data) <= 1024, name
            with open(os.path.join(d, name + ".bin"), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
