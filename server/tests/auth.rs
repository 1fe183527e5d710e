//! Sign-up, sign-in, tokens, refresh, revocation and sign-out.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, TestApp, assert_forbidden, assert_invalid, error_code};
use metaverse_server::config::{AdminSignup, ServeConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A route that needs a valid token and nothing else.
const PROTECTED: &str = "/api/v1/space/all";

#[track_caller]
fn assert_no_password_hash(body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("$argon2"), "a password hash leaked: {text}");
}

async fn protected_status(app: &TestApp, token: &str) -> StatusCode {
    app.get(PROTECTED, Some(token)).await.0
}

fn str_field<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("{field} is not a string: {body}"))
}

// ---------------------------------------------------------------- sign-up

async fn signup_returns_user_id(app: TestApp) {
    let (status, body) =
        app.post("/api/v1/signup", None, json!({"username": "alice", "password": "password123", "type": "user"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!str_field(&body, "userId").is_empty());
    assert_eq!(body.as_object().unwrap().len(), 1, "only userId: {body}");
    assert_no_password_hash(&body);
}

async fn signup_alias_auth_signup_works(app: TestApp) {
    let (status, body) =
        app.post("/api/v1/auth/signup", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["userId"].is_string(), "{body}");
    // The account is real: it can sign in.
    app.signin("alice").await;
}

async fn signup_without_type_makes_a_user(app: TestApp) {
    let (status, _) = app.post("/api/v1/signup", None, json!({"username": "plain", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK);
    let token = app.signin("plain").await["token"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post("/api/v1/admin/avatar", Some(&token), json!({"imageUrl": "/a.png", "name": "A"})).await;
    assert_forbidden(status, &body);
}

async fn signup_type_is_case_insensitive(app: TestApp) {
    let (status, body) =
        app.post("/api/v1/signup", None, json!({"username": "boss", "password": "password123", "type": "Admin"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post("/api/v1/signup", None, json!({"username": "worker", "password": "password123", "type": "USER"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let admin = app.signin("boss").await["token"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post("/api/v1/admin/avatar", Some(&admin), json!({"imageUrl": "/a.png", "name": "A"})).await;
    assert_eq!(status, StatusCode::OK, "\"Admin\" gives the admin role: {body}");

    let user = app.signin("worker").await["token"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post("/api/v1/admin/avatar", Some(&user), json!({"imageUrl": "/a.png", "name": "A"})).await;
    assert_forbidden(status, &body);
}

async fn signup_accepts_boundary_lengths(app: TestApp) {
    for (username, password) in [("abc".to_owned(), "x".repeat(8)), ("u".repeat(64), "y".repeat(128))] {
        let (status, body) =
            app.post("/api/v1/signup", None, json!({"username": username, "password": password})).await;
        assert_eq!(status, StatusCode::OK, "{username}: {body}");
    }
}

async fn signup_rejects_invalid_fields(app: TestApp) {
    let cases = [
        (json!({"password": "password123"}), "username"),
        (json!({"username": "alice"}), "password"),
        (json!({"username": "ab", "password": "password123"}), "username"),
        (json!({"username": "a".repeat(65), "password": "password123"}), "username"),
        (json!({"username": "two words", "password": "password123"}), "username"),
        (json!({"username": "tab\there", "password": "password123"}), "username"),
        (json!({"username": "alice", "password": "short"}), "password"),
        (json!({"username": "alice", "password": "p".repeat(129)}), "password"),
        (json!({"username": "alice", "password": "password123", "type": "superuser"}), "type"),
        (json!({"username": "alice", "password": "password123", "email": "not-an-email"}), "email"),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post("/api/v1/signup", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        assert_eq!(error_code(&resp), "validation", "{body} -> {resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: the message should name {field:?}: {message:?}");
    }
    // None of them created an account.
    let (status, _) = app.post("/api/v1/signin", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn signup_rejects_wrong_json_types(app: TestApp) {
    for body in [
        json!({"username": 5, "password": "password123"}),
        json!({"username": "alice", "password": 12345678}),
        json!({"username": "alice", "password": "password123", "type": true}),
        json!("alice"),
        json!(null),
    ] {
        let (status, resp) = app.post("/api/v1/signup", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        error_code(&resp);
    }
}

async fn signup_wrong_json_type_names_the_field(app: TestApp) {
    let (status, body) = app.post("/api/v1/signup", None, json!({"username": 5, "password": "password123"})).await;
    assert_invalid(status, &body, "username");
}

async fn signup_rejects_taken_username(app: TestApp) {
    app.signup("alice", "user").await;
    let (status, body) =
        app.post("/api/v1/signup", None, json!({"username": "alice", "password": "another-password"})).await;
    assert_invalid(status, &body, "username");
    assert_eq!(error_code(&body), "username-taken");
    assert_no_password_hash(&body);
    // The original password still signs in; the second one does not.
    app.signin("alice").await;
    let (status, _) =
        app.post("/api/v1/signin", None, json!({"username": "alice", "password": "another-password"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Names that only look different are one name: case and width fold
/// together, and invisible or direction-changing characters are refused.
async fn signup_refuses_look_alike_usernames(app: TestApp) {
    app.signup("alice", "user").await;
    for twin in ["Alice", "ALICE", "\u{FF41}lice"] {
        let (status, body) =
            app.post("/api/v1/signup", None, json!({"username": twin, "password": "password123"})).await;
        assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "username-taken"), "{twin:?}: {body}");
    }
    for hidden in ["al\u{200B}ice", "\u{202E}ecila", "alice\u{200D}"] {
        let (status, body) =
            app.post("/api/v1/signup", None, json!({"username": hidden, "password": "password123"})).await;
        assert_invalid(status, &body, "username");
    }
}

// ------------------------------------------------------ admin-signup modes

async fn start_configured(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> Option<TestApp> {
    TestApp::start_with(backend, tweak).await
}

async fn signup_status(app: &TestApp, username: &str, kind: &str) -> (StatusCode, Value) {
    app.post("/api/v1/signup", None, json!({"username": username, "password": "password123", "type": kind})).await
}

async fn admin_signup_first_allows_only_the_first_account(backend: Backend) {
    let Some(app) = start_configured(backend, |c| c.admin_signup = AdminSignup::First).await else {
        return;
    };
    let (status, body) = signup_status(&app, "founder", "admin").await;
    assert_eq!(status, StatusCode::OK, "the first account may be admin: {body}");

    let (status, body) = signup_status(&app, "latecomer", "admin").await;
    assert_invalid(status, &body, "type");

    let (status, body) = signup_status(&app, "member", "user").await;
    assert_eq!(status, StatusCode::OK, "users may still sign up: {body}");

    // The refused admin was not created as anything.
    let (status, _) =
        app.post("/api/v1/signin", None, json!({"username": "latecomer", "password": "password123"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The founder really is an admin.
    let token = app.signin("founder").await["token"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post("/api/v1/admin/avatar", Some(&token), json!({"imageUrl": "/a.png", "name": "A"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn admin_signup_first_refuses_admin_after_a_user(backend: Backend) {
    let Some(app) = start_configured(backend, |c| c.admin_signup = AdminSignup::First).await else {
        return;
    };
    let (status, _) = signup_status(&app, "member", "user").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = signup_status(&app, "wannabe", "Admin").await;
    assert_invalid(status, &body, "type");
}

async fn admin_signup_closed_refuses_every_admin(backend: Backend) {
    let Some(app) = start_configured(backend, |c| c.admin_signup = AdminSignup::Closed).await else {
        return;
    };
    let (status, body) = signup_status(&app, "founder", "admin").await;
    assert_invalid(status, &body, "type");
    let (status, body) = signup_status(&app, "member", "user").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = signup_status(&app, "another", "admin").await;
    assert_invalid(status, &body, "type");
}

// ------------------------------------------------------ metaverse admin create

/// Runs `metaverse admin create NAME` against `app`'s database, with the
/// password on stdin when `env_password` is `None`.
fn admin_create(app: &TestApp, name: &str, password: &str, env_password: bool) -> std::process::Output {
    use std::{io::Write, process::Stdio};
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_metaverse"));
    cmd.args(["admin", "create", name])
        .env("METAVERSE_DATA_DIR", app.dir.path())
        .env("METAVERSE_LOG", "warn")
        .env_remove("METAVERSE_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &app.config.db.database_url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    if env_password {
        cmd.env("METAVERSE_ADMIN_PASSWORD", password);
    }
    let mut child = cmd.spawn().expect("metaverse admin create runs");
    let mut stdin = child.stdin.take().unwrap();
    if !env_password {
        writeln!(stdin, "{password}").unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

async fn is_admin(app: &TestApp, token: &str) -> bool {
    let (status, _) = app.post("/api/v1/admin/avatar", Some(token), json!({"imageUrl": "/a.png", "name": "A"})).await;
    status == StatusCode::OK
}

async fn admin_create_makes_an_admin_who_signs_in(backend: Backend) {
    // Closed: the command is the only way to an admin.
    let Some(app) = start_configured(backend, |c| c.admin_signup = AdminSignup::Closed).await else {
        return;
    };
    let out = admin_create(&app, "root", "password123", false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = app.signin("root").await["token"].as_str().unwrap().to_owned();
    assert!(is_admin(&app, &token).await, "the created account has the admin role");

    let out = admin_create(&app, "second", "from the environment", true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, body) =
        app.post("/api/v1/signin", None, json!({"username": "second", "password": "from the environment"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(is_admin(&app, body["token"].as_str().unwrap()).await);
}

async fn admin_create_refuses_an_existing_name_and_bad_input(backend: Backend) {
    let Some(app) = start_configured(backend, |c| c.admin_signup = AdminSignup::Closed).await else {
        return;
    };
    app.signup("taken", "user").await;
    // Taking over an account by re-creating it as admin must fail.
    let out = admin_create(&app, "taken", "attacker-password", true);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an existing name was accepted");
    assert!(text.contains("already exists"), "{text}");
    let token = app.signin("taken").await["token"].as_str().unwrap().to_owned();
    assert!(!is_admin(&app, &token).await, "the existing user stayed a user");
    let (status, _) =
        app.post("/api/v1/signin", None, json!({"username": "taken", "password": "attacker-password"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the password was not replaced");

    for (name, password, field) in [("newname", "short", "password"), ("a b", "password123", "username")] {
        let out = admin_create(&app, name, password, true);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && text.contains(field), "{name:?}/{password:?}: {text}");
        let (status, _) = app.post("/api/v1/signin", None, json!({"username": name, "password": password})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name:?} was not created");
    }
}

configured_on_both_backends!(
    admin_signup_first_allows_only_the_first_account,
    admin_signup_first_refuses_admin_after_a_user,
    admin_signup_closed_refuses_every_admin,
    admin_create_makes_an_admin_who_signs_in,
    admin_create_refuses_an_existing_name_and_bad_input,
);

// ---------------------------------------------------------------- sign-in

async fn signin_returns_token_pair(app: TestApp) {
    app.signup("alice", "user").await;
    let (status, body) =
        app.post("/api/v1/signin", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_password_hash(&body);
    let token = str_field(&body, "token");
    let refresh = str_field(&body, "refreshToken");
    assert!(!token.is_empty() && !refresh.is_empty());
    assert_ne!(token, refresh);
    let expires = chrono::DateTime::parse_from_rfc3339(str_field(&body, "expiresAt")).expect("expiresAt is RFC 3339");
    assert!(expires > chrono::Utc::now(), "expiresAt is in the future");
    assert_eq!(protected_status(&app, token).await, StatusCode::OK);
}

async fn signin_alias_auth_login_works(app: TestApp) {
    app.signup("alice", "user").await;
    let (status, body) =
        app.post("/api/v1/auth/login", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_password_hash(&body);
    assert_eq!(protected_status(&app, str_field(&body, "token")).await, StatusCode::OK);
}

/// The old front end signed in at `/login` and wrote its paths with a
/// trailing slash (`fetch(API_URL + "/space/")`): both still work.
async fn old_paths_login_and_trailing_slashes_work(app: TestApp) {
    let (status, body) =
        app.post("/api/v1/signup/", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/api/v1/login", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = str_field(&body, "token").to_owned();
    let (status, body) =
        app.post("/api/v1/signin/", None, json!({"username": "alice", "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/api/v1/space/", Some(&token), json!({"name": "s", "dimensions": "5x5"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/api/v1/avatars/", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/api/v1/space/all/", Some(&token)).await;
    assert_eq!((status, body["spaces"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{body}");
}

async fn signin_wrong_password_or_unknown_user_is_403(app: TestApp) {
    app.signup("alice", "user").await;
    let (status, wrong_password) =
        app.post("/api/v1/signin", None, json!({"username": "alice", "password": "password124"})).await;
    assert_forbidden(status, &wrong_password);
    let (status, unknown_user) =
        app.post("/api/v1/signin", None, json!({"username": "nobody", "password": "password123"})).await;
    assert_forbidden(status, &unknown_user);
    assert_eq!(wrong_password, unknown_user, "the answer must not tell which of the two was wrong");
    assert!(wrong_password.get("token").is_none());
}

async fn signin_malformed_body_is_400(app: TestApp) {
    app.signup("alice", "user").await;
    for body in [
        json!({}),
        json!({"username": "alice"}),
        json!({"password": "password123"}),
        json!({"username": 5, "password": "password123"}),
        json!({"username": "", "password": "password123"}),
        json!("alice:password123"),
    ] {
        let (status, resp) = app.post("/api/v1/signin", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        error_code(&resp);
    }
}

// ------------------------------------------------------------ refresh

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    app.post("/api/v1/token/refresh", None, json!({"refreshToken": refresh_token})).await
}

async fn refresh_returns_a_new_working_pair(app: TestApp) {
    app.signup("alice", "user").await;
    let first = app.signin("alice").await;
    let (status, second) = refresh(&app, str_field(&first, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_no_password_hash(&second);
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    assert!(second["expiresAt"].is_string(), "{second}");
    let token = str_field(&second, "token");
    assert_eq!(protected_status(&app, token).await, StatusCode::OK);
    // And the new refresh token rotates again.
    let (status, third) = refresh(&app, str_field(&second, "refreshToken")).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(protected_status(&app, str_field(&third, "token")).await, StatusCode::OK);
}

async fn reused_refresh_token_revokes_the_session(app: TestApp) {
    app.signup("alice", "user").await;
    let first = app.signin("alice").await;
    let old_refresh = str_field(&first, "refreshToken");
    let (status, second) = refresh(&app, old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");

    let (status, body) = refresh(&app, old_refresh).await;
    assert_forbidden(status, &body);

    // The whole session is gone: the newest refresh token and every access
    // token of it.
    let (status, body) = refresh(&app, str_field(&second, "refreshToken")).await;
    assert_forbidden(status, &body);
    assert_eq!(protected_status(&app, str_field(&second, "token")).await, StatusCode::FORBIDDEN);
    assert_eq!(protected_status(&app, str_field(&first, "token")).await, StatusCode::FORBIDDEN);
}

async fn reused_refresh_token_leaves_other_sessions_alone(app: TestApp) {
    app.signup("alice", "user").await;
    let stolen = app.signin("alice").await;
    let other = app.signin("alice").await;
    let old_refresh = str_field(&stolen, "refreshToken");
    assert_eq!(refresh(&app, old_refresh).await.0, StatusCode::OK);
    assert_eq!(refresh(&app, old_refresh).await.0, StatusCode::FORBIDDEN);
    assert_eq!(protected_status(&app, str_field(&other, "token")).await, StatusCode::OK);
}

async fn garbage_refresh_token_is_403(app: TestApp) {
    for garbage in ["garbage", "", &"x".repeat(300)] {
        let (status, body) = refresh(&app, garbage).await;
        assert_forbidden(status, &body);
    }
    // An access token is not a refresh token.
    let (_, token) = app.user("alice").await;
    let (status, body) = refresh(&app, &token).await;
    assert_forbidden(status, &body);
}

// ------------------------------------------------- revoke and sign-out

async fn revoke_refresh_token_revokes_access_token(app: TestApp) {
    app.signup("alice", "user").await;
    let pair = app.signin("alice").await;
    let token = str_field(&pair, "token");
    assert_eq!(protected_status(&app, token).await, StatusCode::OK);
    let (status, body) =
        app.post("/api/v1/token/revoke", None, json!({"refreshToken": str_field(&pair, "refreshToken")})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(protected_status(&app, token).await, StatusCode::FORBIDDEN);
    let (status, body) = refresh(&app, str_field(&pair, "refreshToken")).await;
    assert_forbidden(status, &body);
}

async fn signout_revokes_the_access_token(app: TestApp) {
    for (name, path) in [("alice", "/api/v1/signout"), ("bob", "/api/v1/auth/logout")] {
        app.signup(name, "user").await;
        let pair = app.signin(name).await;
        let token = str_field(&pair, "token");
        assert_eq!(protected_status(&app, token).await, StatusCode::OK);
        let (status, body) = app.post(path, Some(token), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(protected_status(&app, token).await, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = refresh(&app, str_field(&pair, "refreshToken")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: refresh after sign-out");
    }
}

async fn signout_keeps_other_sessions(app: TestApp) {
    app.signup("alice", "user").await;
    let laptop = app.signin("alice").await;
    let phone = app.signin("alice").await;
    let (status, _) = app.post("/api/v1/signout", Some(str_field(&laptop, "token")), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(protected_status(&app, str_field(&phone, "token")).await, StatusCode::OK);
}

async fn signout_without_token_is_403(app: TestApp) {
    let (status, body) = app.post("/api/v1/signout", None, json!({})).await;
    assert_forbidden(status, &body);
}

// --------------------------------------------------------- bad tokens

async fn protected_route_without_token_is_403(app: TestApp) {
    let (status, body) = app.get(PROTECTED, None).await;
    assert_forbidden(status, &body);
}

async fn protected_route_with_garbage_token_is_403(app: TestApp) {
    let (status, body) = app.get(PROTECTED, Some("garbage")).await;
    assert_forbidden(status, &body);
    // A well-formed token with one character changed.
    let (_, token) = app.user("alice").await;
    let mut tampered = token.clone().into_bytes();
    let i = "v4.local.".len() + 20;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = app.get(PROTECTED, Some(&tampered)).await;
    assert_forbidden(status, &body);
    // The wrong scheme.
    let resp =
        app.client.get(app.url(PROTECTED)).header("authorization", format!("Basic {token}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

async fn token_from_another_server_is_403(app: TestApp) {
    let other = TestApp::start(app.backend).await.expect("a second server on the same backend");
    let (_, foreign) = other.user("alice").await;
    assert_eq!(protected_status(&other, &foreign).await, StatusCode::OK);
    // The same username exists here too, but the key differs.
    app.signup("alice", "user").await;
    let (status, body) = app.get(PROTECTED, Some(&foreign)).await;
    assert_forbidden(status, &body);
}

on_both_backends!(
    signup_returns_user_id,
    signup_alias_auth_signup_works,
    signup_without_type_makes_a_user,
    signup_type_is_case_insensitive,
    signup_accepts_boundary_lengths,
    signup_rejects_invalid_fields,
    signup_rejects_wrong_json_types,
    signup_wrong_json_type_names_the_field,
    signup_rejects_taken_username,
    signup_refuses_look_alike_usernames,
    signin_returns_token_pair,
    signin_alias_auth_login_works,
    old_paths_login_and_trailing_slashes_work,
    signin_wrong_password_or_unknown_user_is_403,
    signin_malformed_body_is_400,
    refresh_returns_a_new_working_pair,
    reused_refresh_token_revokes_the_session,
    reused_refresh_token_leaves_other_sessions_alone,
    garbage_refresh_token_is_403,
    revoke_refresh_token_revokes_access_token,
    signout_revokes_the_access_token,
    signout_keeps_other_sessions,
    signout_without_token_is_403,
    protected_route_without_token_is_403,
    protected_route_with_garbage_token_is_403,
    token_from_another_server_is_403,
);
