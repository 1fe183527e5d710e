//! The HTTP API (actix-web). Routes follow the published API contract, with the old
//! platform's aliases; `openapi` documents them.

pub mod admin;
pub mod analytics;
pub mod auth_routes;
pub mod body;
pub mod catalog;
pub mod chatroom;
pub mod cluster;
pub mod csp;
pub mod error;
pub mod extract;
pub mod health;
pub mod input;
pub mod listen;
pub mod media;
pub mod openapi;
pub mod operator;
pub mod request_log;
pub mod rtc;
pub mod space;
pub mod user;
pub mod web_client;

use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use error::ApiError;

/// Registers every route. Fixed paths (`/space/all`, `/space/element`) come
/// before the `/space/{id}` patterns they would otherwise match.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        // The WebSocket on the HTTP origin, for a browser behind one TLS
        // origin; the WebSocket port stays for old clients.
        .route("/ws", web::get().to(crate::ws::on_http::upgrade))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", openapi::ApiDoc::openapi()))
        .service(
            web::scope("/api/v1")
                // `POST /api/v1/space/` is `POST /api/v1/space`: old front
                // ends send the slash, and one route per path keeps the
                // table honest. Only here: Swagger UI's paths need theirs.
                .wrap(actix_web::middleware::NormalizePath::trim())
                .route("/signup", web::post().to(auth_routes::signup))
                .route("/auth/signup", web::post().to(auth_routes::signup))
                .route("/signin", web::post().to(auth_routes::signin))
                .route("/auth/login", web::post().to(auth_routes::signin))
                // The old front end's sign-in path before `/auth/login`.
                .route("/login", web::post().to(auth_routes::signin))
                .route("/token/refresh", web::post().to(auth_routes::refresh))
                .route("/token/revoke", web::post().to(auth_routes::revoke))
                .route("/signout", web::post().to(auth_routes::signout))
                .route("/auth/logout", web::post().to(auth_routes::signout))
                .route("/user/me", web::get().to(user::me))
                .route("/user/metadata", web::post().to(user::set_metadata))
                .route("/user/metadata/bulk", web::get().to(user::bulk_metadata))
                .route("/avatars", web::get().to(catalog::avatars))
                .route("/elements", web::get().to(catalog::elements))
                .route("/maps", web::get().to(catalog::maps))
                .route("/space", web::post().to(space::create))
                .route("/space/all", web::get().to(space::mine))
                .route("/space/element", web::post().to(space::add_element))
                .route("/space/element", web::delete().to(space::delete_element_body))
                .route("/space/element/{id}", web::delete().to(space::delete_element_path))
                .route("/space/{spaceId}/route", web::get().to(cluster::route))
                .route("/space/{spaceId}/presence", web::get().to(cluster::presence))
                .route("/space/{spaceId}", web::get().to(space::get))
                .route("/space/{spaceId}", web::delete().to(space::delete))
                .route("/admin/element", web::post().to(admin::create_element))
                .route("/admin/element/{elementId}", web::put().to(admin::update_element))
                .route("/admin/avatar", web::post().to(admin::create_avatar))
                .route("/admin/map", web::post().to(admin::create_map))
                .route("/chatroom/space/{spaceId}", web::get().to(chatroom::list))
                .route("/chatroom/create", web::post().to(chatroom::create))
                .route("/chatroom/join/{id}", web::post().to(chatroom::join))
                .route("/chatroom/update/{id}", web::put().to(chatroom::update))
                .route("/chatroom/delete/{id}", web::delete().to(chatroom::delete))
                .route("/chatroom/{id}/messages", web::get().to(chatroom::messages))
                .route("/chatroom/{id}/send", web::post().to(chatroom::send))
                .route("/analytics/overview", web::get().to(analytics::overview))
                .route("/analytics/spaces/{spaceId}", web::get().to(analytics::space_analytics))
                .route("/rtc/config", web::get().to(rtc::config))
                .configure(media::routes)
                .default_service(web::to(not_found)),
        )
        // The browser client, last: anything else that is a GET.
        .route("/", web::get().to(web_client::index))
        .route("/{path:.*}", web::get().to(web_client::asset));
}

/// JSON 404 for unknown routes (and 405-like mismatches of method).
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("no route for {} {}", req.method(), req.path())))
}
