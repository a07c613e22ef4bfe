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
pub mod act;
pub mod conv;
pub mod gemm;
pub mod head;
pub mod linear;
pub mod loss;
pub mod optim;
pub mod pool;

#[cfg(test)]
pub mod gradcheck;
#[cfg(test)]
pub mod reference;

pub use gemm::Par;
