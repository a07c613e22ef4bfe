//! Koch's Siamese network built from a `ModelConfig`: parameters, the batched forward and
//! backward passes, the optimisers, and model files. The model (`Siamese`) is a value that
//! inference borrows; a training step's buffers and gradients are a `TrainState` beside it.
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
pub mod training;
mod work;

pub use optimizer::Optimizer;
pub use params::{ParamSpec, Params};
pub use siamese::{Siamese, StepOutput};
pub use training::TrainState;
pub use work::Scratch;
