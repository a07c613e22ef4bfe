//! Intel AMX: detecting the tiles, asking Linux for their state, and the 2 x 2-tile block kernel
//! of the bf16 GEMM (`tdpbf16ps`, `f32` accumulators), written as inline assembly because stable
//! Rust has no AMX intrinsics.
//!
//! A tile instruction is SIGILL until the process has asked the kernel for the tile data state
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), so the tiles are used only after
//! `supported` has seen the CPU flags, the OS-enabled state in XCR0, and that request succeed,
//! once per process. The tile state is per thread: each thread configures its tiles
//! (`ldtilecfg`) before a run of blocks and releases them after, and no tile value lives across
//! two `asm!` blocks, so the compiler never needs to know about them between calls.

use super::bf16::{BLOCK, TILE};

/// True when this CPU and OS run AMX bf16 tiles and this process has been granted their state.
pub fn supported() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| imp::cpu_and_os() && imp::request_tile_state())
}

/// Tiles configured on the current thread for the block kernel; released when dropped. The
/// pointer marker keeps it on that thread (neither `Send` nor `Sync`).
pub struct Tiles(std::marker::PhantomData<*const ()>);

impl Tiles {
    /// Configures tmm0-7 as 16 rows of 64 bytes. Panics if the tiles are not `supported`.
    pub fn configure() -> Tiles {
        assert!(supported(), "AMX tiles are not available on this machine");
        // SAFETY: `supported` saw the CPU flags, the OS state and the granted permission.
        unsafe { imp::load_config() };
        Tiles(std::marker::PhantomData)
    }

    /// `acc` (32 x 32 `f32`, row stride 32) = the product of `ks` depth steps of the packed A
    /// band `a` and B band `b` (see `bf16`'s layout).
    pub fn block(&self, a: &[u16], b: &[u16], ks: usize, acc: &mut [f32; BLOCK * BLOCK]) {
        assert!(ks > 0 && a.len() >= ks * 2 * TILE && b.len() >= ks * 2 * TILE, "AMX block: panels shorter than {ks} steps");
        // SAFETY: the tiles are configured (`self` exists on this thread: `Tiles` is neither Send
        // nor Sync), and the assertion keeps every tile load inside `a` and `b`; the four
        // stores cover exactly the 32 x 32 floats of `acc`.
        unsafe { imp::block(a.as_ptr(), b.as_ptr(), ks, acc.as_mut_ptr()) }
    }

    /// `iters` rounds of four `tdpbf16ps` on operands held in tiles: the tile units' peak, with
    /// no memory traffic. Returns the floating-point operations done.
    pub fn peak_loop(&self, iters: usize) -> f64 {
        let ones = vec![0x3f80u16; 2 * TILE];
        // SAFETY: tiles configured; the loads read 2 tiles from `ones`.
        unsafe { imp::peak_loop(ones.as_ptr(), iters.max(1)) };
        // Each instruction: 16 x 16 outputs, 32 products and 32 additions each.
        iters.max(1) as f64 * 4.0 * (16 * 16 * 32 * 2) as f64
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured by `configure`.
        unsafe { imp::release() }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::arch::asm;

    pub fn cpu_and_os() -> bool {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU; leaf 7 is read only when the CPU has it.
        let (max, l1, l7) = unsafe {
            let max = __cpuid(0).eax;
            (max, __cpuid(1), if max >= 7 { __cpuid_count(7, 0) } else { __cpuid(0) })
        };
        // Leaf 7 EDX: bit 22 AMX-BF16, bit 24 AMX-TILE.
        let amx = (1 << 22) | (1 << 24);
        if max < 7 || l7.edx & amx != amx || l1.ecx & (1 << 27) == 0 {
            return false;
        }
        // OSXSAVE is set (bit 27 above), so XGETBV works. XCR0 bits 17 and 18: the OS manages
        // the tile configuration and the tile data.
        let (lo, _hi): (u32, u32);
        // SAFETY: XGETBV with ECX = 0 is defined whenever OSXSAVE is set.
        unsafe { asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi, options(nomem, nostack)) };
        lo & (3 << 17) == 3 << 17
    }

    pub fn request_tile_state() -> bool {
        const SYS_ARCH_PRCTL: isize = 158;
        const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
        const XFEATURE_XTILEDATA: usize = 18;
        let ret: isize;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM) only changes this process's permission to use
        // an extended state; the syscall clobbers rcx and r11 and nothing else.
        unsafe {
            asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL => ret, in("rdi") ARCH_REQ_XCOMP_PERM,
                 in("rsi") XFEATURE_XTILEDATA, lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret == 0
    }

    /// Palette 1; tmm0-7 all 16 rows x 64 bytes.
    #[repr(C, align(64))]
    struct Config([u8; 64]);

    const CONFIG: Config = {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
            t += 1;
        }
        Config(c)
    };

    pub unsafe fn load_config() {
        asm!("ldtilecfg [{}]", in(reg) &CONFIG as *const Config, options(nostack, readonly));
    }

    pub unsafe fn release() {
        asm!("tilerelease", out("tmm0") _, out("tmm1") _, out("tmm2") _, out("tmm3") _,
             out("tmm4") _, out("tmm5") _, out("tmm6") _, out("tmm7") _, options(nostack, nomem));
    }

    /// C tiles: tmm0 rows 0-15 x cols 0-15, tmm1 rows 0-15 x cols 16-31, tmm2 rows 16-31 x
    /// cols 0-15, tmm3 rows 16-31 x cols 16-31; A halves in tmm4-5, B halves in tmm6-7. A step
    /// is 2 KiB of A and 2 KiB of B; the accumulator rows are 128 bytes apart.
    pub unsafe fn block(a: *const u16, b: *const u16, ks: usize, acc: *mut f32) {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a} + {s64}*1]",
            "tileloadd tmm6, [{b} + {s64}*1]",
            "tileloadd tmm7, [{b} + {s64}*1 + 1024]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a} + {s64}*1 + 1024]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a}, 2048",
            "add {b}, 2048",
            "dec {ks}",
            "jnz 2b",
            "tilestored [{c} + {s128}*1], tmm0",
            "tilestored [{c} + {s128}*1 + 64], tmm1",
            "tilestored [{c} + {s128}*1 + 2048], tmm2",
            "tilestored [{c} + {s128}*1 + 2112], tmm3",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            ks = inout(reg) ks => _,
            c = in(reg) acc,
            s64 = in(reg) 64usize,
            s128 = in(reg) 128usize,
            out("tmm0") _, out("tmm1") _, out("tmm2") _, out("tmm3") _,
            out("tmm4") _, out("tmm5") _, out("tmm6") _, out("tmm7") _,
            options(nostack),
        );
    }

    pub unsafe fn peak_loop(ones: *const u16, iters: usize) {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "tileloadd tmm4, [{p} + {s64}*1]",
            "tileloadd tmm5, [{p} + {s64}*1 + 1024]",
            "tileloadd tmm6, [{p} + {s64}*1]",
            "tileloadd tmm7, [{p} + {s64}*1 + 1024]",
            "2:",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "dec {n}",
            "jnz 2b",
            p = in(reg) ones,
            s64 = in(reg) 64usize,
            n = inout(reg) iters => _,
            out("tmm0") _, out("tmm1") _, out("tmm2") _, out("tmm3") _,
            out("tmm4") _, out("tmm5") _, out("tmm6") _, out("tmm7") _,
            options(nostack, readonly),
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    pub fn cpu_and_os() -> bool {
        false
    }
    pub fn request_tile_state() -> bool {
        false
    }
    pub unsafe fn load_config() {
        unreachable!("AMX is never reported supported off x86-64 Linux")
    }
    pub unsafe fn release() {}
    pub unsafe fn block(_: *const u16, _: *const u16, _: usize, _: *mut f32) {
        unreachable!("AMX is never reported supported off x86-64 Linux")
    }
    pub unsafe fn peak_loop(_: *const u16, _: usize) {
        unreachable!("AMX is never reported supported off x86-64 Linux")
    }
}
