//! A throwaway PostgreSQL cluster for one test: initdb in a temporary folder, a server on a free
//! loopback port with trust authentication, stopped and deleted on drop. It needs the server
//! binaries (Debian's `postgresql`, installed by .ci/run); as root they run as the `postgres`
//! user, since PostgreSQL refuses to run as root.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Connection URL of the cluster's `postgres` database as its superuser `siamface`.
    pub url: String,
}

/// The folder holding `initdb` and `pg_ctl`: $SIAMFACE_PG_BIN, else the newest
/// /usr/lib/postgresql/*/bin, else wherever `pg_ctl` is on the PATH.
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SIAMFACE_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).filter(|b| b.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0));
    if let Some(b) = found.pop() {
        return b;
    }
    let which = Command::new("sh").args(["-c", "command -v pg_ctl"]).output().ok().filter(|o| o.status.success());
    match which {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).parent().unwrap().to_path_buf(),
        None => panic!("PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql (.ci/run does), or set SIAMFACE_PG_BIN"),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Cluster {
    pub fn start(tag: &str) -> Cluster {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("siamface-pg-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success();
            assert!(ok, "chown {} to postgres", dir.display());
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = Cluster { url: format!("postgres://siamface@127.0.0.1:{port}/postgres"), dir, bin, port };
        c.run("initdb", &["-D", c.data().to_str().unwrap(), "-A", "trust", "-U", "siamface", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"]);
        c.up();
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of the server programs, as the `postgres` user when we are root.
    fn command(&self, prog: &str) -> Command {
        let exe = self.bin.join(prog);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn run(&self, prog: &str, args: &[&str]) {
        let out = self.command(prog).args(args).output().unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(out.status.success(), "{prog} {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60", self.port, self.dir.display());
        self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-l", self.dir.join("log").to_str().unwrap(), "-o", &opts, "-w", "-t", "30", "start"]);
    }

    /// Stops the server at once, as a crash or a lost machine would.
    pub fn down(&self) {
        self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// A fresh database in this cluster, by URL.
    pub fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        format!("postgres://siamface@127.0.0.1:{}/{name}", self.port)
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", self.data().to_str().unwrap(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
