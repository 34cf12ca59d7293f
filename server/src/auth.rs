//! Who the user is: with `REINS_AUTH=jwt`, every chat and stop request must
//! carry `Authorization: Bearer <JWT>`, verified with `jsonwebtoken` against
//! a shared secret (HS256) or a JWKS document (RS256, ES256) read from a file
//! or URL and refreshed. The token's `sub` is the user for limits and logs.
//!
//! Without auth, anyone who can reach the server can spend its model API
//! key; [`AuthConfig`] makes that the operator's explicit choice.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::ApiError;
use crate::trust::Client;

/// The longest token read; real ones are a few hundred bytes to a few KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The largest JWKS document read: real ones hold a few keys, a few KiB.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// The shortest wait between two JWKS fetches caused by an unknown key id,
/// so that tokens with made-up ids cannot make Reins hammer the issuer;
/// short enough that a key published just before its first use is picked up.
const MIN_REFETCH: Duration = Duration::from_secs(10);

/// How requests are authenticated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No authentication: anyone who can reach the server may chat.
    #[default]
    None,
    /// A JWT in `Authorization: Bearer`.
    Jwt,
}

/// The auth settings, as configured.
#[derive(Clone, Debug, Default, Args)]
pub struct AuthConfig {
    /// `none` (anyone who can reach the server may chat) or `jwt`.
    #[arg(long = "auth", env = "REINS_AUTH", value_enum, default_value_t = AuthMode::None)]
    pub mode: AuthMode,

    /// The HS256 secret tokens are signed with (at least 32 bytes).
    #[arg(long = "jwt-secret", env = "REINS_JWT_SECRET", hide_env_values = true,
          value_parser = parse_secret, conflicts_with = "jwks")]
    pub secret: Option<SecretString>,

    /// A JWKS document with the issuer's public keys (RS256, ES256): a file
    /// path or an https URL.
    #[arg(long = "jwks", env = "REINS_JWKS")]
    pub jwks: Option<String>,

    /// How often the JWKS document is read again, in seconds.
    #[arg(long = "jwks-refresh-secs", env = "REINS_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub jwks_refresh_secs: u64,

    /// The `iss` every token must carry.
    #[arg(long = "jwt-issuer", env = "REINS_JWT_ISSUER")]
    pub issuer: Option<String>,

    /// The `aud` every token must carry.
    #[arg(long = "jwt-audience", env = "REINS_JWT_AUDIENCE")]
    pub audience: Option<String>,

    /// Seconds of clock skew allowed when checking `exp` and `nbf`.
    #[arg(long = "jwt-leeway-secs", env = "REINS_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub leeway_secs: u64,
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

/// Why the auth settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("REINS_AUTH=jwt needs REINS_JWT_SECRET or REINS_JWKS")]
    NoKeys,
    #[error("REINS_JWT_SECRET must be at least 32 bytes")]
    ShortSecret,
    #[error(
        "REINS_AUTH=jwt needs REINS_JWT_ISSUER and REINS_JWT_AUDIENCE: without them a token issued for another service would be accepted"
    )]
    NoIssuerOrAudience,
    #[error("could not read the JWKS document {source_name}: {reason}")]
    Jwks { source_name: String, reason: String },
}

/// The verifier, or none.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    Jwt(Arc<JwtVerifier>),
}

impl Auth {
    /// Checks the settings and, for a JWKS, reads it once: a server that
    /// cannot verify tokens must not start.
    pub async fn from_config(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        if config.mode == AuthMode::None {
            return Ok(Self::None);
        }
        let (Some(issuer), Some(audience)) = (&config.issuer, &config.audience) else {
            return Err(AuthConfigError::NoIssuerOrAudience);
        };
        let keys = match (&config.secret, &config.jwks) {
            (Some(secret), _) => {
                if secret.expose_secret().len() < 32 {
                    return Err(AuthConfigError::ShortSecret);
                }
                Keys::Secret(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            (None, Some(jwks)) => {
                let source = JwksSource::parse(jwks);
                let set = source.read().await.map_err(|reason| AuthConfigError::Jwks {
                    source_name: jwks.clone(),
                    reason,
                })?;
                Keys::Jwks(Jwks {
                    source,
                    set: RwLock::new(Arc::new(set)),
                    fetched: Mutex::new(Instant::now()),
                    refresh: Duration::from_secs(config.jwks_refresh_secs.max(1)),
                })
            }
            (None, None) => return Err(AuthConfigError::NoKeys),
        };
        Ok(Self::Jwt(Arc::new(JwtVerifier {
            keys,
            issuer: issuer.clone(),
            audience: audience.clone(),
            leeway: config.leeway_secs,
        })))
    }
}

/// Checks tokens.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: Keys,
    issuer: String,
    audience: String,
    leeway: u64,
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([REDACTED])"),
            Self::Jwks(jwks) => write!(f, "Jwks({:?})", jwks.source),
        }
    }
}

struct Jwks {
    source: JwksSource,
    set: RwLock<Arc<JwkSet>>,
    fetched: Mutex<Instant>,
    refresh: Duration,
}

#[derive(Clone, Debug)]
enum JwksSource {
    File(PathBuf),
    Url(Url),
}

impl JwksSource {
    fn parse(text: &str) -> Self {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Self::Url(url),
            _ => Self::File(PathBuf::from(text)),
        }
    }

    async fn read(&self) -> Result<JwkSet, String> {
        let bytes = match self {
            Self::File(path) => tokio::fs::read(path).await.map_err(|error| error.to_string())?,
            Self::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|error| error.to_string())?;
                let mut response = client
                    .get(url.clone())
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|error| error.without_url().to_string())?;
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_JWKS_BYTES {
                        return Err(format!("larger than {} KiB", MAX_JWKS_BYTES / 1024));
                    }
                }
                bytes
            }
        };
        serde_json::from_slice(&bytes).map_err(|error| format!("not a JWKS document ({error})"))
    }
}

/// The claims Reins reads; the rest are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
}

/// Why a token was refused: each is answered with 401 and its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Sign in first: this server needs `Authorization: Bearer <token>`.")]
    Missing,
    #[error("The token has expired; get a new one and try again.")]
    Expired,
    #[error("The token is not valid yet.")]
    NotYetValid,
    #[error("The token is for another service (wrong audience).")]
    WrongAudience,
    #[error("The token was not issued by the issuer this server trusts.")]
    WrongIssuer,
    #[error("The token's signature does not match any key this server trusts.")]
    BadSignature,
    #[error("The token is not a well-formed JWT with a `sub`.")]
    Malformed,
}

impl JwtVerifier {
    /// The user a token names, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let (key, algorithm) = match &self.keys {
            Keys::Secret(key) => (key.clone(), Algorithm::HS256),
            Keys::Jwks(jwks) => jwks.key_for(header.kid.as_deref(), header.alg).await?,
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let data =
            decode::<Claims>(token, &key, &validation).map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                _ => AuthError::Malformed,
            })?;
        if data.claims.sub.is_empty() {
            return Err(AuthError::Malformed);
        }
        Ok(data.claims.sub)
    }
}

impl Jwks {
    /// The key for `kid` and the algorithm it is used with. An unknown id,
    /// or a set older than the refresh interval, reads the set again.
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, Algorithm), AuthError> {
        let stale = self.fetched_at().elapsed() >= self.refresh;
        let mut found = if stale { None } else { find(&self.current(), kid, alg) };
        if found.is_none() && (stale || self.fetched_at().elapsed() >= MIN_REFETCH) {
            self.refetch().await;
            found = find(&self.current(), kid, alg);
        }
        found.ok_or(AuthError::BadSignature)
    }

    fn current(&self) -> Arc<JwkSet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn fetched_at(&self) -> Instant {
        *self.fetched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn refetch(&self) {
        // Marked first, so that concurrent requests do not all fetch.
        *self.fetched.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        match self.source.read().await {
            Ok(set) => {
                *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
                tracing::info!(source = ?self.source, "JWKS read again");
            }
            // The keys read before stay in use.
            Err(reason) => tracing::warn!(source = ?self.source, reason, "could not read the JWKS"),
        }
    }
}

/// The key in `set` for a token with this `kid` and `alg`: only RS256 with
/// an RSA key and ES256 with a P-256 key, so a token cannot pick a weaker
/// algorithm, nor turn a public key into an HMAC secret.
fn find(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<(DecodingKey, Algorithm)> {
    let jwk: &Jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => {
            params.curve == jsonwebtoken::jwk::EllipticCurve::P256
        }
        _ => false,
    };
    let declared_fits =
        jwk.common.key_algorithm.is_none_or(|declared| declared.to_string() == format!("{alg:?}"));
    if !fits || !declared_fits {
        return None;
    }
    Some((DecodingKey::from_jwk(jwk).ok()?, alg))
}

/// The middleware for routes that need a user: with JWT auth, verifies the
/// bearer token and puts its user in the request's [`Client`]; refuses with
/// 401 otherwise. Without auth, the client stays its address.
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let Auth::Jwt(verifier) = auth else {
        return next.run(request).await;
    };
    let token =
        request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(
            |value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            },
        );
    let verified = match token {
        Some(token) => verifier.verify(token).await,
        None => Err(AuthError::Missing),
    };
    match verified {
        Ok(user) => {
            request.extensions_mut().insert(Client::User(user));
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(%error, "token refused");
            ApiError::Unauthorized(error).into_response()
        }
    }
}
