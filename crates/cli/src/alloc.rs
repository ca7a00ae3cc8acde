//! The global allocator of the `touchstone` binary and of the benches (which include
//! this file with `#[path]`, so both measure and ship one allocator): mimalloc, called
//! through its plain entry points whenever they already give the alignment asked for.
//!
//! Why not `mimalloc::MiMalloc`: it calls `mi_malloc_aligned` for every allocation.
//! mimalloc's aligned fast path only serves a block from a page whose free list is not
//! empty; otherwise a size that is not a power of two (a 24-byte `String`, a 40-byte
//! node) is over-allocated into the next size class through its generic path (about
//! 250 instructions instead of 20), and the blocks freed back to its own class wait
//! there. Every block `mi_malloc` returns is aligned to 8 bytes (its size classes are
//! multiples of 8), so for alignments up to [`PLAIN_ALIGN`] the plain calls are exact.
//! Measured with `benches/profile.rs` under callgrind: 2-3% fewer instructions per
//! request on every `http/*` and `answer/*` case (`benches/README.md`, sixth session).
//!
//! mimalloc rather than the system allocator at all: the mock allocates and frees on
//! both worker threads (tokio moves connections between them), and glibc's arenas then
//! contend. Measured with `benches/mock_throughput.rs` (64 connections, 2 cores):
//! Identify 51k -> 89k requests/s with jemalloc preloaded; mimalloc is what ships.
//!
//! **Memory is taken in small pages and kept** (measured with
//! `benches/mock_throughput.rs` on a 2-core VM, `benches/README.md`, seventh session):
//! - mimalloc asks the kernel for transparent huge pages (`MADV_HUGEPAGE`). The first
//!   touch of each 2 MB page then zeroes (and may compact) it all at once, inside
//!   whichever request touched it: every full bench run had an Enumerate round at
//!   0.15-0.26x bare and a p99 of up to 25 ms, and `perf` put both cores in the kernel's
//!   `clear_page` from `to_xml_bytes` during it. The `no_thp` feature of
//!   `libmimalloc-sys` (set in the workspace manifest) leaves that `madvise` out, so
//!   the kernel gives 4 KB pages, the same bytes spread over many small faults (at
//!   about 4% of Identify's throughput, from TLB misses; Get showed no change). Where
//!   the system's THP setting is `always` rather than `madvise`, the kernel may still
//!   use huge pages; `MIMALLOC_ALLOW_THP=0` turns them off for the process.
//! - mimalloc's default gives pages that stayed free for a second back to the kernel,
//!   and a busy mock needs them again moments later, so the kernel maps and zeroes
//!   fresh ones over and over: 24k-28k page faults per bench run against about 0.4k
//!   without it, and 8% of all CPU in `clear_page` during an Enumerate load.
//!   [`configure`], run before `main`, turns purging off: the process keeps the memory
//!   of its busiest moment. `MIMALLOC_PURGE_DELAY` in the environment chooses
//!   otherwise.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_t` numbering, version 3), which
/// `libmimalloc-sys` does not name: how long freed memory waits before it is given
/// back to the kernel, in milliseconds; -1 never. A test checks that mimalloc reads
/// `MIMALLOC_PURGE_DELAY` into this option.
const PURGE_DELAY: mi::mi_option_t = 15;

/// Run by the loader before `main` (an ELF initializer), so the binary and every bench
/// that includes this file start with the same settings without a call to forget.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static CONFIGURE: extern "C" fn() = {
    extern "C" fn at_start() {
        configure();
    }
    at_start
};

/// Keeps freed memory mapped (see the module documentation), unless the environment
/// sets `MIMALLOC_PURGE_DELAY`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is allowed at any time; mimalloc reads this one
        // whenever it considers purging.
        unsafe { mi::mi_option_set(PURGE_DELAY, -1) };
    }
}

/// The largest alignment every block of mimalloc's plain `mi_malloc` has.
const PLAIN_ALIGN: usize = 8;

/// mimalloc, through its plain entry points for alignments up to [`PLAIN_ALIGN`].
pub struct Allocator;

// SAFETY: each method forwards to the mimalloc function that honours `layout`: the
// plain ones return 8-aligned blocks (mimalloc's size classes are multiples of 8) and
// are only used when `layout.align() <= 8`; the aligned ones otherwise. Blocks from
// either family are freed and reallocated by `mi_free` and `mi_realloc*`, which accept
// both. A null return (out of memory) is passed on, as `GlobalAlloc` requires.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl; the size and alignment come from a valid `Layout`.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps its
        // alignment by the same rule as `alloc`.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No memory of the allocator is marked for transparent huge pages (`no_thp`): the
    /// kernel's mapping that holds a small and a large block has no `hg`
    /// (`MADV_HUGEPAGE`) flag in `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    #[test]
    fn no_block_lives_in_memory_marked_for_huge_pages() {
        let smaps = |addr: usize| -> String {
            let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let mut flags = None;
            let mut inside = false;
            for line in text.lines() {
                let range = line.split_whitespace().next().unwrap_or("");
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&addr);
                        continue;
                    }
                }
                if inside {
                    if let Some(f) = line.strip_prefix("VmFlags:") {
                        flags = Some(f.to_owned());
                    }
                }
            }
            flags.unwrap_or_else(|| panic!("no mapping holds {addr:#x}"))
        };
        let a = Allocator;
        for size in [64, 16 << 20] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero size; freed below.
            let p = unsafe { a.alloc(layout) };
            assert!(!p.is_null());
            // SAFETY: `p` holds `size` bytes.
            unsafe { p.write_bytes(1, size) };
            let flags = smaps(p as usize);
            // SAFETY: `p` came from `a` with `layout`.
            unsafe { a.dealloc(p, layout) };
            assert!(
                !flags.split_whitespace().any(|f| f == "hg"),
                "a {size}-byte block lives in memory marked MADV_HUGEPAGE: {flags}"
            );
        }
    }

    /// The option this file sets is the one mimalloc calls purge delay: a child process
    /// started with `MIMALLOC_PURGE_DELAY` finds that value in it, and one started
    /// without finds -1, set before `main`.
    #[test]
    fn purge_delay_is_the_option_mimalloc_reads_from_its_variable() {
        const CHILD: &str = "TOUCHSTONE_ALLOC_CHILD_EXPECTS";
        if let Ok(expected) = std::env::var(CHILD) {
            // SAFETY: reading an option.
            let got = unsafe { mi::mi_option_get(PURGE_DELAY) };
            assert_eq!(got.to_string(), expected);
            return;
        }
        let exe = std::env::current_exe().unwrap();
        for (variable, expected) in [(Some("1234"), "1234"), (None, "-1")] {
            let mut child = std::process::Command::new(&exe);
            child
                .args([
                    "--exact",
                    "alloc::tests::purge_delay_is_the_option_mimalloc_reads_from_its_variable",
                    "--nocapture",
                ])
                .env(CHILD, expected)
                .env_remove("MIMALLOC_PURGE_DELAY");
            if let Some(v) = variable {
                child.env("MIMALLOC_PURGE_DELAY", v);
            }
            let out = child.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "child with {variable:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Sizes that are and are not powers of two, around mimalloc's small, medium and
    /// large classes.
    const SIZES: [usize; 14] = [
        1,
        7,
        8,
        24,
        40,
        100,
        1000,
        1024,
        4000,
        10_000,
        70_000,
        300_000,
        1 << 20,
        3 << 20,
    ];
    const ALIGNS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 4096];

    /// Many live blocks of each size and alignment, so pages fill and the allocator's
    /// slower paths run too: each is aligned as asked, holds what was written to it,
    /// and survives a reallocation (growing and shrinking) with its contents.
    #[test]
    fn every_block_is_aligned_and_keeps_its_bytes() {
        let a = Allocator;
        for &align in &ALIGNS {
            for &size in &SIZES {
                let layout = Layout::from_size_align(size, align).unwrap();
                let count = if size > 100_000 { 3 } else { 64 };
                let mut blocks = Vec::new();
                for i in 0..count {
                    // SAFETY: a non-zero size; the block is freed below.
                    let p = unsafe {
                        if i % 2 == 0 {
                            a.alloc(layout)
                        } else {
                            a.alloc_zeroed(layout)
                        }
                    };
                    assert!(!p.is_null(), "size {size} align {align}");
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    if i % 2 == 1 {
                        // SAFETY: `p` holds `size` bytes.
                        let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                        assert!(bytes.iter().all(|&b| b == 0), "zeroed {size}");
                    }
                    // SAFETY: `p` holds `size` bytes.
                    unsafe { p.write_bytes(i as u8, size) };
                    blocks.push((p, i as u8));
                }
                for (mut p, fill) in blocks {
                    // Grow to three times the size, then shrink to half of it.
                    let mut current = size;
                    for new_size in [size * 3, size.div_ceil(2)] {
                        let kept = current.min(new_size);
                        let layout = Layout::from_size_align(current, align).unwrap();
                        // SAFETY: `p` came from `a` with `layout`; the sizes are not 0.
                        let q = unsafe { a.realloc(p, layout, new_size) };
                        assert!(!q.is_null());
                        assert_eq!(q as usize % align, 0, "realloc {current}->{new_size}");
                        // SAFETY: `q` holds at least `kept` bytes.
                        let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
                        assert!(bytes.iter().all(|&b| b == fill), "contents {size}");
                        p = q;
                        current = new_size;
                    }
                    let layout = Layout::from_size_align(current, align).unwrap();
                    // SAFETY: `p` came from `a` with `layout`.
                    unsafe { a.dealloc(p, layout) };
                }
            }
        }
    }
}
