//! Serving an upload's bytes: the stored type with `nosniff`, documents as
//! downloads in a sandbox, a strong `ETag` (the sha256) with immutable
//! caching, and single byte ranges.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue, Header},
    },
};
use futures_util::StreamExt;
use metaverse_schema::store::media as rows;

use super::super::error::{ApiError, ErrorBody, ErrorDetail};
use crate::state::AppState;

/// The bytes of `id` (or its thumbnail) for `req`.
pub async fn serve(state: &AppState, req: &HttpRequest, id: &str, thumb: bool) -> Result<HttpResponse, ApiError> {
    let row = rows::find(&state.db, id).await?;
    let row = row.filter(|r| !thumb || r.thumbnail).ok_or_else(|| ApiError::not_found("no such upload"))?;
    let etag = format!("\"{}{}\"", row.sha256, if thumb { "-t" } else { "" });
    // RFC 9110 §13.1.2: If-None-Match compares weakly (`W/` ignored).
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && inm.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*")
    {
        return Ok(common(&mut HttpResponse::NotModified(), &etag).finish());
    }
    let size = u64::try_from(row.size).unwrap_or(0);
    let range = if thumb { Ok(None) } else { requested_range(req, &etag, size) };
    let range = match range {
        Ok(r) => r,
        Err(Unsatisfiable) => return Ok(unsatisfiable(size)),
    };
    let opened =
        state.media.objects.open(&row.sha256, thumb, range.clone()).await.map_err(crate::media::MediaError::from)?;
    let mut res = match &range {
        Some(r) => {
            let mut b = HttpResponse::PartialContent();
            b.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{}", r.start, r.end - 1, opened.size)));
            b
        }
        None => HttpResponse::Ok(),
    };
    common(&mut res, &etag);
    if !thumb {
        res.insert_header((header::ACCEPT_RANGES, "bytes"));
    }
    let is_image = row.content_type.starts_with("image/");
    res.insert_header((header::CONTENT_TYPE, if thumb { "image/png" } else { row.content_type.as_str() }));
    res.insert_header(ContentDisposition {
        disposition: if is_image || thumb { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: file_name(&row.name),
    });
    if !is_image {
        // Opened in a tab anyway, a document runs nothing and reaches nothing.
        res.insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"));
    }
    res.no_chunking(opened.range.end - opened.range.start);
    Ok(res.streaming(opened.body.map(|r| r.map_err(|e| actix_web::error::ErrorServiceUnavailable(e.to_string())))))
}

/// The name as `Content-Disposition` carries it (RFC 6266): an ASCII
/// `filename` every client reads, and the UTF-8 name in `filename*` when
/// they differ, so "café.pdf" saves as itself rather than as mojibake.
fn file_name(name: &str) -> Vec<DispositionParam> {
    let ascii: String = name.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '_' }).collect();
    let mut params = vec![DispositionParam::Filename(ascii.clone())];
    if ascii != name {
        params.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        }));
    }
    params
}

fn common<'a>(res: &'a mut actix_web::HttpResponseBuilder, etag: &str) -> &'a mut actix_web::HttpResponseBuilder {
    res.insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// The one byte range asked for, if any (several ranges, or an `If-Range`
/// that no longer matches, get the whole file, as RFC 9110 allows).
fn requested_range(req: &HttpRequest, etag: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
    if !req.headers().contains_key(header::RANGE) {
        return Ok(None);
    }
    if let Some(if_range) = req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    let Ok(header::Range::Bytes(specs)) = header::Range::parse(req) else {
        return Ok(None);
    };
    let [spec] = specs.as_slice() else {
        return Ok(None);
    };
    match spec.to_satisfiable_range(size) {
        Some((first, last)) => Ok(Some(first..last + 1)),
        None => Err(Unsatisfiable),
    }
}

/// A `Range` that asks for nothing the file has.
struct Unsatisfiable;

/// 416 names the size, so the client can ask again (RFC 9110 §15.5.17).
fn unsatisfiable(size: u64) -> HttpResponse {
    HttpResponse::build(StatusCode::RANGE_NOT_SATISFIABLE)
        .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
        .json(ErrorBody {
            error: ErrorDetail {
                code: "range-not-satisfiable".into(),
                message: format!("the file has {size} bytes"),
                retry_after_ms: None,
            },
        })
}
