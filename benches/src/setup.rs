//! Setup over the HTTP API: users (sign up, or sign in when the name is
//! taken), spaces, their `general` chat rooms, and chat history.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::{sync::Semaphore, task::JoinSet};

use crate::cli::SetupArgs;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// A bench user and its access token.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub name: String,
    pub token: String,
}

/// How the users came to be.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct UserCounts {
    pub created: u32,
    pub signed_in: u32,
    pub cached: u32,
}

enum SignUp {
    Created,
    Taken,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build()?;
        Ok(Self { http, base: format!("{}/api/v1", base.trim_end_matches('/')) })
    }

    /// One request, retried (with backoff) while the server answers 429 or
    /// 503 or cannot be reached; returns the final status and JSON body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{}", self.base, path);
        let mut wait = Duration::from_millis(200);
        for attempt in 0.. {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let retry = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
                        && attempt < 8
                    {
                        true
                    } else {
                        let bytes = resp.bytes().await?;
                        let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
                        return Ok((status, v));
                    }
                }
                Err(e) if attempt < 8 && (e.is_connect() || e.is_timeout()) => true,
                Err(e) => return Err(e).with_context(|| format!("{method} {url}")),
            };
            if retry {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
        unreachable!("the loop returns")
    }

    async fn signup(&self, username: &str, password: &str) -> anyhow::Result<SignUp> {
        let body = json!({"username": username, "password": password, "type": "user"});
        let (status, v) = self.call(Method::POST, "/signup", Some(&body), None).await?;
        if status.is_success() {
            return Ok(SignUp::Created);
        }
        let code = v["error"]["code"].as_str().unwrap_or_default();
        let message = v["error"]["message"].as_str().unwrap_or_default();
        // The API answers 400 for a taken name (docs/PROTOCOL.md); the code
        // says which 400.
        if status == StatusCode::BAD_REQUEST && (code == "username-taken" || message.contains("taken")) {
            return Ok(SignUp::Taken);
        }
        bail!("sign-up of {username}: {status} {v}")
    }

    async fn signin(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"username": username, "password": password});
        let (status, v) = self.call(Method::POST, "/signin", Some(&body), None).await?;
        match v["token"].as_str() {
            Some(t) if status.is_success() => Ok(t.to_owned()),
            _ => bail!("sign-in of {username}: {status} {v}"),
        }
    }

    /// Whether a token is still accepted (a cheap authenticated GET).
    async fn token_works(&self, token: &str) -> bool {
        matches!(self.call(Method::GET, "/space/all", None, Some(token)).await, Ok((s, _)) if s.is_success())
    }

    pub async fn create_space(&self, token: &str, name: &str, (w, h): (u32, u32)) -> anyhow::Result<String> {
        let body = json!({"name": name, "dimensions": format!("{w}x{h}")});
        let (status, v) = self.call(Method::POST, "/space", Some(&body), Some(token)).await?;
        match v["spaceId"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_owned()),
            _ => bail!("creating space {name}: {status} {v}"),
        }
    }

    /// The id of the space's `general` room (else its first room).
    pub async fn general_room(&self, token: &str, space_id: &str) -> anyhow::Result<String> {
        let (status, v) = self.call(Method::GET, &format!("/chatroom/space/{space_id}"), None, Some(token)).await?;
        let rooms = v["chatrooms"].as_array().filter(|_| status.is_success());
        let rooms = rooms.ok_or_else(|| anyhow!("chat rooms of space {space_id}: {status} {v}"))?;
        rooms
            .iter()
            .find(|r| r["name"] == "general")
            .or_else(|| rooms.first())
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("space {space_id} has no chat room"))
    }

    /// One page of a room's history, newest first: message ids and the
    /// cursor of the next (older) page.
    pub async fn history_page(
        &self,
        token: &str,
        room: &str,
        before: Option<&str>,
    ) -> anyhow::Result<(Vec<String>, Option<String>)> {
        let mut path = format!("/chatroom/{room}/messages?limit=100");
        if let Some(b) = before {
            path.push_str("&before=");
            path.push_str(b);
        }
        let (status, v) = self.call(Method::GET, &path, None, Some(token)).await?;
        let msgs = v["messages"].as_array().filter(|_| status.is_success());
        let msgs = msgs.ok_or_else(|| anyhow!("history of room {room}: {status} {v}"))?;
        let ids = msgs.iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect();
        Ok((ids, v["nextCursor"].as_str().map(str::to_owned)))
    }
}

/// The usernames' prefix: the given one, or a fresh random one.
pub fn user_prefix(setup: &SetupArgs) -> String {
    setup.user_prefix.clone().unwrap_or_else(|| format!("bench-{:06x}", rand::random::<u32>() & 0xff_ffff))
}

fn load_cache(path: &Path) -> BTreeMap<String, String> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// `n` users named PREFIX-0 … PREFIX-(n-1), with tokens: from the token
/// cache, else signed up (or, when taken, signed in), `setup_concurrency`
/// at a time.
pub async fn users(
    api: &Api,
    setup: &SetupArgs,
    prefix: &str,
    n: usize,
    pb: &ProgressBar,
) -> anyhow::Result<(Vec<User>, UserCounts)> {
    let mut cache = setup.token_cache.as_deref().map(load_cache).unwrap_or_default();
    if let Some(t) = (0..n).find_map(|i| cache.get(&format!("{prefix}-{i}")))
        && !api.token_works(t).await
    {
        pb.println("token cache: its tokens are refused by this server; signing in again");
        cache.clear();
    }
    let limit = Arc::new(Semaphore::new(setup.setup_concurrency as usize));
    let mut tasks = JoinSet::new();
    let mut out: Vec<Option<User>> = vec![None; n];
    let mut counts = UserCounts::default();
    for (i, slot) in out.iter_mut().enumerate() {
        let name = format!("{prefix}-{i}");
        if let Some(token) = cache.get(&name) {
            *slot = Some(User { name, token: token.clone() });
            counts.cached += 1;
            pb.inc(1);
            continue;
        }
        let (api, password, limit) = (api.clone(), setup.password.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let r = async {
                let created = matches!(api.signup(&name, &password).await?, SignUp::Created);
                let token = api.signin(&name, &password).await?;
                Ok::<_, anyhow::Error>((User { name, token }, created))
            }
            .await;
            (i, r)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done?;
        let (user, created) = r?;
        if created {
            counts.created += 1;
        } else {
            counts.signed_in += 1;
        }
        out[i] = Some(user);
        pb.inc(1);
    }
    let users: Vec<User> = out.into_iter().map(|u| u.expect("every slot filled")).collect();
    if let Some(path) = &setup.token_cache {
        for u in &users {
            cache.insert(u.name.clone(), u.token.clone());
        }
        std::fs::write(path, serde_json::to_vec_pretty(&cache)?).with_context(|| format!("writing {path:?}"))?;
    }
    Ok((users, counts))
}

/// `n` space ids: the given ones, else created by `owner`.
pub async fn spaces(
    api: &Api,
    setup: &SetupArgs,
    prefix: &str,
    owner: &str,
    n: usize,
    pb: &ProgressBar,
) -> anyhow::Result<Vec<String>> {
    if !setup.space_ids.is_empty() {
        if setup.space_ids.len() < n {
            bail!("--space-ids gives {} spaces; this run needs {n}", setup.space_ids.len());
        }
        pb.inc(n as u64);
        return Ok(setup.space_ids[..n].to_vec());
    }
    let limit = Arc::new(Semaphore::new(setup.setup_concurrency as usize * 4));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (api, owner, limit, size) = (api.clone(), owner.to_owned(), limit.clone(), setup.map_size);
        let name = format!("{prefix}-space-{i}");
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            (i, api.create_space(&owner, &name, size).await)
        });
    }
    let mut out = vec![String::new(); n];
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done?;
        out[i] = r?;
        pb.inc(1);
    }
    Ok(out)
}

/// The `general` room of each space (looked up with `token`).
pub async fn rooms(api: &Api, token: &str, spaces: &[String]) -> anyhow::Result<Vec<String>> {
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = JoinSet::new();
    for (i, space) in spaces.iter().enumerate() {
        let (api, token, space, limit) = (api.clone(), token.to_owned(), space.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            (i, api.general_room(&token, &space).await)
        });
    }
    let mut out = vec![String::new(); spaces.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done?;
        out[i] = r?;
    }
    Ok(out)
}
