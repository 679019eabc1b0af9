//! `--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit format.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # or `cert:` with the PEM inline
//!   key_file: server.key           # or `key:`
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: ca.crt         # or `client_ca:`
//!   min_version: TLS12             # TLS12 (default) or TLS13
//!   max_version: TLS13
//! http_server_config:
//!   headers:
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hash
//! ```
//!
//! Relative file names are relative to the directory of the config file, as in exporter-toolkit.
//! The server certificate and key files are checked for changes (at most once a second, at a
//! handshake) and reloaded, so renewed certificates need no restart (one line on stderr says
//! so, or why the new files could not be used: the previous certificate is then kept); the rest
//! of the config is read once.
//! Unknown keys are errors that name the key; keys of exporter-toolkit that this server does not
//! implement (`cipher_suites`, `curve_preferences`, `client_allowed_sans`, `rate_limit`,
//! `RequestClientCert`/`RequireAnyClientCert`) are errors saying so, rather than silently
//! weakening what the operator asked for. `http2` is accepted and ignored (HTTP/1.1 only);
//! `prefer_server_cipher_suites` is accepted and ignored (rustls has its own safe choice).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;

/// A loaded and checked web config.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// The TLS server config (certificates loaded), if TLS is configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name -> bcrypt hash; empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
    /// Extra response headers (`http_server_config.headers`).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field(
                "basic_auth_users",
                &self.basic_auth_users.keys().collect::<Vec<_>>(),
            )
            .field("headers", &self.headers)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<IgnoredAny>,
    curve_preferences: Option<IgnoredAny>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Headers exporter-toolkit lets one set, with the values allowed (none listed: any value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Reads and checks the config file (certificates and keys are loaded now, so errors show at
/// start).
pub fn load_web_config(path: impl AsRef<Path>) -> Result<WebConfig, String> {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("web config {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_web_config(&text, dir).map_err(|e| format!("web config {}: {e}", path.display()))
}

/// Parses a config; relative file names are taken relative to `base_dir`.
pub fn parse_web_config(yaml: &str, base_dir: &Path) -> Result<WebConfig, String> {
    let raw: RawConfig = if yaml.trim().is_empty() {
        RawConfig::default()
    } else {
        // Without the source snippet: the message stays one line ("... at line L, column C").
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(yaml, options)
            .map_err(|e| e.to_string().replace('\n', "\\n"))?
    };
    if raw.rate_limit.is_some() {
        return Err("rate_limit is not supported".to_string());
    }
    let mut config = WebConfig::default();
    if let Some(users) = raw.basic_auth_users {
        for (user, hash) in &users {
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                format!("basic_auth_users: the password of {user:?} is not a bcrypt hash: {e}")
            })?;
        }
        config.basic_auth_users = users;
    }
    if let Some(http) = raw.http_server_config {
        let _ = http.http2;
        for (name, value) in http.headers.unwrap_or_default() {
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "http_server_config: HTTP header {name:?} can not be configured"
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!(
                    "http_server_config: invalid value for {name}: expected one of {allowed:?}, got {value:?}"
                ));
            }
            hyper::header::HeaderValue::from_str(&value)
                .map_err(|_| format!("http_server_config: invalid value for {name}"))?;
            config.headers.push((name, value));
        }
    }
    if let Some(tls) = raw.tls_server_config {
        config.tls = tls_config(tls, base_dir).map_err(|e| format!("tls_server_config: {e}"))?;
    }
    Ok(config)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls12,
    Tls13,
}

fn version(v: Option<&str>, default: Version, key: &str) -> Result<Version, String> {
    match v {
        None => Ok(default),
        Some("TLS12") => Ok(Version::Tls12),
        Some("TLS13") => Ok(Version::Tls13),
        Some(v @ ("TLS10" | "TLS11")) => Err(format!(
            "{key}: {v} is not supported (rustls speaks TLS12 and TLS13)"
        )),
        Some(v) => Err(format!("{key}: unknown TLS version {v:?} (TLS12 or TLS13)")),
    }
}

enum ClientAuth {
    None,
    VerifyIfGiven,
    RequireAndVerify,
}

fn tls_config(raw: RawTls, base: &Path) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let enabled = raw.cert.is_some()
        || raw.cert_file.is_some()
        || raw.key.is_some()
        || raw.key_file.is_some()
        || raw.client_ca.is_some()
        || raw.client_ca_file.is_some()
        || raw.client_auth_type.is_some();
    if raw.cipher_suites.is_some() {
        return Err("cipher_suites is not supported (rustls uses its own safe set)".to_string());
    }
    if raw.curve_preferences.is_some() {
        return Err("curve_preferences is not supported".to_string());
    }
    if raw.client_allowed_sans.is_some() {
        return Err("client_allowed_sans is not supported".to_string());
    }
    let _ = raw.prefer_server_cipher_suites;
    let min = version(raw.min_version.as_deref(), Version::Tls12, "min_version")?;
    let max = version(raw.max_version.as_deref(), Version::Tls13, "max_version")?;
    if min > max {
        return Err("min_version is above max_version".to_string());
    }
    if !enabled {
        return Ok(None);
    }
    let resolve = |f: &str| -> PathBuf {
        let p = Path::new(f);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let source = |inline: &Option<String>, file: &Option<String>, what: &str| match (inline, file) {
        (Some(_), Some(_)) => Err(format!("both {what} and {what}_file are set")),
        (Some(text), None) => Ok(Some(Pem::Inline(what.to_string(), text.clone()))),
        (None, Some(f)) => Ok(Some(Pem::File(what.to_string(), resolve(f)))),
        (None, None) => Ok(None),
    };
    let client_auth = match raw.client_auth_type.as_deref() {
        None | Some("") | Some("NoClientCert") => ClientAuth::None,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerify,
        Some(t @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert")) => {
            return Err(format!(
                "client_auth_type {t} is not supported: client certificates are only accepted \
                 when verified (use RequireAndVerifyClientCert or VerifyClientCertIfGiven)"
            ));
        }
        Some(t) => return Err(format!("invalid client_auth_type {t:?}")),
    };

    let cert =
        source(&raw.cert, &raw.cert_file, "cert")?.ok_or("missing one of cert or cert_file")?;
    let key = source(&raw.key, &raw.key_file, "key")?.ok_or("missing one of key or key_file")?;
    let ca = match source(&raw.client_ca, &raw.client_ca_file, "client_ca")? {
        Some(ca) => Some(ca.read()?),
        None => None,
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let builder = match (client_auth, ca) {
        (ClientAuth::None, Some(_)) => {
            return Err("client CA's have been configured without a client_auth_type".to_string());
        }
        (ClientAuth::None, None) => builder.with_no_client_auth(),
        (_, None) => return Err("client_auth_type needs client_ca_file or client_ca".to_string()),
        (auth, Some((ca_pem, ca_name))) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                let cert = cert.map_err(|e| format!("{ca_name}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{ca_name}: bad CA certificate: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("{ca_name}: no PEM certificate found"));
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = match auth {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
    };
    let resolver = ReloadingCert::new(cert, key, provider)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// PEM data given inline or in a file (`what` names the key, for messages).
#[derive(Debug, Clone)]
enum Pem {
    Inline(String, String),
    File(String, PathBuf),
}

impl Pem {
    /// The bytes and a name for messages.
    fn read(&self) -> Result<(Vec<u8>, String), String> {
        match self {
            Pem::Inline(what, text) => Ok((text.clone().into_bytes(), what.clone())),
            Pem::File(what, path) => std::fs::read(path)
                .map(|bytes| (bytes, path.display().to_string()))
                .map_err(|e| format!("{what}_file {}: {e}", path.display())),
        }
    }

    /// What changes when the file is replaced (modification time and size).
    fn stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        match self {
            Pem::Inline(..) => None,
            Pem::File(_, path) => {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            }
        }
    }
}

fn certified_key(
    cert: &Pem,
    key: &Pem,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, String> {
    let (cert_pem, cert_name) = cert.read()?;
    let (key_pem, key_name) = key.read()?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{cert_name}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{cert_name}: no PEM certificate found"));
    }
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => format!("{key_name}: no PEM private key found"),
        e => format!("{key_name}: {e}"),
    })?;
    CertifiedKey::from_der(certs, der, provider)
        .map_err(|e| format!("{cert_name} / {key_name}: {e}"))
}

/// How often the certificate files are checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The server certificate, reloaded from its files when they change (renewed certificates are
/// used without a restart, as exporter-toolkit does); a file that fails to load keeps the old
/// certificate in use.
#[derive(Debug)]
struct ReloadingCert {
    cert: Pem,
    key: Pem,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

type Stamp = (
    Option<(std::time::SystemTime, u64)>,
    Option<(std::time::SystemTime, u64)>,
);

impl ReloadingCert {
    fn new(
        cert: Pem,
        key: Pem,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<ReloadingCert, String> {
        let stamp = (cert.stamp(), key.stamp());
        let loaded = certified_key(&cert, &key, &provider)?;
        Ok(ReloadingCert {
            cert,
            key,
            provider,
            current: Mutex::new(Current {
                key: Arc::new(loaded),
                stamp,
                checked: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= RELOAD_CHECK {
            current.checked = Instant::now();
            let stamp = (self.cert.stamp(), self.key.stamp());
            if stamp != current.stamp {
                // Files that fail are reported once, and tried again when they change again
                // (e.g. the key written after the certificate).
                current.stamp = stamp;
                // This runs inside a TLS handshake: no caller to hand the outcome to, so it is
                // reported here, as serve's other runtime events are.
                match certified_key(&self.cert, &self.key, &self.provider) {
                    Ok(loaded) => {
                        current.key = Arc::new(loaded);
                        eprintln!("pflog: TLS certificate reloaded");
                    }
                    Err(e) => eprintln!(
                        "pflog: TLS certificate not reloaded, still serving the previous one: {e}"
                    ),
                }
            }
        }
        Some(current.key.clone())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<WebConfig, String> {
        parse_web_config(yaml, Path::new("/nonexistent"))
    }

    #[test]
    fn empty_is_no_tls_no_auth() {
        let c = parse("").unwrap();
        assert!(c.tls.is_none() && c.basic_auth_users.is_empty() && c.headers.is_empty());
        let c = parse("tls_server_config: {}\nhttp_server_config: {http2: true}\n").unwrap();
        assert!(c.tls.is_none());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("tls_server_config:\n  cert_fil: x\n").unwrap_err();
        assert!(e.contains("unknown field `cert_fil`"), "{e}");
        let e = parse("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(e.contains("unknown field `basic_auth_user`"), "{e}");
    }

    #[test]
    fn unsupported_features_say_so() {
        for (yaml, want) in [
            ("rate_limit: {burst: 1}", "rate_limit is not supported"),
            (
                "tls_server_config: {cipher_suites: [TLS_AES_128_GCM_SHA256]}",
                "cipher_suites is not supported",
            ),
            (
                "tls_server_config: {min_version: TLS10}",
                "TLS10 is not supported",
            ),
            (
                "tls_server_config: {min_version: TLS13, max_version: TLS12}",
                "min_version is above max_version",
            ),
            (
                "tls_server_config: {client_auth_type: RequireAnyClientCert, cert: x, key: y}",
                "not supported",
            ),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn yaml_errors_are_one_line_with_a_position() {
        let e = parse("tls_server_config:\n  cert_file: [a\n").unwrap_err();
        assert!(!e.contains('\n') && e.contains("line 2"), "{e}");
        let e = parse("tls_server_config: {curve_preferences: [X25519]}").unwrap_err();
        assert!(e.contains("curve_preferences is not supported"), "{e}");
    }

    #[test]
    fn pem_certificates_and_keys_load() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert, key) = (cert.pem(), key.serialize_pem());
        let yaml =
            |cert: &str, key: &str| format!("tls_server_config: {{cert: {cert:?}, key: {key:?}}}");
        assert!(parse(&yaml(&cert, &key)).unwrap().tls.is_some());
        // Several PEM sections in one file, other kinds skipped, as rustls-pemfile did.
        assert!(parse(&yaml(&format!("{key}{cert}"), &format!("{cert}{key}"))).is_ok());
        let e = parse(&yaml(&cert, &cert)).unwrap_err();
        assert!(e.contains("key: no PEM private key found"), "{e}");
        let e = parse(&yaml(&key, &key)).unwrap_err();
        assert!(e.contains("cert: no PEM certificate found"), "{e}");
        let broken = cert.replace("-----END CERTIFICATE-----", "");
        let e = parse(&yaml(&broken, &key)).unwrap_err();
        assert!(e.contains("cert: missing section end marker"), "{e}");
    }

    #[test]
    fn missing_and_unreadable_files() {
        let e = parse("tls_server_config: {key_file: k}").unwrap_err();
        assert!(e.contains("missing one of cert or cert_file"), "{e}");
        let e = parse("tls_server_config: {cert_file: c.pem, key_file: k.pem}").unwrap_err();
        // Relative to the config's directory.
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let e = parse("tls_server_config: {cert: nothing, key: nothing}").unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn users_must_be_bcrypt_hashes() {
        let e = parse("basic_auth_users: {alice: secret}").unwrap_err();
        assert!(e.contains("\"alice\" is not a bcrypt hash"), "{e}");
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = parse(&format!("basic_auth_users: {{alice: '{hash}'}}")).unwrap();
        assert_eq!(c.basic_auth_users["alice"], hash);
    }

    #[test]
    fn headers_are_checked_like_exporter_toolkit() {
        let c = parse("http_server_config:\n  headers:\n    X-Frame-Options: deny\n").unwrap();
        assert_eq!(c.headers, [("X-Frame-Options".into(), "deny".into())]);
        let e = parse("http_server_config: {headers: {X-Frame-Options: allow}}").unwrap_err();
        assert!(e.contains("invalid value for X-Frame-Options"), "{e}");
        let e = parse("http_server_config: {headers: {Server: x}}").unwrap_err();
        assert!(e.contains("\"Server\" can not be configured"), "{e}");
    }
}
