//! The process's global allocator: the system allocator, except that oversized requests only
//! reserve address space.
//!
//! Why: the protocol codec sizes each decoded array from the length field the peer sent
//! (`Vec::with_capacity(n)`) before it finds out the bytes are not there. A 16-byte frame
//! claiming four billion elements would ask for hundreds of GiB, and a failed allocation
//! aborts the whole process — every broker with it. Requests of 1 GiB and more are therefore
//! served by an `mmap` with `MAP_NORESERVE`: the kernel hands out untouched address space
//! without committing memory, the decoder fails on the missing bytes a few elements later, and
//! the mapping is returned. Only the one connection is closed. Legitimate allocations in the
//! sandbox stay far below the threshold (frames are capped at 100 MiB).

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size are reserved rather than committed.
pub(crate) const RESERVE_THRESHOLD: usize = 1 << 30;

/// System allocator with lazily committed oversized blocks (see the module docs).
pub(crate) struct ReservingAllocator;

#[cfg(unix)]
fn is_reserved(layout: Layout) -> bool {
    layout.size() >= RESERVE_THRESHOLD && layout.align() <= 4096
}

#[cfg(not(unix))]
fn is_reserved(_: Layout) -> bool {
    false
}

#[cfg(unix)]
unsafe fn reserve(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

#[cfg(unix)]
unsafe fn release(ptr: *mut u8, size: usize) {
    // SAFETY: `ptr` and `size` describe a mapping made by `reserve`.
    unsafe {
        libc::munmap(ptr.cast(), size);
    }
}

#[cfg(target_os = "linux")]
unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
    // SAFETY: `ptr`/`old` describe a mapping made by `reserve`; MAYMOVE lets the kernel move it.
    let moved = unsafe { libc::mremap(ptr.cast(), old, new, libc::MREMAP_MAYMOVE) };
    if moved == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        moved.cast()
    }
}

#[cfg(not(target_os = "linux"))]
unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
    let fresh = unsafe { reserve(new) };
    if !fresh.is_null() {
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, fresh, old.min(new));
            release(ptr, old);
        }
    }
    fresh
}

#[cfg(not(unix))]
unsafe fn reserve(_: usize) -> *mut u8 {
    std::ptr::null_mut()
}

#[cfg(not(unix))]
unsafe fn release(_: *mut u8, _: usize) {}

// SAFETY: every block comes from either `System` or `reserve`, chosen by a pure function of
// its layout, and is returned to the same source; mmap memory is page aligned and zeroed.
unsafe impl GlobalAlloc for ReservingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_reserved(layout) {
            unsafe { reserve(layout.size()) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_reserved(layout) {
            unsafe { reserve(layout.size()) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_reserved(layout) {
            unsafe { release(ptr, layout.size()) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_reserved(layout), is_reserved(new_layout)) {
            (false, false) => return unsafe { System.realloc(ptr, layout, new_size) },
            // Moving pages, not copying them: a copy would commit the whole reservation.
            (true, true) => return unsafe { remap(ptr, layout.size(), new_size) },
            _ => {}
        }
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_block_is_reserved_not_committed() {
        // 256 GiB: the plain system allocator refuses this on the reference machine.
        let layout = Layout::from_size_align(256 << 30, 8).unwrap();
        unsafe {
            let ptr = ReservingAllocator.alloc(layout);
            assert!(!ptr.is_null(), "the address space is reserved");
            ptr.write(7);
            assert_eq!(ptr.read(), 7);
            let grown = ReservingAllocator.realloc(ptr, layout, 512 << 30);
            assert_eq!(grown.read(), 7, "realloc keeps the contents");
            ReservingAllocator.dealloc(grown, Layout::from_size_align(512 << 30, 8).unwrap());
        }
    }

    #[test]
    fn ordinary_blocks_come_from_the_system_allocator() {
        let v: Vec<u8> = vec![1; 1024];
        assert_eq!(v.iter().map(|b| *b as usize).sum::<usize>(), 1024);
    }
}
