//! The API's handlers. Photos come as multipart fields; names as text fields.
use axum::extract::{Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::{AppError, AppState};
use crate::data::photo;
use crate::face;
use crate::gallery::{self, Enrolment};

pub async fn auth(State(s): State<AppState>, req: Request, next: Next) -> Result<Response, AppError> {
    if let Some(token) = &s.token {
        let ok = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.strip_prefix("Bearer ").is_some_and(|t| t == token));
        if !ok {
            return Err(AppError { status: StatusCode::UNAUTHORIZED, message: "missing or wrong API token".into() });
        }
    }
    Ok(next.run(req).await)
}

/// The text and file fields of a multipart form, in order.
struct Form {
    texts: Vec<(String, String)>,
    files: Vec<(String, String, Vec<u8>)>,
}

impl Form {
    async fn read(mut m: Multipart) -> Result<Form, AppError> {
        let mut f = Form { texts: Vec::new(), files: Vec::new() };
        while let Some(field) = m.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(file) => f.files.push((name, file, field.bytes().await?.to_vec())),
                None => f.texts.push((name, field.text().await?)),
            }
        }
        Ok(f)
    }

    fn text(&self, key: &str) -> Result<String, AppError> {
        self.texts.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).ok_or_else(|| AppError::bad(format!("field `{key}` is missing")))
    }

    fn photos(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, AppError> {
        let v: Vec<_> = self.files.iter().filter(|(k, _, _)| k == key).map(|(_, f, b)| (f.clone(), b.clone())).collect();
        if v.is_empty() {
            return Err(AppError::bad(format!("file field `{key}` is missing")));
        }
        Ok(v)
    }
}

/// Decodes an uploaded photo; the error names the uploaded file.
fn decode(file: &str, bytes: &[u8]) -> Result<image::RgbImage, AppError> {
    photo::decode(bytes).map(|i| i.to_rgb8()).map_err(|r| AppError::bad(format!("{file}: {r}")))
}

fn embed(s: &AppState, input: &[u8]) -> Result<Vec<f32>, AppError> {
    Ok(s.embed(input)?)
}

fn one_face(s: &AppState, file: &str, bytes: &[u8]) -> Result<(face::Found, image::RgbImage), AppError> {
    let img = decode(file, bytes)?;
    let found = face::locate(&s.det, &img, &s.cfg, std::path::Path::new(file))?;
    Ok((found, img))
}

pub async fn people(State(s): State<AppState>) -> Result<Json<Value>, AppError> {
    let list = tokio::task::spawn_blocking(move || s.gallery.lock().expect("gallery lock").people()).await??;
    Ok(Json(json!({ "people": list.iter().map(|(n, k)| json!({"name": n, "images": k})).collect::<Vec<_>>() })))
}

pub async fn forget(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    let n = name.clone();
    tokio::task::spawn_blocking(move || s.gallery.lock().expect("gallery lock").forget(&n)).await??;
    Ok(Json(json!({ "forgotten": name })))
}

pub async fn enroll(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let name = form.text("name")?;
    let photos = form.photos("photo")?;
    let add = form.text("add").is_ok_and(|v| v == "true");
    tokio::task::spawn_blocking(move || {
        gallery::check_name(&name).map_err(|r| AppError::bad(format!("name: {r}")))?;
        let mut items = Vec::new();
        for (file, bytes) in &photos {
            let (found, img) = one_face(&s, file, bytes)?;
            let mut png = Vec::new();
            face::canonical(&img, &found.face)
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?;
            items.push(Enrolment { crop_png: png, embedding: embed(&s, &found.input)? });
        }
        s.gallery.lock().expect("gallery lock").enroll(&name, &items, &s.model_id, add)?;
        Ok(Json(json!({ "enrolled": name, "images": items.len() })))
    })
    .await?
}

pub async fn identify(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let (file, bytes) = form.photos("photo")?.remove(0);
    let threshold = form.text("threshold").ok().and_then(|t| t.parse::<f32>().ok()).unwrap_or(s.threshold);
    // The live page asks for the small detector: a webcam frame's faces are large.
    let fast = form.text("fast").is_ok_and(|v| v == "true");
    tokio::task::spawn_blocking(move || {
        let img = decode(&file, &bytes)?;
        let matrix = s.gallery.lock().expect("gallery lock").matrix()?;
        let mut scratch = Vec::new();
        let mut faces = Vec::new();
        let found = if fast { s.det.detect_fast(&img)? } else { s.det.detect(&img)? };
        for f in found.into_iter().filter(|f| f.rect[2] >= face::MIN_FACE_PX) {
            let e = embed(&s, &face::to_input(&face::canonical(&img, &f), &s.cfg))?;
            let hit = gallery::identify(&s.net, &matrix, &e, threshold, &mut scratch)?;
            faces.push(json!({"name": hit.name, "score": hit.score, "box": f.rect}));
        }
        Ok(Json(json!({ "faces": faces })))
    })
    .await?
}

pub async fn verify(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let name = form.text("name")?;
    let (file, bytes) = form.photos("photo")?.remove(0);
    tokio::task::spawn_blocking(move || {
        let matrix = s.gallery.lock().expect("gallery lock").matrix()?;
        let not_enrolled = || AppError { status: StatusCode::NOT_FOUND, message: format!("name `{name}`: is not enrolled") };
        if !matrix.names.contains(&name) {
            return Err(not_enrolled());
        }
        let (found, _) = one_face(&s, &file, &bytes)?;
        let e = embed(&s, &found.input)?;
        let scores = matrix.claim_scores(&s.net, &name, &e).ok_or_else(not_enrolled)?;
        let (ok, fraction) = gallery::verify_rule(&scores, s.threshold, s.verification);
        Ok(Json(json!({"verified": ok, "name": name, "fraction": fraction, "scores": scores, "box": found.face.rect})))
    })
    .await?
}

pub async fn compare(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let (fa, a) = form.photos("a")?.remove(0);
    let (fb, b) = form.photos("b")?.remove(0);
    tokio::task::spawn_blocking(move || {
        let (x, _) = one_face(&s, &fa, &a)?;
        let (y, _) = one_face(&s, &fb, &b)?;
        let (ea, eb) = (embed(&s, &x.input)?, embed(&s, &y.input)?);
        let score = s.net.score(&ea, &eb);
        Ok(Json(json!({"score": score, "same": score >= s.threshold, "threshold": s.threshold})))
    })
    .await?
}

/// The web page: live camera, boxes and names, enrolment and collection buttons. Embedded in the
/// binary; it loads nothing from elsewhere.
pub async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("assets/index.html"))
}

pub async fn config(State(s): State<AppState>) -> Json<Value> {
    Json(json!({ "threshold": s.threshold, "verification": s.verification, "collect": s.collect_dir.is_some() }))
}

/// Saves the uploaded frame as `anchor/` or `positive/` JPEG in the collection folder.
pub async fn collect(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let kind = form.text("kind")?;
    if kind != "anchor" && kind != "positive" {
        return Err(AppError::bad(format!("kind `{kind}`: expected anchor or positive")));
    }
    let (file, bytes) = form.photos("photo")?.remove(0);
    let Some(root) = s.collect_dir.clone() else {
        return Err(AppError { status: StatusCode::FORBIDDEN, message: "collection is off (start serve with --collect DIR)".into() });
    };
    tokio::task::spawn_blocking(move || {
        let img = decode(&file, &bytes)?;
        let dir = root.join(&kind);
        std::fs::create_dir_all(&dir).map_err(|e| AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        let path = dir.join(format!("{stamp}.jpg"));
        img.save(&path).map_err(|e| AppError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?;
        Ok(Json(json!({ "file": format!("{kind}/{stamp}.jpg") })))
    })
    .await?
}
