//! What an upload really is, decided from its bytes alone, and the bytes
//! the server stores instead: images decoded and encoded again (which
//! drops EXIF locations, comments and anything appended to the picture, so
//! no polyglot survives), documents kept as they are once they pass the
//! checks below.
//!
//! Pure and synchronous: callers run it on a blocking thread behind a
//! permit, since decoding costs CPU by pixels.

use std::io::Cursor;

use image::{
    AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits,
    codecs::{gif::GifDecoder, gif::GifEncoder, jpeg::JpegEncoder, png::PngEncoder, webp::WebPEncoder},
};

/// Thumbnails fit in this square.
pub const THUMB_SIDE: u32 = 256;
/// Widest or tallest image accepted, whatever its pixel count.
const MAX_SIDE: u32 = 16_384;
/// Frames of an animation, at most: tiny frames cost a few bytes each in
/// the file but a buffer each once decoded, and a frame each to encode.
const MAX_FRAMES: usize = 1000;
/// Quality of re-encoded JPEGs: visually lossless for photos.
const JPEG_QUALITY: u8 = 88;

/// Why an upload was refused; each is the client's fault, and says so.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Not one of the accepted types (or one refused on purpose).
    #[error("{0}")]
    Unsupported(String),
    /// An accepted type that does not decode, or is too big to decode.
    #[error("{0}")]
    Invalid(String),
}

/// An accepted upload.
#[derive(Debug)]
pub struct Inspected {
    /// What to store.
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// Images only.
    pub dimensions: Option<(u32, u32)>,
    /// A PNG of at most [`THUMB_SIDE`] a side, for images.
    pub thumbnail: Option<Vec<u8>>,
}

impl Inspected {
    pub fn is_image(&self) -> bool {
        self.dimensions.is_some()
    }
}

/// Checks `raw` and makes what to store. `max_pixels` bounds the decoded
/// size (all frames of an animation together).
pub fn inspect(raw: &[u8], max_pixels: u64) -> Result<Inspected, Refused> {
    if raw.is_empty() {
        return Err(Refused::Invalid("the file is empty".into()));
    }
    let sniffed = infer::get(raw).map(|t| t.mime_type());
    if sniffed.is_some() {
        // Re-encoding would drop the other file, but a polyglot is an
        // attack: say so rather than quietly clean it.
        refuse_polyglot(raw)?;
    }
    match sniffed {
        Some("image/png") => still(raw, ImageFormat::Png, max_pixels),
        Some("image/jpeg") => still(raw, ImageFormat::Jpeg, max_pixels),
        Some("image/webp") => still(raw, ImageFormat::WebP, max_pixels),
        Some("image/gif") => gif(raw, max_pixels),
        Some("application/pdf") => document(raw, "application/pdf"),
        Some(other) => Err(Refused::Unsupported(format!(
            "{other} is not accepted: upload PNG, JPEG, GIF or WebP images, PDF or plain text"
        ))),
        None => text(raw),
    }
}

fn limits(max_pixels: u64) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    // RGBA at 4 bytes a pixel, plus the decoder's own buffers.
    l.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    l
}

/// The header's dimensions, refused before any pixel is decoded when they
/// exceed the limits: that is the whole defence against a bomb.
fn check_dimensions(w: u32, h: u32, frames: u64, max_pixels: u64) -> Result<(), Refused> {
    let pixels = u64::from(w) * u64::from(h) * frames.max(1);
    if w == 0 || h == 0 {
        return Err(Refused::Invalid("the image has no pixels".into()));
    }
    if w > MAX_SIDE || h > MAX_SIDE || pixels > max_pixels {
        return Err(Refused::Invalid(format!(
            "the image declares {w}×{h} pixels{}, over the limit of {max_pixels} pixels and {MAX_SIDE} a side",
            if frames > 1 { format!(" in {frames} frames") } else { String::new() }
        )));
    }
    Ok(())
}

fn corrupt(e: impl std::fmt::Display) -> Refused {
    Refused::Invalid(format!("the image does not decode: {e}"))
}

/// PNG, JPEG and WebP: one picture, turned upright (EXIF orientation) and
/// encoded again in its own format.
fn still(raw: &[u8], format: ImageFormat, max_pixels: u64) -> Result<Inspected, Refused> {
    let (w, h) = ImageReader::with_format(Cursor::new(raw), format).into_dimensions().map_err(corrupt)?;
    check_dimensions(w, h, 1, max_pixels)?;
    let mut reader = ImageReader::with_format(Cursor::new(raw), format);
    reader.limits(limits(max_pixels));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    let mut out = Vec::with_capacity(raw.len());
    let content_type = match format {
        ImageFormat::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)).map_err(corrupt)?;
            "image/jpeg"
        }
        ImageFormat::WebP => {
            let rgba = DynamicImage::ImageRgba8(img.to_rgba8());
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out)).map_err(corrupt)?;
            "image/webp"
        }
        _ => {
            img.write_with_encoder(PngEncoder::new(&mut out)).map_err(corrupt)?;
            "image/png"
        }
    };
    Ok(Inspected {
        bytes: out,
        content_type,
        dimensions: Some((img.width(), img.height())),
        thumbnail: Some(thumbnail(&img)?),
    })
}

/// GIF, animations kept: every frame decoded (their pixels count together
/// against the limit) and encoded again.
fn gif(raw: &[u8], max_pixels: u64) -> Result<Inspected, Refused> {
    let mut decoder = GifDecoder::new(Cursor::new(raw)).map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, 1, max_pixels)?;
    // A frame may declare itself larger than the screen the header states;
    // bounding each frame by the screen keeps the header's word.
    let mut bounded = limits(max_pixels);
    bounded.max_image_width = Some(w);
    bounded.max_image_height = Some(h);
    decoder.set_limits(bounded).map_err(corrupt)?;
    let budget = max_pixels / (u64::from(w) * u64::from(h));
    let mut frames = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.map_err(corrupt)?;
        if frames.len() >= MAX_FRAMES {
            return Err(Refused::Invalid(format!("the animation has more than {MAX_FRAMES} frames")));
        }
        if frames.len() as u64 >= budget {
            return Err(check_dimensions(w, h, frames.len() as u64 + 1, max_pixels).err().unwrap_or_else(|| {
                Refused::Invalid(format!("the animation has more than {budget} frames of {w}×{h}"))
            }));
        }
        frames.push(frame);
    }
    let first = frames.first().ok_or_else(|| Refused::Invalid("the GIF has no frames".into()))?;
    let still = DynamicImage::ImageRgba8(first.buffer().clone());
    let thumb = thumbnail(&still)?;
    let mut out = Vec::with_capacity(raw.len());
    {
        // Speed 10 of 30: colour quantisation at speed 1 takes seconds a frame.
        let mut enc = GifEncoder::new_with_speed(&mut out, 10);
        enc.set_repeat(image::codecs::gif::Repeat::Infinite).map_err(corrupt)?;
        enc.encode_frames(frames).map_err(corrupt)?;
    }
    Ok(Inspected { bytes: out, content_type: "image/gif", dimensions: Some((w, h)), thumbnail: Some(thumb) })
}

/// A PNG that fits [`THUMB_SIDE`]: large pictures scaled down, small ones
/// kept at their size (`thumbnail` would scale them up).
fn thumbnail(img: &DynamicImage) -> Result<Vec<u8>, Refused> {
    let fits = img.width() <= THUMB_SIDE && img.height() <= THUMB_SIDE;
    let small = if fits { img.clone() } else { img.thumbnail(THUMB_SIDE, THUMB_SIDE) };
    let mut out = Vec::new();
    small.write_with_encoder(PngEncoder::new(&mut out)).map_err(corrupt)?;
    Ok(out)
}

/// Markup a browser would run, refused anywhere in an upload.
const MARKUP: [&[u8]; 5] = [b"<script", b"<html", b"<svg", b"<!doctype html", b"<iframe"];
/// A ZIP's end-of-directory record sits in its last 64 KiB + 22 bytes; an
/// archive appended to a picture or a PDF (a JAR, an Office file) has it.
const ZIP_END: &[u8] = b"PK\x05\x06";
const ZIP_TAIL: usize = 65_535 + 22;

/// Whether the bytes are also another kind of file (a polyglot), and which.
fn polyglot(raw: &[u8]) -> Option<&'static str> {
    let lower = raw.to_ascii_lowercase();
    if MARKUP.iter().any(|m| lower.windows(m.len()).any(|w| w == *m)) {
        return Some("HTML or SVG markup");
    }
    let tail = &raw[raw.len().saturating_sub(ZIP_TAIL)..];
    tail.windows(ZIP_END.len()).any(|w| w == ZIP_END).then_some("a ZIP archive")
}

fn refuse_polyglot(raw: &[u8]) -> Result<(), Refused> {
    match polyglot(raw) {
        Some(what) => Err(Refused::Unsupported(format!("the file also holds {what} (a polyglot); it is refused"))),
        None => Ok(()),
    }
}

/// A PDF, stored as sent (it is served as a download, never inline).
fn document(raw: &[u8], content_type: &'static str) -> Result<Inspected, Refused> {
    refuse_polyglot(raw)?;
    Ok(Inspected { bytes: raw.to_vec(), content_type, dimensions: None, thumbnail: None })
}

/// Plain UTF-8 text without NULs. Markup is refused: SVG carries scripts,
/// and HTML is a page, not a file to share.
fn text(raw: &[u8]) -> Result<Inspected, Refused> {
    let unknown =
        || Refused::Unsupported("unknown file type: upload PNG, JPEG, GIF or WebP images, PDF or plain text".into());
    let s = std::str::from_utf8(raw).map_err(|_| unknown())?;
    if s.contains('\0') {
        return Err(unknown());
    }
    let head = s.trim_start_matches('\u{feff}').trim_start().to_ascii_lowercase();
    if head.starts_with('<') || polyglot(raw).is_some() {
        return Err(Refused::Unsupported("SVG, HTML and XML are refused (they can carry scripts)".into()));
    }
    if head.starts_with("#!") {
        return Err(Refused::Unsupported("scripts are refused (the file starts with #!)".into()));
    }
    Ok(Inspected { bytes: raw.to_vec(), content_type: "text/plain; charset=utf-8", dimensions: None, thumbnail: None })
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
