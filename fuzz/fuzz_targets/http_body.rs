//! Any HTTP body gets a 400 or a decoded request, never a panic (which
//! actix turns into a dropped connection and a lost worker). The same bytes
//! go through several request types, then through what their handlers run
//! next without a database: validation and the dimension parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metaverse_server::http::{
    admin::CreateMapRequest,
    auth_routes::SignupRequest,
    body::decode,
    chatroom::{CreateChatroom, UpdateChatroom},
    input,
    space::{AddElementRequest, CreateSpaceRequest},
};
use validator::Validate;

/// The API's largest grid side; the parser must hold for any bound.
const MAX_SIDE: i32 = 10_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode::<SignupRequest>(data) {
        let _ = r.validate();
    }
    if let Ok(r) = decode::<CreateSpaceRequest>(data) {
        let _ = r.validate();
        if let Some(d) = &r.dimensions {
            let _ = input::dimensions(d, MAX_SIDE);
        }
    }
    if let Ok(r) = decode::<CreateChatroom>(data) {
        let _ = r.validate();
    }
    if let Ok(r) = decode::<UpdateChatroom>(data) {
        let _ = r.validate();
    }
    if let Ok(r) = decode::<CreateMapRequest>(data) {
        let _ = r.validate();
        let _ = input::dimensions(&r.dimensions, MAX_SIDE);
    }
    let _ = decode::<AddElementRequest>(data);
});
