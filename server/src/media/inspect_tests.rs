#![allow(clippy::cast_possible_truncation)] // test pictures: colours wrap on purpose

use image::{Frame, Rgba, RgbaImage};

use super::*;

const LIMIT: u64 = 40_000_000;

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(w, h, |x, y| Rgba([(x * 7) as u8, (y * 5) as u8, 90, 255]));
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img).write_with_encoder(PngEncoder::new(&mut out)).unwrap();
    out
}

fn jpeg_with_exif() -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 30, |x, _| image::Rgb([x as u8, 10, 200])));
    let mut plain = Vec::new();
    img.write_with_encoder(JpegEncoder::new_with_quality(&mut plain, 90)).unwrap();
    // An APP1 Exif segment right after SOI: a TIFF header, one IFD with no
    // entries, and a "location" string a stripped file must not keep.
    let mut exif = b"Exif\0\0II*\0\x08\0\0\0\0\0\0\0\0\0GPS-52.52N-13.40E".to_vec();
    let len = u16::try_from(exif.len() + 2).unwrap().to_be_bytes();
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1, len[0], len[1]]);
    out.append(&mut exif);
    out.extend_from_slice(&plain[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A real 1×1 PNG whose header claims `w`×`h`: a few hundred bytes that
/// would decode to gigabytes.
pub fn bomb(w: u32, h: u32) -> Vec<u8> {
    let mut b = png(1, 1);
    // Signature (8), length (4), "IHDR" (4), then width and height.
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn png_is_encoded_again_with_a_thumbnail() {
    let got = inspect(&png(600, 300), LIMIT).unwrap();
    assert_eq!(got.content_type, "image/png");
    assert_eq!(got.dimensions, Some((600, 300)));
    let thumb = image::load_from_memory(&got.thumbnail.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (THUMB_SIDE, THUMB_SIDE / 2));
    assert!(image::load_from_memory(&got.bytes).is_ok());
    let tiny = inspect(&png(40, 24), LIMIT).unwrap().thumbnail.unwrap();
    let tiny = image::load_from_memory(&tiny).unwrap();
    assert_eq!((tiny.width(), tiny.height()), (40, 24), "small pictures are not scaled up");
}

#[test]
fn jpeg_loses_its_exif() {
    let raw = jpeg_with_exif();
    assert!(raw.windows(4).any(|w| w == b"Exif"), "the test file carries EXIF");
    let got = inspect(&raw, LIMIT).unwrap();
    assert_eq!(got.content_type, "image/jpeg");
    assert_eq!(got.dimensions, Some((40, 30)));
    assert!(!got.bytes.windows(4).any(|w| w == b"Exif"), "EXIF survived");
    assert!(!got.bytes.windows(3).any(|w| w == b"GPS"), "the location survived");
}

#[test]
fn animated_gif_keeps_its_frames() {
    let frames = (0..3).map(|i| Frame::new(RgbaImage::from_pixel(8, 8, Rgba([i * 80, 0, 0, 255]))));
    let mut raw = Vec::new();
    GifEncoder::new(&mut raw).encode_frames(frames).unwrap();
    let got = inspect(&raw, LIMIT).unwrap();
    assert_eq!(got.content_type, "image/gif");
    let again = GifDecoder::new(Cursor::new(&got.bytes)).unwrap().into_frames().count();
    assert_eq!(again, 3);
    // Frames count together against the pixel limit.
    assert!(matches!(inspect(&raw, 8 * 8 * 2), Err(Refused::Invalid(_))));
    // And there are not too many, however small.
    let many =
        (0..1001).map(|i| Frame::new(RgbaImage::from_pixel(1, 1, Rgba([if i % 2 == 0 { 255 } else { 0 }, 0, 0, 255]))));
    let mut raw = Vec::new();
    GifEncoder::new(&mut raw).encode_frames(many).unwrap();
    assert!(matches!(inspect(&raw, LIMIT), Err(Refused::Invalid(m)) if m.contains("1000 frames")));
}

/// A 1×1 screen whose one frame is 2000×2000 of one colour: a few KB
/// that would decode to 4 M pixels per frame, against the header's word.
#[test]
fn a_gif_frame_larger_than_its_screen_is_refused() {
    let mut raw = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut raw, 1, 1, &[0, 0, 0, 255, 255, 255]).unwrap();
        let frame = gif::Frame { width: 2000, height: 2000, buffer: vec![0u8; 4_000_000].into(), ..Default::default() };
        enc.write_frame(&frame).unwrap();
    }
    assert!(raw.len() < 64 * 1024, "{} bytes", raw.len());
    let err = inspect(&raw, LIMIT).unwrap_err();
    assert!(matches!(err, Refused::Invalid(_)), "{err:?}");
}

#[test]
fn a_bomb_is_refused_from_its_header() {
    let raw = bomb(100_000, 100_000);
    assert!(raw.len() < 200);
    let err = inspect(&raw, LIMIT).unwrap_err();
    assert!(matches!(&err, Refused::Invalid(m) if m.contains("100000×100000")), "{err:?}");
    // Within each side's bound but over the pixel count.
    assert!(matches!(inspect(&bomb(10_000, 10_000), LIMIT), Err(Refused::Invalid(_))));
}

#[test]
fn a_truncated_image_is_refused() {
    let raw = png(200, 200);
    let err = inspect(&raw[..raw.len() / 2], LIMIT).unwrap_err();
    assert!(matches!(err, Refused::Invalid(_)), "{err:?}");
}

#[test]
fn wrong_magic_executables_and_markup_are_refused() {
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";
    assert!(matches!(inspect(elf, LIMIT), Err(Refused::Unsupported(_))));
    let pe = [b"MZ".as_slice(), &[0u8; 62]].concat();
    assert!(matches!(inspect(&pe, LIMIT), Err(Refused::Unsupported(_))));
    // A PNG's name and declared type mean nothing: these bytes are neither.
    assert!(matches!(inspect(&[0xff, 0xfe, 0x00, 0x81, 0x9c], LIMIT), Err(Refused::Unsupported(_))));
    for markup in [
        "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        "<?xml version='1.0'?><svg/>",
        "\u{feff}  <!DOCTYPE html><p>hi",
        "#!/bin/sh\nrm -rf /\n",
    ] {
        assert!(matches!(inspect(markup.as_bytes(), LIMIT), Err(Refused::Unsupported(_))), "{markup}");
    }
    assert!(matches!(inspect(b"", LIMIT), Err(Refused::Invalid(_))));
}

#[test]
fn polyglots_are_refused() {
    let mut png_zip = png(4, 4);
    png_zip.extend_from_slice(b"PK\x03\x04payload-of-a-jar");
    png_zip.extend_from_slice(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    assert!(matches!(inspect(&png_zip, LIMIT), Err(Refused::Unsupported(m)) if m.contains("ZIP")));
    let mut png_html = png(4, 4);
    png_html.extend_from_slice(b"<html><script>alert(1)</script>");
    assert!(matches!(inspect(&png_html, LIMIT), Err(Refused::Unsupported(_))));
    let pdf_html = b"%PDF-1.4\n1 0 obj <<>> endobj\n<SCRIPT>alert(1)</SCRIPT>\n%%EOF";
    assert!(matches!(inspect(pdf_html, LIMIT), Err(Refused::Unsupported(_))));
}

#[test]
fn documents_are_kept_as_sent() {
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
    let got = inspect(pdf, LIMIT).unwrap();
    assert_eq!((got.content_type, got.bytes.as_slice(), got.is_image()), ("application/pdf", pdf.as_slice(), false));
    let got = inspect("notes: 3 < 4, ok\n".as_bytes(), LIMIT).unwrap();
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    assert!(got.thumbnail.is_none());
}
