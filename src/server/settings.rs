//! What `siamface serve` was asked for: where to listen, who may call, and the bounds on work,
//! time and connections; checked before the model is loaded, then turned into the listener's
//! `Limits` and the middleware's `Guard`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::guard::{Guard, Token};
use super::listen::Limits;

/// The times are in seconds, as they are typed.
pub struct Settings {
    pub addr: SocketAddr,
    pub token: Option<Token>,
    /// Host names answered to besides the bound address's (`guard::host_name`).
    pub allow_host: Vec<String>,
    /// Model requests at once.
    pub jobs: usize,
    pub queue_wait: u64,
    /// For a request's headers, an idle connection and an unread answer alike.
    pub header_timeout: u64,
    pub body_timeout: u64,
    pub body_idle: u64,
    pub max_connections: usize,
    /// The collection folder and the megabytes it may hold.
    pub collect: Option<PathBuf>,
    pub collect_cap_mb: u64,
}

impl Settings {
    /// Refuses to serve beyond this machine without a token, or with no room for any request.
    pub fn check(&self) -> Result<(), String> {
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            return Err(format!("--addr {}: serving beyond this machine requires --token, --token-file or SIAMFACE_TOKEN", self.addr));
        }
        if self.jobs == 0 || self.max_connections == 0 {
            return Err("--jobs and --max-connections must be at least 1".into());
        }
        Ok(())
    }

    /// The listener's limits; the header timeout is at least a second.
    pub fn limits(&self) -> Limits {
        let t = Duration::from_secs(self.header_timeout.max(1));
        Limits { header_timeout: t, write_timeout: t, max_connections: self.max_connections }
    }

    /// The guard of a server bound to `bound`.
    pub fn guard(self, bound: SocketAddr) -> Guard {
        let mut guard = Guard::new(bound, &self.allow_host);
        guard.token = self.token;
        guard.jobs = Arc::new(tokio::sync::Semaphore::new(self.jobs));
        guard.queue_wait = Duration::from_secs(self.queue_wait);
        guard.body_timeout = Duration::from_secs(self.body_timeout);
        guard.body_idle = Duration::from_secs(self.body_idle);
        guard.collect = self.collect.map(|d| (d, self.collect_cap_mb * 1_000_000));
        guard
    }
}
