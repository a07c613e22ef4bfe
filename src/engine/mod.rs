//! The numeric engine: small pure functions over `f32` slices, forward and backward, with the
//! caller owning every buffer so that nothing allocates inside a training step.
//!
//! Memory layout, once for the whole crate:
//! - activations are NHWC: image `n`, row `y`, column `x`, channel `c` lives at
//!   `((n * H + y) * W + x) * C + c`, so a kernel row of a patch is one contiguous run;
//! - convolution weights are HWIO `[kh, kw, c_in, c_out]`, which makes a convolution one GEMM
//!   of the im2col matrix `[pixels, kh*kw*c_in]` by the weights `[kh*kw*c_in, c_out]`;
//! - dense weights are `[in, out]`, and the flattening before the dense layer follows NHWC.
//!
//! These are also TensorFlow/Keras's layouts, so weights move between the two without reordering.

#[cfg(test)]
pub mod gradcheck;
#[cfg(test)]
pub mod reference;
#[cfg(test)]
pub mod simd_props;

pub use gemm::Par;

/// Defines `$name` as a function that runs `$body` compiled for AVX-512 when the CPU has it, and
/// as portable code otherwise. The element-wise loops of the engine are memory-light and
/// instruction-bound, and the portable x86-64 target only vectorises them four lanes wide.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $crate::engine::multiversion! { $(#[$m])* $vis fn $name($($arg: $ty),*) -> () $body }
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) -> $ret {
                portable($($arg),*)
            }
            #[cfg(test)]
            if $crate::engine::simd_props::portable_only() {
                return portable($($arg),*);
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU has every feature `avx512` is compiled for.
                return unsafe { avx512($($arg),*) };
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Runs `$strip::<R>($a, $b, $ks, row0, $acc)` over a 32-row block's first `$rows` rows in strips
/// of 8, R the strip's rows: a short last strip (a ragged matrix, or one image's single row) runs
/// a kernel of its own size, so the stream of B is its cost, not padding.
#[cfg(target_arch = "x86_64")]
macro_rules! strips {
    ($rows:expr, $strip:ident($a:expr, $b:expr, $ks:expr, $acc:expr)) => {
        for row0 in (0..$rows.min(32)).step_by(8) {
            match $rows - row0 {
                1 => $strip::<1>($a, $b, $ks, row0, $acc),
                2 => $strip::<2>($a, $b, $ks, row0, $acc),
                3 => $strip::<3>($a, $b, $ks, row0, $acc),
                4 => $strip::<4>($a, $b, $ks, row0, $acc),
                5 => $strip::<5>($a, $b, $ks, row0, $acc),
                6 => $strip::<6>($a, $b, $ks, row0, $acc),
                7 => $strip::<7>($a, $b, $ks, row0, $acc),
                _ => $strip::<8>($a, $b, $ks, row0, $acc),
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use strips;

pub mod act;
pub mod affine;
pub mod amx;
pub mod bf16;
mod blocks;
#[cfg(target_arch = "x86_64")]
pub mod bf16_dot;
#[cfg(target_arch = "x86_64")]
mod bf16_simd;
pub mod conv;
mod conv_bf16;
#[cfg(target_arch = "x86_64")]
mod conv_direct;
pub mod conv2d;
pub mod gemm;
pub mod head;
pub mod int8;
#[cfg(target_arch = "x86_64")]
pub mod int8_dot;
pub mod kernel;
pub mod linear;
pub mod loss;
pub mod optim;
pub mod panels;
pub mod pool;
pub mod pool2d;
pub mod residual;
