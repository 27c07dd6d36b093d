//! OAuth 2.0 sign-in for providers that refuse passwords: tokens from the device
//! authorization grant (RFC 8628) at `collect add --oauth`, kept sealed like passwords, renewed
//! with the refresh token (RFC 6749 §6) before they expire, and presented over SASL
//! OAUTHBEARER (RFC 7628) or XOAUTH2.
//!
//! Implementation notes:
//! - **Storage.** A source's sealed secret is either a password or, for OAuth, the text
//!   [`PREFIX`] followed by a JSON [`Grant`] (endpoints, client id, refresh token, the current
//!   access token and its expiry). It is sealed by [`crate::State`] exactly as a password
//!   (AES-256-GCM bound to the source), so refresh and access tokens never reach the store in
//!   clear.
//! - **Renewal.** Before a pass or an IDLE session signs in, a token expiring within
//!   [`RENEW_BEFORE`] is refreshed and the new grant sealed and stored at once (a provider may
//!   rotate the refresh token: the old one may no longer work).
//! - **Device grant** (RFC 8628 §3): POST the device authorization endpoint with the client
//!   id and scope; show the user the verification URI and user code; poll the token
//!   endpoint every `interval` seconds (default 5, §3.5), slower by 5 s on `slow_down`, until
//!   a token, `access_denied`, `expired_token` or the code's `expires_in`.
//! - **Mechanism**: OAUTHBEARER when the server advertises it (the standard), else XOAUTH2
//!   (Gmail, Outlook, Yandex, Mail.ru); neither is an error that says so. POP3 sources take
//!   passwords only.
//! - HTTPS goes through [`crate::discover::http_client`] (the server's resolver, the
//!   `[collector] https_ca_file` roots), configured once per process with [`configure`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::discover::{WebOptions, error_chain, http_client};
use crate::{Error, SourceRow, State};

/// Marks a sealed secret that holds an OAuth grant, not a password.
pub const PREFIX: &str = "oauth2:";
/// A token expiring sooner than this is renewed before use.
pub const RENEW_BEFORE: i64 = 300;
/// Longest answer read from an OAuth endpoint.
const MAX_ANSWER: usize = 64 << 10;

/// Where a provider's OAuth endpoints are and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    pub device_url: String,
    pub token_url: String,
    pub scope: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// What is kept (sealed) for an OAuth source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub refresh_token: Option<String>,
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A source's credential, as sealed.
#[derive(Debug, Clone)]
pub enum Credential {
    Password(String),
    OAuth(Grant),
}

impl Credential {
    /// Reads a sealed secret.
    pub fn from_secret(secret: String) -> Result<Credential, Error> {
        match secret.strip_prefix(PREFIX) {
            Some(json) => serde_json::from_str(json)
                .map(Credential::OAuth)
                .map_err(|e| Error::State(format!("stored OAuth grant: {e}"))),
            None => Ok(Credential::Password(secret)),
        }
    }

    /// The text sealed for this credential.
    pub fn to_secret(&self) -> String {
        match self {
            Credential::Password(p) => p.clone(),
            Credential::OAuth(g) => {
                format!("{PREFIX}{}", serde_json::to_string(g).unwrap_or_default())
            }
        }
    }

    pub fn is_oauth(&self) -> bool {
        matches!(self, Credential::OAuth(_))
    }
}

/// Endpoints of the providers whose OAuth we know (a client id must still be given).
pub fn known_endpoints(imap_host: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match imap_host.to_ascii_lowercase().as_str() {
        "imap.gmail.com" => Some((
            "https://oauth2.googleapis.com/device/code",
            "https://oauth2.googleapis.com/token",
            "https://mail.google.com/",
        )),
        "outlook.office365.com" | "imap-mail.outlook.com" => Some((
            "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
            "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        )),
        "imap.yandex.ru" | "imap.yandex.com" => Some((
            "https://oauth.yandex.ru/device/code",
            "https://oauth.yandex.ru/token",
            "mail:imap_full",
        )),
        _ => None,
    }
}

static WEB: OnceLock<(WebOptions, pochta_dns::DnsConfig)> = OnceLock::new();

/// Sets how this process reaches OAuth endpoints (`[collector] https_*`, `[dns]`) and
/// resolves the sources' hosts ([`crate::conn::resolve`]); the first call wins. Without it,
/// the system's resolver and trust store.
pub fn configure(web: WebOptions, dns: pochta_dns::DnsConfig) {
    let _ = WEB.set((web, dns));
}

/// The `[dns]` settings given to [`configure`] (the system's resolver without).
pub fn dns_config() -> pochta_dns::DnsConfig {
    WEB.get().map(|(_, dns)| dns.clone()).unwrap_or_default()
}

fn client() -> Result<reqwest::Client, Error> {
    let (web, dns) = WEB.get().cloned().unwrap_or_default();
    http_client(Arc::new(pochta_dns::Dns::new(&dns)), &web)
}

/// A token endpoint's answer (RFC 6749 §5.1, §5.2).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<serde_json::Value, Error> {
    let mut resp = client
        .post(url)
        .form(form)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| Error::Auth(format!("{url}: {}", error_chain(e))))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Auth(format!("{url}: {}", error_chain(e))))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(Error::Auth(format!("{url}: answer too large")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| {
        Error::Auth(format!(
            "{url}: HTTP {status}, not JSON: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })
}

fn token_answer(v: serde_json::Value) -> Result<TokenAnswer, Error> {
    serde_json::from_value(v).map_err(|e| Error::Auth(format!("token endpoint: {e}")))
}

/// Runs the device authorization grant; `show` tells the user where to go and what to type.
pub async fn device_grant(
    endpoints: Endpoints,
    show: &mut dyn FnMut(&str),
) -> Result<Grant, Error> {
    let client = client()?;
    let mut form = vec![
        ("client_id", endpoints.client_id.as_str()),
        ("scope", endpoints.scope.as_str()),
    ];
    if let Some(s) = &endpoints.client_secret {
        form.push(("client_secret", s));
    }
    let v = post(&client, &endpoints.device_url, &form).await?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let (Some(device_code), Some(user_code)) = (field("device_code"), field("user_code")) else {
        return Err(Error::Auth(format!(
            "device authorization refused: {}",
            field("error_description")
                .or(field("error"))
                .unwrap_or_else(|| v.to_string())
        )));
    };
    let uri = field("verification_uri_complete")
        .or(field("verification_uri"))
        .or(field("verification_url"))
        .unwrap_or_default();
    let expires_in = v.get("expires_in").and_then(|x| x.as_i64()).unwrap_or(600);
    let mut interval = v
        .get("interval")
        .and_then(|x| x.as_u64())
        .unwrap_or(5)
        .max(1);
    show(&format!(
        "to sign in, open {uri} and enter the code {user_code} (valid for {} min); waiting…",
        (expires_in + 59) / 60
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(expires_in.max(1) as u64);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Auth("the device code expired before sign-in".into()));
        }
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
            ("client_id", endpoints.client_id.as_str()),
        ];
        if let Some(s) = &endpoints.client_secret {
            form.push(("client_secret", s));
        }
        let t = token_answer(post(&client, &endpoints.token_url, &form).await?)?;
        match (t.access_token, t.error.as_deref()) {
            (Some(access_token), _) => {
                return Ok(Grant {
                    endpoints,
                    refresh_token: t.refresh_token,
                    access_token,
                    expires_at: crate::state::now() + t.expires_in.unwrap_or(3600),
                });
            }
            (None, Some("authorization_pending")) => {}
            (None, Some("slow_down")) => interval += 5,
            (None, e) => {
                return Err(Error::Auth(format!(
                    "sign-in refused: {}{}",
                    e.unwrap_or("no token"),
                    t.error_description
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )));
            }
        }
    }
}

/// Exchanges the refresh token for a new access token (RFC 6749 §6).
pub async fn refresh(grant: &Grant) -> Result<Grant, Error> {
    let Some(rt) = &grant.refresh_token else {
        return Err(Error::Auth(
            "the access token expired and there is no refresh token: sign in again (`collect del`, \
             then `collect add … --oauth`; the checkpoints go with the source)"
                .into(),
        ));
    };
    let e = &grant.endpoints;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", e.client_id.as_str()),
    ];
    if let Some(s) = &e.client_secret {
        form.push(("client_secret", s));
    }
    let t = token_answer(post(&client()?, &e.token_url, &form).await?)?;
    let Some(access_token) = t.access_token else {
        return Err(Error::Auth(format!(
            "token refresh refused: {}{}",
            t.error.unwrap_or_else(|| "no token".into()),
            t.error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )));
    };
    Ok(Grant {
        endpoints: e.clone(),
        refresh_token: t.refresh_token.or_else(|| grant.refresh_token.clone()),
        access_token,
        expires_at: crate::state::now() + t.expires_in.unwrap_or(3600),
    })
}

/// The credential to sign in to `source` with now: the password, or an access token
/// renewed first if it expires within [`RENEW_BEFORE`] (the new grant is stored).
pub async fn current(state: &Mutex<State>, source: &SourceRow) -> Result<Credential, Error> {
    let secret = {
        let st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.password(source)?
    };
    let cred = Credential::from_secret(secret)?;
    let Credential::OAuth(grant) = &cred else {
        return Ok(cred);
    };
    if grant.expires_at - crate::state::now() > RENEW_BEFORE {
        return Ok(cred);
    }
    let fresh = Credential::OAuth(refresh(grant).await?);
    let st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.update_source(source, &source.settings(), Some(&fresh.to_secret()))?;
    Ok(fresh)
}
