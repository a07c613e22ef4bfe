//! The API's handlers. Photos come as multipart fields; names as text fields.
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{AppError, AppState};
use crate::data::photo;
use crate::error::Error;
use crate::service::{self, card, Photo};

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
                Some(file) => {
                    // Refused while reading: a form of a thousand tiny photos is never held whole.
                    if f.files.len() == service::MAX_ENROL_PHOTOS {
                        return Err(Error::input(name, format!("more than {} photos in one request", service::MAX_ENROL_PHOTOS)).into());
                    }
                    f.files.push((name, file, field.bytes().await?.to_vec()))
                }
                // Bytes, not `text()`, which would turn invalid UTF-8 into U+FFFD silently.
                None => {
                    let bytes = field.bytes().await?;
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| AppError::from(Error::input(name.clone(), "not valid UTF-8 text")))?;
                    f.texts.push((name, text))
                }
            }
        }
        Ok(f)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.texts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn text(&self, key: &str) -> Result<String, AppError> {
        self.get(key).map(str::to_string).ok_or_else(|| Error::input(key, "this field is missing").into())
    }

    /// An optional threshold or fraction: absent, or a number from 0 to 1 (else 400 naming it).
    fn unit(&self, key: &str) -> Result<Option<f32>, AppError> {
        Ok(self.get(key).map(|t| card::parse_unit(key, t)).transpose()?)
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    fn photos(&mut self, key: &str) -> Result<Vec<Photo>, AppError> {
        let (mine, rest) = std::mem::take(&mut self.files).into_iter().partition(|(k, _, _)| k == key);
        self.files = rest;
        let v: Vec<Photo> = mine.into_iter().map(|(_, file, bytes): (String, String, Vec<u8>)| Photo::new(file, bytes)).collect();
        if v.is_empty() {
            return Err(Error::input(key, "file field is missing").into());
        }
        Ok(v)
    }

    fn photo(&mut self, key: &str) -> Result<Photo, AppError> {
        Ok(self.photos(key)?.swap_remove(0))
    }
}

/// Runs model or gallery work on a blocking thread.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> crate::Result<T> + Send + 'static) -> Result<T, AppError> {
    Ok(tokio::task::spawn_blocking(work).await??)
}

pub async fn people(State(s): State<AppState>) -> Result<Json<crate::service::People>, AppError> {
    Ok(Json(blocking(move || s.service.people()).await?))
}

pub async fn forget(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    let stored = blocking(move || s.service.forget(&name)).await?;
    Ok(Json(json!({ "forgotten": stored })))
}

/// Fields `name` (as enrolled, any case) and `new`.
/// `POST /api/people/{name}/rename` with the new name in `to`; pictures and embeddings stay.
pub async fn rename(State(s): State<AppState>, Path(old): Path<String>, m: Multipart) -> Result<Json<Value>, AppError> {
    let form = Form::read(m).await?;
    let new = form.text("to")?;
    let (old, new) = blocking(move || s.service.rename(&old, &new)).await?;
    Ok(Json(json!({ "renamed": old, "to": new })))
}

pub async fn enroll(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let mut form = Form::read(m).await?;
    let name = form.text("name")?;
    let photos = form.photos("photo")?;
    let add = form.flag("add");
    let done = blocking(move || s.service.enroll(&name, &photos, add)).await?;
    Ok(Json(json!(done)))
}

pub async fn identify(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let mut form = Form::read(m).await?;
    let photo = form.photo("photo")?;
    let threshold = form.unit("threshold")?;
    // The live page asks for the small detector: a webcam frame's faces are large.
    let fast = form.flag("fast");
    let faces = blocking(move || s.service.identify(&photo, threshold, fast)).await?;
    Ok(Json(json!({ "faces": faces })))
}

/// Fields `name`, `photo`, and optionally `threshold` (the per-image score) and `verification`
/// (the fraction of enrolment images), each from 0 to 1; the model card's when absent.
pub async fn verify(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let mut form = Form::read(m).await?;
    let name = form.text("name")?;
    let photo = form.photo("photo")?;
    let (threshold, verification) = (form.unit("threshold")?, form.unit("verification")?);
    let v = blocking(move || s.service.verify(&photo, &name, threshold, verification)).await?;
    Ok(Json(json!(v)))
}

pub async fn compare(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let mut form = Form::read(m).await?;
    let (a, b) = (form.photo("a")?, form.photo("b")?);
    let threshold = form.unit("threshold")?;
    let c = blocking(move || s.service.compare(&a, &b, threshold)).await?;
    Ok(Json(json!(c)))
}

pub async fn config(State(s): State<AppState>) -> Json<Value> {
    let card = s.service.faces().map(|f| f.card().clone()).unwrap_or_default();
    let faces = s.service.faces().ok();
    Json(json!({
        "threshold": card.naming(),
        "verify_threshold": card.same_at(),
        "verification": card.fraction(),
        "collect": s.collect_dir.is_some(),
        "model": faces.map(|f| f.model_id().to_string()),
        "model_name": faces.map(|f| f.name().to_string()),
        "model_shape": faces.map(|f| f.shape()),
        "video": faces.map(|f| crate::service::stream::rule(f.card())),
    }))
}

/// Saves the uploaded frame as `anchor/` or `positive/` JPEG in the collection folder.
pub async fn collect(State(s): State<AppState>, m: Multipart) -> Result<Json<Value>, AppError> {
    let mut form = Form::read(m).await?;
    let kind = form.text("kind")?;
    if kind != "anchor" && kind != "positive" {
        return Err(Error::input("kind", format!("`{kind}`: expected anchor or positive")).into());
    }
    let photo = form.photo("photo")?;
    let Some(root) = s.collect_dir.clone() else {
        return Err(AppError { status: StatusCode::FORBIDDEN, message: "collection is off (start serve with --collect DIR)".into() });
    };
    let file = blocking(move || {
        let img = photo::decode(&photo.bytes).map_err(|r| Error::data(&photo.name, None, r))?;
        let dir = root.join(&kind);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut jpeg = Vec::new();
        img.to_rgb8()
            .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .map_err(|e| Error::Internal(format!("encoding a collected frame: {e}")))?;
        // Named by the time, and created only if new: two frames in one microsecond get
        // different names instead of one overwriting the other.
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        for n in 0..100u32 {
            let name = if n == 0 { format!("{stamp}.jpg") } else { format!("{stamp}-{n}.jpg") };
            let path = dir.join(&name);
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    std::io::Write::write_all(&mut f, &jpeg).map_err(|e| Error::io(&path, e))?;
                    return Ok(format!("{kind}/{name}"));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Internal(format!("{}: no free file name for {stamp}", dir.display())))
    })
    .await?;
    Ok(Json(json!({ "file": file })))
}
