//! Koch's Siamese network built from a `ModelConfig`: parameters, the batched forward and
//! backward passes, the optimisers, and model files.
pub mod bundled;
pub mod card;
pub mod dlib;
pub mod head;
pub mod int8;
pub mod io;
pub mod net;
pub mod optimizer;
mod packed;
pub mod params;
pub mod siamese;
mod tower;
mod work;

pub use optimizer::Optimizer;
pub use params::{ParamSpec, Params};
pub use siamese::{Siamese, StepOutput};
pub use work::Scratch;
