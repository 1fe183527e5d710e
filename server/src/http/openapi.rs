//! The OpenAPI document of the whole HTTP API, generated from the handlers.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{admin, analytics, auth_routes, catalog, chatroom, cluster, error, health, media, rtc, space, user};

#[derive(OpenApi)]
#[openapi(
    info(title = "metaverse", description = "HTTP API of the metaverse server. Protected routes answer 403 to a missing, malformed, expired or revoked token."),
    paths(
        auth_routes::signup, auth_routes::signin, auth_routes::refresh, auth_routes::revoke, auth_routes::signout,
        user::me, user::set_metadata, user::bulk_metadata,
        catalog::avatars, catalog::elements, catalog::maps,
        space::create, space::delete, space::mine, space::get, space::add_element,
        space::delete_element_body, space::delete_element_path,
        admin::create_element, admin::update_element, admin::create_avatar, admin::create_map,
        chatroom::list, chatroom::create, chatroom::join, chatroom::update, chatroom::delete,
        chatroom::messages, chatroom::send,
        analytics::space_analytics, analytics::overview,
        rtc::config,
        media::upload, media::list, media::file, media::thumbnail, media::delete,
        cluster::route, cluster::presence,
        health::health, health::ready, crate::ws::on_http::upgrade,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("PASETO v4.local").build(),
            ),
        );
    }
}
