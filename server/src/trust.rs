//! The one trust model: which origins the page is served under, which other
//! sites may use the server, which peers may speak for clients, and so who
//! the client of a request is.
//!
//! Nothing else in the server reads `Host`, `Origin`, `Forwarded` or
//! `X-Forwarded-*`: the [`guard`] check asks [`Trust`] once per request,
//! refuses what it must, and leaves a [`Client`] in the request's extensions
//! for the handlers.
//!
//! - The request's host must be one of the public origins' hosts, whatever
//!   the method: a page on `evil.example` whose DNS name was rebound to a
//!   local Reins sends `Host: evil.example` (and, for a same-origin `GET`, no
//!   `Origin` at all), so checking `Origin` alone would not stop it.
//! - Same-origin is decided against the configured public origins, never
//!   against the request's own `Host`, which a proxy may rewrite.
//! - Forwarded headers are believed only from a trusted proxy; otherwise the
//!   peer's address is the client's.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::{FORWARDED, HOST, ORIGIN};
use axum::http::{HeaderMap, Uri};
use ipnet::IpNet;
use reqwest::Url;

use crate::error::{ApiError, brief};

/// The script that defines `<reins-chat>`: served to every page, so that on
/// a page whose origin is refused it can tell the person why.
const EMBED_SCRIPT: &str = "/embed.js";

/// Served whatever the `Host`: load balancers and orchestrators probe it by
/// address, and it says nothing but "ok".
const HEALTH_CHECK: &str = "/healthz";

/// A web origin, `scheme://host[:port]`, normalised: lower case, IDNA, no
/// default port, no trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

/// Why a configured origin was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("`{0}` is not allowed: list each origin, like https://example.com")]
    Wildcard(String),
    #[error(
        "`null` is not allowed: it is the origin of sandboxed frames and local files, which anyone can make"
    )]
    Null,
    #[error("`{0}` is not an origin: write scheme://host[:port], like https://example.com")]
    Malformed(String),
    #[error("`{0}` has a path, query or credentials: an origin is only scheme://host[:port]")]
    NotBare(String),
    #[error("`{0}`: only http and https origins can be served")]
    Scheme(String),
}

impl Origin {
    /// Parses and normalises an origin as an operator writes it; a single
    /// trailing slash is accepted.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let text = text.trim();
        if text.contains('*') {
            return Err(OriginError::Wildcard(text.to_owned()));
        }
        if text.eq_ignore_ascii_case("null") {
            return Err(OriginError::Null);
        }
        let url = Url::parse(text).map_err(|_| OriginError::Malformed(text.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OriginError::Scheme(text.to_owned()));
        }
        let host = url.host_str().ok_or_else(|| OriginError::Malformed(text.to_owned()))?;
        if !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(OriginError::NotBare(text.to_owned()));
        }
        let port = url.port_or_known_default().expect("http and https have default ports");
        Ok(Self { scheme: url.scheme().to_owned(), host: host.to_owned(), port })
    }

    /// An origin for an address the server listens on.
    fn http(host: &str, port: u16) -> Self {
        Self { scheme: "http".into(), host: host.into(), port }
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    /// Whether a `Host` header value (`host[:port]`) names this origin's host.
    fn is_host(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        host.eq_ignore_ascii_case(&self.host) && port.unwrap_or(self.default_port()) == self.port
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if self.port != self.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// `host[:port]` split; IPv6 hosts keep their brackets, as in URLs.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let authority = authority.trim();
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(authority[colon + 1..].parse().ok()?))
        }
        _ => (authority, None),
    };
    (!host.is_empty()).then_some((host, port))
}

/// A list of peer addresses or networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Parses `10.0.0.0/8`, `::1`, `127.0.0.1` (a bare address is one host).
    pub fn parse(items: &[String]) -> Result<Self, String> {
        items
            .iter()
            .map(|item| item.trim())
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{item}` is not an address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// The trust model's settings, checked.
#[derive(Clone, Debug)]
pub struct Trust {
    public: Vec<Origin>,
    /// The address the server listens on, as a host: always served, since a
    /// rebinding page's requests carry its own DNS name, never this address,
    /// and a proxy that forwards no host sends this one.
    listen: Option<Origin>,
    allowed: Vec<Origin>,
    proxies: Networks,
}

/// Why the trust model's settings were refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("REINS_PUBLIC_ORIGIN: {0}")]
    PublicOrigin(OriginError),
    #[error("REINS_ALLOWED_ORIGINS: {0}")]
    AllowedOrigin(OriginError),
    #[error("REINS_TRUSTED_PROXIES: {0}")]
    Proxies(String),
}

impl Trust {
    /// The model for a server listening on `listen`: `public` defaults to the
    /// listen address (and `localhost` for a loopback one).
    pub fn new(
        listen: SocketAddr,
        public: &[String],
        allowed: &[String],
        proxies: &[String],
    ) -> Result<Self, TrustError> {
        let mut public_origins = parse_origins(public).map_err(TrustError::PublicOrigin)?;
        if public_origins.is_empty() {
            public_origins = default_public_origins(listen);
        }
        let listen = (!listen.ip().is_unspecified())
            .then(|| Origin::http(&host_for_url(listen.ip()), listen.port()));
        Ok(Self {
            public: public_origins,
            listen,
            allowed: parse_origins(allowed).map_err(TrustError::AllowedOrigin)?,
            proxies: Networks::parse(proxies).map_err(TrustError::Proxies)?,
        })
    }

    /// Whether `peer` is a proxy whose forwarded headers are believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.proxies.contains(peer)
    }

    /// The origins the page is served under.
    pub fn public_origins(&self) -> &[Origin] {
        &self.public
    }

    /// Who sent this request and through what, as far as it can be believed.
    pub fn see(&self, peer: Option<IpAddr>, uri: &Uri, headers: &HeaderMap) -> Seen {
        let direct = Seen {
            address: peer.map(canonical),
            host: uri
                .authority()
                .map(|authority| authority.as_str().to_owned())
                .or_else(|| header(headers, HOST).map(str::to_owned)),
            proto: None,
        };
        let Some(peer) = peer.filter(|&peer| self.proxies.contains(peer)) else {
            return direct;
        };
        let forwarded = Forwarded::read(headers);
        Seen {
            address: Some(forwarded.client(peer, &self.proxies)),
            host: forwarded.host.or(direct.host),
            proto: forwarded.proto,
        }
    }

    /// Whether `host` (as [`Seen::host`]) is one the page is served under.
    pub fn is_public_host(&self, seen: &Seen) -> bool {
        let Some(host) = &seen.host else {
            return false;
        };
        self.listen.as_ref().is_some_and(|listen| listen.is_host(host))
            || self.public.iter().any(|origin| {
                origin.is_host(host)
                    && seen.proto.as_ref().is_none_or(|proto| *proto == origin.scheme)
            })
    }

    /// How a page's `Origin` header stands with this server.
    pub fn origin_standing(&self, origin: &str) -> Standing {
        match Origin::parse(origin) {
            Ok(origin) if self.public.contains(&origin) => Standing::SameOrigin,
            Ok(origin) if self.allowed.contains(&origin) => Standing::Allowed,
            _ => Standing::Refused,
        }
    }
}

/// A page origin's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The hosted page itself.
    SameOrigin,
    /// A site listed in `REINS_ALLOWED_ORIGINS`.
    Allowed,
    Refused,
}

fn parse_origins(items: &[String]) -> Result<Vec<Origin>, OriginError> {
    let mut origins = Vec::new();
    for item in items.iter().filter(|item| !item.trim().is_empty()) {
        let origin = Origin::parse(item)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

fn default_public_origins(listen: SocketAddr) -> Vec<Origin> {
    let port = listen.port();
    let mut origins = vec![Origin::http(&host_for_url(listen.ip()), port)];
    if listen.ip().is_loopback() || listen.ip().is_unspecified() {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let origin = Origin::http(host, port);
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

fn host_for_url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// What the trust model concluded about a request's sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The client's address: the peer's, or the one a trusted proxy reports.
    pub address: Option<IpAddr>,
    /// The host the client asked for (`host[:port]`).
    pub host: Option<String>,
    /// The scheme the client used, when a trusted proxy says.
    pub proto: Option<String>,
}

/// What the proxies in front said about the request.
#[derive(Debug, Default)]
struct Forwarded {
    /// The `for=` / `X-Forwarded-For` chain, client first.
    chain: Vec<IpAddr>,
    host: Option<String>,
    proto: Option<String>,
}

impl Forwarded {
    /// Reads `Forwarded` (RFC 7239) if present, else the `X-Forwarded-*`
    /// headers. Entries that cannot be read end the chain there.
    fn read(headers: &HeaderMap) -> Self {
        let forwarded: Vec<&str> =
            headers.get_all(FORWARDED).iter().filter_map(|v| v.to_str().ok()).collect();
        if !forwarded.is_empty() {
            let mut result = Self::default();
            for element in forwarded.iter().flat_map(|value| value.split(',')) {
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else {
                        continue;
                    };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => result.chain.push(parse_node(value).unwrap_or(UNKNOWN)),
                        // The last proxy's word counts: it is the one we trust.
                        "host" => result.host = Some(value.to_owned()),
                        "proto" => result.proto = Some(value.to_ascii_lowercase()),
                        _ => {}
                    }
                }
            }
            return result;
        }
        let chain = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|item| parse_node(item.trim()).unwrap_or(UNKNOWN))
            .collect();
        let last = |name: &str| {
            header(headers, name)
                .and_then(|value| value.rsplit(',').next())
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        Self {
            chain,
            host: last("x-forwarded-host"),
            proto: last("x-forwarded-proto").map(|proto| proto.to_ascii_lowercase()),
        }
    }

    /// The client: the nearest address in the chain that is not a trusted
    /// proxy, walking back from `peer`. Everything before it could have been
    /// written by the client itself.
    fn client(&self, peer: IpAddr, proxies: &Networks) -> IpAddr {
        let mut client = canonical(peer);
        for &address in self.chain.iter().rev() {
            if !proxies.contains(client) || address == UNKNOWN {
                break;
            }
            client = canonical(address);
        }
        client
    }
}

/// Stands for a `for=` the proxy could not name (`unknown`, an obfuscated
/// id, garbage): the chain is not believed past it.
const UNKNOWN: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// An address as `Forwarded` or `X-Forwarded-For` writes it: `1.2.3.4`,
/// `1.2.3.4:5678`, `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    let inside = text.strip_prefix('[')?;
    inside[..inside.find(']')?].parse().ok()
}

/// IPv4-mapped IPv6 addresses as the IPv4 addresses they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Who the client of a request is, for limits and logs: the address the
/// trust model believes, IPv6 grouped by its /64 (one home or one server
/// holds a whole /64), and the user once a token says so.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    Address(IpAddr),
    User(String),
}

impl Client {
    /// The client behind an address.
    pub fn address(address: Option<IpAddr>) -> Self {
        let address = match address.map(canonical) {
            Some(IpAddr::V6(v6)) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
            Some(v4) => v4,
            None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Self::Address(address)
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            Self::Address(v4) => v4.fmt(f),
            Self::User(user) => write!(f, "user {user}"),
        }
    }
}

/// The outer check: refuses a request for a foreign host, whatever its
/// method (CORS preflights included), and leaves the request's [`Seen`] and
/// [`Client`] in its extensions.
pub fn guard(trust: &Trust, request: &mut Request) -> Result<(), ApiError> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let seen = trust.see(peer, request.uri(), request.headers());
    if request.uri().path() != HEALTH_CHECK && !trust.is_public_host(&seen) {
        let host = seen.host.as_deref().unwrap_or("(none)");
        tracing::warn!(host = %brief(host), client = ?seen.address, "request for a host this server is not configured for");
        return Err(ApiError::UnknownHost);
    }
    request.extensions_mut().insert(Client::address(seen.address));
    request.extensions_mut().insert(seen);
    Ok(())
}

/// The inner check, inside the CORS layer so that its refusal carries
/// CORS headers and the page can read why: refuses a page origin that is
/// neither the hosted page's nor listed. The embed script is served to every
/// page, so that on a refused one it can tell the person why.
pub fn origin_guard(trust: &Trust, request: &Request) -> Result<(), ApiError> {
    if request.uri().path() != EMBED_SCRIPT
        && let Some(origin) = header(request.headers(), ORIGIN)
        && trust.origin_standing(origin) == Standing::Refused
    {
        tracing::warn!(origin = %brief(origin), "request from an origin that is not allowed");
        return Err(ApiError::OriginNotAllowed(brief(origin)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn origins_are_normalised_and_bad_ones_refused_with_a_reason() {
        let origin = Origin::parse("HTTPS://Example.COM:443/").unwrap();
        assert_eq!(origin.to_string(), "https://example.com");
        assert_eq!(Origin::parse("http://a.test:80").unwrap().to_string(), "http://a.test");
        assert_eq!(Origin::parse("http://a.test:8080").unwrap().to_string(), "http://a.test:8080");
        assert_eq!(Origin::parse("http://[::1]:3000").unwrap().to_string(), "http://[::1]:3000");
        assert_eq!(Origin::parse("*"), Err(OriginError::Wildcard("*".into())));
        assert!(matches!(Origin::parse("https://*.example.com"), Err(OriginError::Wildcard(_))));
        assert_eq!(Origin::parse("null"), Err(OriginError::Null));
        for not_bare in
            ["https://a.test/chat", "https://u:p@a.test", "https://a.test/?x", "https://a.test//"]
        {
            assert!(matches!(Origin::parse(not_bare), Err(OriginError::NotBare(_))), "{not_bare}");
        }
        for malformed in ["example.com", "https://", ""] {
            assert!(Origin::parse(malformed).is_err(), "{malformed}");
        }
        assert!(matches!(Origin::parse("ftp://a.test"), Err(OriginError::Scheme(_))));
        let error =
            Trust::new("127.0.0.1:1".parse().unwrap(), &[], &strings(&["*"]), &[]).unwrap_err();
        assert!(
            error.to_string().starts_with("REINS_ALLOWED_ORIGINS: `*` is not allowed"),
            "{error}"
        );
    }

    fn trust(public: &[&str], allowed: &[&str], proxies: &[&str]) -> Trust {
        Trust::new(
            "127.0.0.1:3000".parse().unwrap(),
            &strings(public),
            &strings(allowed),
            &strings(proxies),
        )
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn seen(trust: &Trust, peer: &str, pairs: &[(&str, &str)]) -> Seen {
        trust.see(Some(peer.parse().unwrap()), &Uri::from_static("/api/chat"), &headers(pairs))
    }

    #[test]
    fn the_default_public_origin_is_the_listen_address() {
        let trust = trust(&[], &[], &[]);
        for host in ["127.0.0.1:3000", "localhost:3000", "LOCALHOST:3000", "[::1]:3000"] {
            assert!(trust.is_public_host(&seen(&trust, "127.0.0.1", &[("host", host)])), "{host}");
        }
        for host in ["evil.example", "evil.example:3000", "127.0.0.1:3001", "127.0.0.1", ""] {
            assert!(!trust.is_public_host(&seen(&trust, "127.0.0.1", &[("host", host)])), "{host}");
        }
        assert!(!trust.is_public_host(&seen(&trust, "127.0.0.1", &[])), "no host at all");
        assert_eq!(trust.origin_standing("http://localhost:3000"), Standing::SameOrigin);
        assert_eq!(trust.origin_standing("http://localhost:3001"), Standing::Refused);
    }

    #[test]
    fn a_configured_public_origin_replaces_the_default() {
        let trust = trust(&["https://chat.example.com"], &["https://blog.example.com"], &[]);
        let public = |host| trust.is_public_host(&seen(&trust, "127.0.0.1", &[("host", host)]));
        assert!(public("chat.example.com"));
        assert!(public("chat.example.com:443"));
        assert!(!public("chat.example.com:80"));
        assert!(public("127.0.0.1:3000"), "the listen address, as a proxy sends it by default");
        assert!(!public("localhost:3000"), "localhost is only a default");
        assert_eq!(trust.origin_standing("https://chat.example.com"), Standing::SameOrigin);
        assert_eq!(trust.origin_standing("https://chat.example.com:443"), Standing::SameOrigin);
        assert_eq!(trust.origin_standing("http://chat.example.com"), Standing::Refused);
        assert_eq!(trust.origin_standing("https://blog.example.com"), Standing::Allowed);
        assert_eq!(trust.origin_standing("https://blog.example.com.evil.test"), Standing::Refused);
        assert_eq!(trust.origin_standing("null"), Standing::Refused);
    }

    #[test]
    fn forwarded_headers_are_believed_from_trusted_proxies_only() {
        let trust = trust(&["https://chat.example.com"], &[], &["10.0.0.0/8"]);
        let forwarded = [
            ("x-forwarded-for", "198.51.100.7, 10.0.0.9"),
            ("x-forwarded-host", "chat.example.com"),
            ("x-forwarded-proto", "https"),
            ("host", "reins:3000"),
        ];
        let through_proxy = seen(&trust, "10.0.0.2", &forwarded);
        assert_eq!(through_proxy.address, Some("198.51.100.7".parse().unwrap()));
        assert!(trust.is_public_host(&through_proxy));
        let from_stranger = seen(&trust, "203.0.113.5", &forwarded);
        assert_eq!(from_stranger.address, Some("203.0.113.5".parse().unwrap()));
        assert!(!trust.is_public_host(&from_stranger), "the stranger's own Host is reins:3000");

        // A client's own X-Forwarded-For entries before the proxy's are not believed.
        let spoofed = seen(&trust, "10.0.0.2", &[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        assert_eq!(spoofed.address, Some("198.51.100.7".parse().unwrap()));
        // Wrong scheme through the proxy: not the public origin.
        let http = seen(
            &trust,
            "10.0.0.2",
            &[("x-forwarded-proto", "http"), ("x-forwarded-host", "chat.example.com")],
        );
        assert!(!trust.is_public_host(&http));
    }

    #[test]
    fn rfc_7239_forwarded_is_read_and_preferred() {
        let trust = trust(&["https://chat.example.com"], &[], &["10.0.0.2", "::1"]);
        let through_proxy = seen(
            &trust,
            "::ffff:10.0.0.2",
            &[
                ("forwarded", r#"for="[2001:db8::7]:4711";proto=https;host=chat.example.com"#),
                ("x-forwarded-for", "9.9.9.9"),
            ],
        );
        assert_eq!(through_proxy.address, Some("2001:db8::7".parse().unwrap()));
        assert!(trust.is_public_host(&through_proxy));
        let unknown = seen(&trust, "10.0.0.2", &[("forwarded", "for=unknown, for=10.0.0.2")]);
        assert_eq!(
            unknown.address,
            Some("10.0.0.2".parse().unwrap()),
            "not believed past `unknown`"
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let one = Client::address(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let same = Client::address(Some("2001:db8:1:2:ffff:1:2:3".parse().unwrap()));
        let other = Client::address(Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(one, same);
        assert_ne!(one, other);
        assert_eq!(one.to_string(), "2001:db8:1:2::/64");
        assert_eq!(Client::address(Some("::ffff:1.2.3.4".parse().unwrap())).to_string(), "1.2.3.4");
    }

    #[test]
    fn proxies_are_validated() {
        let error = Networks::parse(&strings(&["10.0.0.0/8", "nonsense"])).unwrap_err();
        assert!(error.contains("`nonsense`"), "{error}");
        assert!(Networks::parse(&strings(&["10.0.0.0/33"])).is_err());
    }
}
