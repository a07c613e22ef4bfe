//! Helpers the integration tests share.
use siamface::config::ConvLayer;
use siamface::ModelConfig;

/// An untrained 32x32 RGB face model small enough to save, load and run in milliseconds: for
/// tests about what is stored, served and refused rather than about recognition.
pub fn tiny_face_model() -> ModelConfig {
    ModelConfig::koch(32, 32, 3, vec![ConvLayer { filters: 4, kernel: 5, pool: true }, ConvLayer { filters: 8, kernel: 3, pool: false }], 16)
}
