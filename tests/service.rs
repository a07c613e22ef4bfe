//! The face service under the server: a gallery made with another model is re-embedded before
//! the first identification, and a fault of the server's own files answers 500 without saying
//! where they are.
use std::sync::Arc;

use axum::http::StatusCode;
use siamface::gallery::Gallery;
use siamface::model::{io, Params};
use siamface::rng::Rng;
use siamface::server::Inner;
use siamface::service::{FaceService, Options};

use crate::server::{call, form, photo, tmp};

fn save_model(dir: &std::path::Path, seed: u64) {
    let cfg = crate::common::tiny_face_model();
    io::save(dir, &cfg, &Params::init(&cfg, &mut Rng::new(seed)).unwrap(), None, None).unwrap();
}

fn serve(dir: &std::path::Path, model: &str) -> Arc<Inner> {
    let o = Options { model: Some(siamface::service::Model::Path(dir.join(model))), gallery: dir.join("g.sqlite").into(), threads: 1, threshold: Some(0.0), precision: Default::default() };
    Arc::new(Inner { service: FaceService::open(&o).unwrap(), collect_dir: None })
}

#[tokio::test]
async fn a_model_change_re_embeds_the_gallery_before_the_first_identify() {
    let dir = tmp("service-reembed");
    save_model(&dir.join("old"), 11);
    save_model(&dir.join("new"), 12);
    let old = serve(&dir, "old");
    let (st, v) = call(&old, "POST", "/api/enroll", form(&[("name", "Aaron")], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let old_id = old.service.faces().unwrap().model_id().to_string();
    drop(old);

    let new = serve(&dir, "new");
    let new_id = new.service.faces().unwrap().model_id().to_string();
    assert_ne!(old_id, new_id);
    assert_eq!(Gallery::open(&dir.join("g.sqlite")).unwrap().model().unwrap(), Some(new_id), "re-embedded when the server opened it");
    // The enrolled photo against its own crop: with the crop embedded by the new model the score
    // is the new model's score of a face with itself, which `compare` of the photo with itself
    // computes from the same input. The old model's embedding would give another number.
    let p = photo("Aaron_Peirsol", 1);
    let (st, id) = call(&new, "POST", "/api/identify", form(&[], &[("photo", "a.jpg", &p)]), None).await;
    assert_eq!(st, StatusCode::OK, "{id}");
    let (st, same) = call(&new, "POST", "/api/compare", form(&[], &[("a", "a.jpg", &p), ("b", "b.jpg", &p)]), None).await;
    assert_eq!(st, StatusCode::OK, "{same}");
    assert_eq!(id["faces"][0]["score"], same["score"], "{id} vs {same}");
    assert_eq!(id["faces"][0]["name"], "Aaron");
}

#[tokio::test]
async fn a_database_fault_is_a_500_that_names_no_server_path() {
    let dir = tmp("service-fault");
    save_model(&dir.join("m"), 13);
    let s = serve(&dir, "m");
    // Another program breaks the file's schema under the running server.
    rusqlite::Connection::open(dir.join("g.sqlite")).unwrap().execute_batch("DROP TABLE images").unwrap();
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "Aaron")], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    let text = v["error"].as_str().expect("a JSON error body");
    assert!(!text.contains(dir.to_str().unwrap()) && !text.contains("sqlite") && !text.contains("images"), "{text}");
    // Request faults keep their own statuses.
    let (st, _) = call(&s, "DELETE", "/api/people/Nobody", Vec::new(), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
