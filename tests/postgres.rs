//! The gallery on PostgreSQL (a real server, started for each test by `pg::Cluster`): the same
//! contract as the SQLite file, two `serve` processes sharing one database, a database that goes
//! away and comes back, a client killed mid-enrolment, and a concurrent load over two servers.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use siamface::gallery::{Enrolment, Location, Store};
use siamface::model::{io, Params};
use siamface::rng::Rng;
use siamface::Error;

use crate::pg::Cluster;
use crate::server::{form, http, Server};

fn item(v: f32) -> Enrolment {
    Enrolment { crop_png: vec![1, 2, 3], embedding: vec![v; 4] }
}

/// What every backend must do, on two connections to one gallery (as two servers would have).
fn contract(at: &Location) {
    let (mut g, mut other) = (Store::open(at).unwrap(), Store::open(at).unwrap());
    assert!(g.people().unwrap().is_empty());
    assert_eq!(g.model().unwrap(), None);
    assert_eq!(g.enroll("Jose\u{301}", &[item(0.1)], "m", false).unwrap(), "José");
    assert!(matches!(other.enroll("JOSÉ", &[item(0.2)], "m", false), Err(Error::Conflict { .. })));
    assert_eq!(other.enroll("josé", &[item(0.2)], "m", true).unwrap(), "José");
    assert!(matches!(g.enroll("Nobody", &[item(0.2)], "m", true), Err(Error::NotFound { .. })));
    assert!(matches!(g.enroll("Ada", &[], "m", false), Err(Error::Input { .. })));
    assert!(matches!(g.enroll("Ada", &[item(0.2)], "another model", false), Err(Error::Database { .. })));
    assert_eq!(g.model().unwrap().as_deref(), Some("m"));
    // The first connection's copy of the embeddings follows the other's writes.
    let m = g.matrix().unwrap();
    assert_eq!((m.names.clone(), m.owner.clone(), m.dim), (vec!["José".to_string()], vec![0, 0], 4));
    assert!(std::sync::Arc::ptr_eq(&m, &g.matrix().unwrap()), "unchanged gallery: the copy in memory is reused");
    other.enroll("Ada", &[item(0.3), item(0.4)], "m", false).unwrap();
    let m = g.matrix().unwrap();
    assert_eq!(m.names, vec!["Ada".to_string(), "José".to_string()]);
    assert_eq!(m.rows, [[0.3f32; 4], [0.4; 4], [0.1; 4], [0.2; 4]].concat());
    assert_eq!(g.people().unwrap(), vec![("Ada".to_string(), 2), ("José".to_string(), 2)]);
    assert_eq!(g.lookup("ADA").unwrap().as_deref(), Some("Ada"));
    assert_eq!(g.rename("JOSE\u{301}", "José María").unwrap(), ("José".to_string(), "José María".to_string()));
    assert!(matches!(other.rename("ada", "JOSÉ MARÍA"), Err(Error::Conflict { .. })));
    assert!(matches!(g.forget("Nobody"), Err(Error::NotFound { .. })));
    // Re-embedding replaces every embedding and the model in one write.
    let crops = other.crops().unwrap();
    assert_eq!(crops.len(), 4);
    other.reembed(&crops.iter().map(|(id, _)| (*id, vec![0.5; 3])).collect::<Vec<_>>(), "m2").unwrap();
    assert_eq!(g.model().unwrap().as_deref(), Some("m2"));
    assert_eq!(g.matrix().unwrap().dim, 3);
    assert_eq!(other.forget("josé maría").unwrap(), "José María");
    assert_eq!(g.people().unwrap(), vec![("Ada".to_string(), 2)]);
    assert_eq!(g.matrix().unwrap().names, vec!["Ada".to_string()]);
    // Forgotten and enrolled again, and someone new, between two reads of the first connection.
    other.forget("Ada").unwrap();
    other.enroll("ada", &[Enrolment { crop_png: vec![1], embedding: vec![0.9; 3] }], "m2", false).unwrap();
    other.enroll("Zed", &[Enrolment { crop_png: vec![1], embedding: vec![0.7; 3] }], "m2", false).unwrap();
    let m = g.matrix().unwrap();
    assert_eq!((m.names.clone(), m.owner.clone()), (vec!["Zed".to_string(), "ada".to_string()], vec![0, 1]));
    assert_eq!(m.rows, [[0.7f32; 3], [0.9; 3]].concat());
    // A rename seen by the other connection.
    g.rename("zed", "Zoe").unwrap();
    assert_eq!(other.matrix().unwrap().names, vec!["Zoe".to_string(), "ada".to_string()]);
}

#[test]
fn the_gallery_contract_holds_on_sqlite_and_on_postgres() {
    let dir = crate::server::tmp("pg-contract");
    contract(&Location::File(dir.join("g.sqlite")));
    let pg = Cluster::start("contract");
    contract(&Location::parse(&pg.database("contract")).unwrap());
    // A second program opening the same database finds the schema in place.
    let url = pg.database("schema");
    drop(Store::open(&Location::Postgres(url.clone())).unwrap());
    let mut again = Store::open(&Location::Postgres(url.clone())).unwrap();
    assert!(again.people().unwrap().is_empty());
    drop(again);
    // A database at schema 1 is brought to the current one; one from a newer program is refused.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("DROP TABLE siamface_changes; UPDATE siamface_schema SET version = 1").unwrap();
    let mut migrated = Store::open(&Location::Postgres(url.clone())).unwrap();
    migrated.enroll("Ann", &[item(0.1)], "m", false).unwrap();
    let v: i32 = c.query_one("SELECT version FROM siamface_schema", &[]).unwrap().get(0);
    let logged: i64 = c.query_one("SELECT COUNT(*) FROM siamface_changes", &[]).unwrap().get(0);
    assert_eq!((v, logged), (2, 1));
    c.batch_execute("UPDATE siamface_schema SET version = 99").unwrap();
    let e = Store::open(&Location::Postgres(url)).err().expect("a newer schema is refused").to_string();
    assert!(e.contains("schema 99") && e.contains("newer"), "{e}");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://ann:s3cret@127.0.0.1:{port}/faces");
    let t = Instant::now();
    let e = Store::open(&Location::Postgres(url)).err().expect("nothing listens there");
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("ann:***@127.0.0.1") && !text.contains("s3cret"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(10), "refused connection answered in {:?}", t.elapsed());
}

/// `siamface serve` on a free loopback port over the gallery at `url`; `model` is a model folder,
/// or the built-in model when `None`.
fn serve(url: &str, model: Option<&Path>) -> Server {
    match model {
        Some(m) => crate::common::serve(&["--gallery", url, "--model", m.to_str().unwrap(), "--threshold", "0"]),
        None => crate::common::serve(&["--gallery", url]),
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn enroll(addr: &str, name: &str, photo: &[u8]) -> (u16, serde_json::Value) {
    let (code, body) = http(addr, "POST", "/api/enroll", &form(&[("name", name)], &[("photo", "p.jpg", photo)]));
    (code, json(&body))
}

fn identify(addr: &str, photo: &[u8]) -> (u16, serde_json::Value) {
    let (code, body) = http(addr, "POST", "/api/identify", &form(&[], &[("photo", "p.jpg", photo)]));
    (code, json(&body))
}

fn people(addr: &str) -> (u16, serde_json::Value) {
    let (code, body) = http(addr, "GET", "/api/people", &[]);
    (code, json(&body))
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let list = v.get("people").unwrap_or(v).as_array().unwrap_or_else(|| panic!("a list of people: {v}"));
    let mut out: Vec<String> = list.iter().map(|p| p.get("name").unwrap_or(p).as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

#[test]
fn two_servers_on_one_database_see_each_others_enrolments_at_once() {
    let pg = Cluster::start("two");
    let url = pg.database("doors");
    let (a, b) = (serve(&url, None), serve(&url, None));
    let (code, e) = enroll(&a.1, "Colin Powell", &crate::common::lfw_bytes("Colin_Powell", 1));
    assert_eq!(code, 200, "{e}");
    let enrolled_at = Instant::now();
    let (code, seen) = identify(&b.1, &crate::common::lfw_bytes("Colin_Powell", 2));
    let visible_after = enrolled_at.elapsed();
    assert_eq!(code, 200, "{seen}");
    assert_eq!(seen["faces"][0]["name"], "Colin Powell", "server B names the person enrolled on A: {seen}");
    eprintln!("enrolled on A, named on B {visible_after:?} later (one identify)");
    let (code, stranger) = identify(&b.1, &crate::common::lfw_bytes("Serena_Williams", 1));
    assert_eq!(code, 200);
    assert!(stranger["faces"][0]["name"].is_null(), "{stranger}");
    // Forgotten on B, gone on A.
    let (code, body) = http(&b.1, "DELETE", "/api/people/colin%20powell", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(names(&people(&a.1).1).is_empty());
    let (_, after) = identify(&a.1, &crate::common::lfw_bytes("Colin_Powell", 2));
    assert!(after["faces"][0]["name"].is_null(), "{after}");
}

/// A tiny random model (fast, every score counts at threshold 0) for tests about storage.
fn tiny_model(dir: &Path) -> std::path::PathBuf {
    let cfg = crate::common::tiny_face_model();
    io::save(&dir.join("model"), &cfg, &Params::init(&cfg, &mut Rng::new(3)).unwrap(), None, None).unwrap();
    dir.join("model")
}

#[test]
fn a_database_restart_answers_503_then_recovers_with_nothing_lost() {
    let dir = crate::server::tmp("pg-restart");
    let model = tiny_model(&dir);
    let pg = Cluster::start("restart");
    let url = pg.database("restart");
    let s = serve(&url, Some(&model));
    let photo = crate::common::lfw_bytes("Colin_Powell", 1);
    assert_eq!(enroll(&s.1, "Ann", &photo).0, 200);
    pg.down();
    let (code, body) = http(&s.1, "GET", "/api/people", &[]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("unreachable") && !body.contains("127.0.0.1"), "{body}");
    let (code, _) = enroll(&s.1, "Bob", &photo);
    assert_eq!(code, 503);
    pg.up();
    // The server reconnects by itself on the next call.
    let t = Instant::now();
    let mut last = (0, serde_json::Value::Null);
    while t.elapsed() < Duration::from_secs(15) {
        last = people(&s.1);
        if last.0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(last.0, 200, "{}", last.1);
    assert_eq!(names(&last.1), vec!["Ann".to_string()], "Bob's refused enrolment left nothing");
    assert_eq!(enroll(&s.1, "Bob", &photo).0, 200);
    assert_eq!(names(&people(&s.1).1), vec!["Ann".to_string(), "Bob".to_string()]);
}

/// The server process of each connection to database `db` whose transaction has written
/// something (PostgreSQL gives a transaction its id, `backend_xid`, at its first write), seen from
/// the cluster's own database so the watcher is not one of them.
fn writing(watch: &mut postgres::Client, db: &str) -> Vec<i32> {
    watch.query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL", &[&db]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Waits until no connection to `db` is left on the server (the killed client's transaction is
/// then committed or rolled back, for good), at most 30 s.
fn settled(watch: &mut postgres::Client, db: &str) {
    let t = Instant::now();
    loop {
        let n: i64 = watch.query_one("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1", &[&db]).unwrap().get(0);
        if n == 0 {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{n} connections to {db} still open 30 s after the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kill -9` of `enroll` with 32 photos: on even attempts as soon as its transaction has written
/// its first row (so the process dies with part of the enrolment sent), on odd ones at
/// spread-out moments of a whole run. Each time the database holds none or all 32 of its
/// images, and at least one kill must have landed inside the writes ("torn"): a writer that
/// committed row by row would leave a part of an enrolment there and fail.
#[test]
fn an_enrolment_killed_at_any_moment_leaves_none_or_all_of_its_images() {
    let dir = crate::server::tmp("pg-kill");
    let model = tiny_model(&dir);
    let pg = Cluster::start("kill");
    let url = pg.database("kill");
    let mut watch = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let photos: Vec<std::path::PathBuf> = (1..=32).map(|n| crate::common::lfw("George_W_Bush", n)).collect();
    let enroll_cmd = |name: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_siamface"));
        c.args(["enroll", name]).args(&photos).args(["--gallery", &url]).arg("--model").arg(&model).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    // One whole run says how long an enrolment takes; the timed kills land all over that time.
    let t = Instant::now();
    assert!(enroll_cmd("Whole").status().unwrap().success());
    let whole = t.elapsed();
    let mut rng = Rng::new(7);
    let (mut torn, mut after, mut before) = (0, 0, 0);
    for k in 0..8 {
        let name = format!("Killed {k}");
        let mut child = enroll_cmd(&name).spawn().unwrap();
        let started = Instant::now();
        let mut seen_writing = false;
        if k % 2 == 0 {
            while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(120) {
                if !writing(&mut watch, "kill").is_empty() {
                    seen_writing = true;
                    break;
                }
            }
        } else {
            std::thread::sleep(whole.mul_f64(0.2 + 0.9 * rng.uniform()));
        }
        let _ = child.kill();
        let _ = child.wait();
        let at = started.elapsed();
        settled(&mut watch, "kill");
        let mut g = Store::open(&Location::Postgres(url.clone())).unwrap();
        let found: Vec<(String, usize)> = g.people().unwrap().into_iter().filter(|(n, _)| *n == name).collect();
        drop(g);
        assert!(found.is_empty() || found == [(name.clone(), 32)], "killed after {at:?}{}: {found:?}", if seen_writing { ", while writing" } else { "" });
        let what = match (found.is_empty(), seen_writing) {
            (false, _) => {
                after += 1;
                "all 32 stored"
            }
            (true, true) => {
                torn += 1;
                "killed while writing, nothing stored"
            }
            (true, false) => {
                before += 1;
                "nothing stored"
            }
        };
        eprintln!("killed after {at:?} of {whole:?}: {what}");
    }
    eprintln!("kill -9: {torn} inside the write transaction, {before} before it, {after} after it");
    assert!(torn >= 1, "no kill landed while the enrolment was being written ({before} before, {after} after)");
}

#[test]
fn a_concurrent_load_over_two_servers_ends_with_the_people_its_answers_promise() {
    let dir = crate::server::tmp("pg-load");
    let model = tiny_model(&dir);
    let pg = Cluster::start("load");
    let url = pg.database("load");
    let servers = [serve(&url, Some(&model)), serve(&url, Some(&model))];
    let addrs: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let photo = std::sync::Arc::new(crate::common::lfw_bytes("Colin_Powell", 1));
    // Four clients, each on its own names, alternating servers: enrol, identify, forget every
    // third, and enrol once more under a name another client also uses (only one may win).
    let handles: Vec<_> = (0..4)
        .map(|c| {
            let (addrs, photo) = (addrs.clone(), photo.clone());
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut won_shared = false;
                for i in 0..6 {
                    let (a, b) = (&addrs[(c + i) % 2], &addrs[(c + i + 1) % 2]);
                    let name = format!("client{c} person{i}");
                    let (code, body) = enroll(a, &name, &photo);
                    assert_eq!(code, 200, "{body}");
                    assert_eq!(identify(b, &photo).0, 200);
                    if i % 3 == 0 {
                        let (code, body) = http(b, "DELETE", &format!("/api/people/{}", name.replace(' ', "%20")), &[]);
                        assert_eq!(code, 200, "{body}");
                    } else {
                        kept.push(name);
                    }
                }
                let (code, _) = enroll(&addrs[c % 2], "Shared Name", &photo);
                assert!(code == 200 || code == 409, "{code}");
                if code == 200 {
                    won_shared = true;
                    kept.push("Shared Name".to_string());
                }
                (kept, won_shared)
            })
        })
        .collect();
    let mut expected = Vec::new();
    let mut winners = 0;
    for h in handles {
        let (kept, won) = h.join().unwrap();
        expected.extend(kept);
        winners += won as usize;
    }
    expected.sort();
    assert_eq!(winners, 1, "exactly one client enrolled the shared name");
    for a in &addrs {
        assert_eq!(names(&people(a).1), expected);
    }
}
