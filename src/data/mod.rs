//! Datasets: readers for the files as they are distributed, turned into network inputs.
pub mod npy;
pub mod folder;
pub mod frames;
pub mod omniglot;
pub mod photo;
pub mod sampler;
pub mod sets;
pub mod augment;
pub mod imageset;
pub mod lfw;
pub mod y4m;
