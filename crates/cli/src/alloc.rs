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

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

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
