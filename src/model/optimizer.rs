//! The optimiser and its state, which a checkpoint saves so that `--resume` continues exactly.
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::Params;
use crate::config::OptimizerConfig;
use crate::engine::optim;
use crate::error::{Error, Result};

/// Elements per parallel task of the update pass: large enough to amortise scheduling.
const CHUNK: usize = 1 << 16;

pub struct Optimizer {
    pub config: OptimizerConfig,
    pub counters: Counters,
    /// Adam's first moment, or SGD's velocity.
    pub m: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    pub v: Vec<f32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub step: u64,
    pub epoch: usize,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, params: &Params) -> Result<Self> {
        config.validate(params.groups())?;
        let n = params.data.len();
        let v = if matches!(config, OptimizerConfig::Adam { .. }) { vec![0.0; n] } else { Vec::new() };
        Ok(Optimizer { config, counters: Counters::default(), m: vec![0.0; n], v })
    }

    /// Restores saved state, checking it fits the parameters.
    pub fn restore(config: OptimizerConfig, params: &Params, counters: Counters, m: Vec<f32>, v: Vec<f32>) -> Result<Self> {
        let mut o = Self::new(config, params)?;
        if m.len() != o.m.len() || v.len() != o.v.len() {
            return Err(Error::shape("optimizer state", format!("{} and {} floats", o.m.len(), o.v.len()), format!("{} and {}", m.len(), v.len())));
        }
        (o.m, o.v, o.counters) = (m, v, counters);
        Ok(o)
    }

    /// The paper's per-layer schedule at the current epoch: (learning rate, momentum, L2).
    pub fn sgd_schedule(&self, group: usize) -> Option<(f32, f32, f32)> {
        match &self.config {
            OptimizerConfig::Sgd { layers, lr_decay, momentum_start, momentum_ramp_epochs } => {
                let l = layers[group];
                let e = self.counters.epoch;
                let ramp = if *momentum_ramp_epochs == 0 { 1.0 } else { (e as f32 / *momentum_ramp_epochs as f32).min(1.0) };
                Some((l.lr * lr_decay.powi(e as i32), momentum_start + (l.momentum - momentum_start) * ramp, l.l2))
            }
            OptimizerConfig::Adam { .. } => None,
        }
    }

    /// One update of every parameter from `grads`, split into parallel chunks on the calling
    /// thread pool.
    pub fn update(&mut self, params: &mut Params, grads: &[f32]) {
        assert_eq!(grads.len(), params.data.len(), "gradient length");
        self.counters.step += 1;
        match self.config {
            OptimizerConfig::Adam { lr, beta1, beta2, epsilon } => {
                let lr_t = optim::adam_lr(lr, beta1, beta2, self.counters.step);
                params
                    .data
                    .par_chunks_mut(CHUNK)
                    .zip(grads.par_chunks(CHUNK))
                    .zip(self.m.par_chunks_mut(CHUNK))
                    .zip(self.v.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), m), v)| optim::adam(p, g, m, v, lr_t, beta1, beta2, epsilon));
            }
            OptimizerConfig::Sgd { .. } => {
                for spec in params.specs.clone() {
                    let (lr, mu, l2) = self.sgd_schedule(spec.group).expect("sgd");
                    let r = spec.range();
                    params.data[r.clone()]
                        .par_chunks_mut(CHUNK)
                        .zip(grads[r.clone()].par_chunks(CHUNK))
                        .zip(self.m[r].par_chunks_mut(CHUNK))
                        .for_each(|((p, g), v)| optim::sgd(p, g, v, lr, mu, l2));
                }
            }
        }
    }

    pub fn end_epoch(&mut self) {
        self.counters.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelConfig, SgdLayer};

    fn tiny() -> ModelConfig {
        ModelConfig::koch(8, 8, 1, vec![crate::config::ConvLayer { filters: 2, kernel: 3, pool: true }], 4)
    }

    #[test]
    fn sgd_schedule_decays_lr_and_ramps_momentum() {
        let p = Params::zeros(&tiny()).unwrap();
        let cfg = OptimizerConfig::Sgd {
            layers: vec![SgdLayer { lr: 0.1, momentum: 0.9, l2: 0.0 }; 3],
            lr_decay: 0.99,
            momentum_start: 0.5,
            momentum_ramp_epochs: 4,
        };
        let mut o = Optimizer::new(cfg, &p).unwrap();
        assert_eq!(o.sgd_schedule(0), Some((0.1, 0.5, 0.0)));
        o.end_epoch();
        o.end_epoch();
        let (lr, mu, _) = o.sgd_schedule(1).unwrap();
        assert!((lr - 0.1 * 0.99 * 0.99).abs() < 1e-7 && (mu - 0.7).abs() < 1e-6, "{lr} {mu}");
        for _ in 0..10 {
            o.end_epoch();
        }
        assert!((o.sgd_schedule(2).unwrap().1 - 0.9).abs() < 1e-6);
    }

    #[test]
    fn restore_rejects_state_of_another_model() {
        let p = Params::zeros(&tiny()).unwrap();
        let err = Optimizer::restore(OptimizerConfig::adam(), &p, Counters::default(), vec![0.0; 3], vec![0.0; 3]);
        assert!(err.is_err());
    }
}
