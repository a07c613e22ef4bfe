//! The binary as `cargo install` leaves it: copied alone into a folder and run from an empty
//! one, with a fresh home. The built-in model and detectors serve enroll, identify and compare;
//! the gallery goes to the home's data folder; an unsupported `scheme://` gallery is refused
//! and creates nothing.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Installed {
    exe: PathBuf,
    cwd: PathBuf,
    home: PathBuf,
}

impl Installed {
    fn new() -> Installed {
        let root = std::env::temp_dir().join(format!("siamface-installed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (bin, cwd, home) = (root.join("bin"), root.join("work"), root.join("home"));
        for d in [&bin, &cwd, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        let exe = bin.join("siamface");
        std::fs::copy(env!("CARGO_BIN_EXE_siamface"), &exe).unwrap();
        Installed { exe, cwd, home }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(&self.exe);
        c.args(args).current_dir(&self.cwd).env_clear().env("HOME", &self.home).env("PATH", "/usr/bin:/bin");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_installed_binary_works_from_an_empty_folder_and_refuses_unknown_gallery_schemes() {
    let i = Installed::new();
    let photo = |n: usize| crate::common::lfw("Colin_Powell", n).display().to_string();
    let other = crate::common::lfw("Serena_Williams", 1).display().to_string();

    let o = i.run(&["enroll", "Colin Powell", &photo(1)], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(i.home.join(".local/share/siamface/gallery.sqlite").exists(), "the gallery goes to the home's data folder");
    let o = i.run(&["identify", &photo(2), "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Colin Powell"), "{}", text(&o));
    let o = i.run(&["identify", &other, "--json"], &[]);
    // Not named (he is only the nearest, far below the bar).
    assert!(o.status.success() && text(&o).contains("\"name\":null") && !text(&o).contains("\"name\":\"Colin Powell\""), "{}", text(&o));
    // compare answers 0 (same person) or 1 (different); 2 would be an error.
    let o = i.run(&["compare", &photo(3), &photo(4)], &[]);
    assert!(matches!(o.status.code(), Some(0 | 1)) && text(&o).contains("score"), "{}", text(&o));
    let o = i.run(&["--version"], &[]);
    assert!(o.status.success() && text(&o).contains("dlib ResNet"), "{}", text(&o));
    assert!(entries(&i.cwd).is_empty(), "nothing is written to the working folder: {:?}", entries(&i.cwd));

    // Unsupported schemes, by option and by environment, for a gallery command and the server.
    let before_home = entries(&i.home.join(".local/share/siamface"));
    for (args, env) in [
        (vec!["enroll", "Ann", &photo(5), "--gallery", "mysql://ann@db/faces"], vec![]),
        (vec!["people"], vec![("SIAMFACE_GALLERY", "redis://cache:6379")]),
        (vec!["serve", "--addr", "127.0.0.1:0", "--gallery", "sqlite://"], vec![]),
        (vec!["gallery", "check", "--gallery", "https://example.org/g"], vec![]),
    ] {
        let o = i.run(&args, &env);
        assert!(!o.status.success(), "{args:?} {env:?}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("postgres://") && t.contains("SQLite"), "{args:?}: the message names what is supported: {t}");
        assert!(!t.contains("panicked"), "{t}");
    }
    assert!(entries(&i.cwd).is_empty(), "a refused gallery creates nothing: {:?}", entries(&i.cwd));
    assert_eq!(entries(&i.home.join(".local/share/siamface")), before_home);
}
