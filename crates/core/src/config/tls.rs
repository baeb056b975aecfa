//! Service-to-service TLS: one set of files per process (`TLS_*`), read and checked once at start.
//!
//! * **Servers**: with `TLS_CERT_FILE` and `TLS_KEY_FILE` an agent's port speaks TLS only. With
//!   `TLS_CLIENT_CA_FILE` it also requires a client certificate signed by that CA, and with
//!   `TLS_ALLOWED_CLIENTS` it admits only a certificate that names one of those DNS names
//!   (`serve::AllowedClientsLayer`; any other is answered `PermissionDenied`).
//! * **Clients**: with `TLS_CA_FILE` every gRPC call this process makes is TLS, verified against
//!   that CA (an `http://` target is dialled as `https://`: there is no plaintext once TLS is
//!   configured), presenting this process's certificate when it has one.
//! * **Redis** (`rediss://`) and **RabbitMQ** (`amqps://`): verified against the system's roots and
//!   `TLS_CA_FILE` ([`ca_pem_from_env`], [`rustls_client_config`]).
//!
//! Nothing is plaintext-by-fallback: a file that cannot be read or parsed stops the start (exit
//! 64, naming the variable and the path, never the contents).

use std::{fmt, path::Path, sync::Arc};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::{ConfigError, Env};

pub const TLS_CERT_FILE: &str = "TLS_CERT_FILE";
pub const TLS_KEY_FILE: &str = "TLS_KEY_FILE";
pub const TLS_CA_FILE: &str = "TLS_CA_FILE";
pub const TLS_CLIENT_CA_FILE: &str = "TLS_CLIENT_CA_FILE";
pub const TLS_ALLOWED_CLIENTS: &str = "TLS_ALLOWED_CLIENTS";

/// A process's TLS settings; the default is none (plaintext everywhere).
#[derive(Clone, Default)]
pub struct TlsConfig {
    server: Option<ServerTlsConfig>,
    client: Option<ClientTlsConfig>,
    allowed: Option<AllowedClients>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .field("allowed_clients", &self.allowed)
            .finish()
    }
}

impl TlsConfig {
    /// Reads the `TLS_*` settings and the files they name.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let cert = env.get(TLS_CERT_FILE);
        let key = env.get(TLS_KEY_FILE);
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let cert_pem = read_certificates(TLS_CERT_FILE, &cert)?;
                let key_pem = read(TLS_KEY_FILE, &key)?;
                if PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).is_err() {
                    return Err(ConfigError::new(
                        TLS_KEY_FILE,
                        &key,
                        "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    ));
                }
                Some(Identity::from_pem(cert_pem, key_pem))
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    TLS_KEY_FILE,
                    "",
                    format!("must be set with {TLS_CERT_FILE}"),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    TLS_CERT_FILE,
                    "",
                    format!("must be set with {TLS_KEY_FILE}"),
                ));
            }
        };
        let ca_pem = ca_pem_from_env(env)?;
        let client_ca = env
            .get(TLS_CLIENT_CA_FILE)
            .map(|path| read_certificates(TLS_CLIENT_CA_FILE, &path))
            .transpose()?;
        let allowed = env
            .get(TLS_ALLOWED_CLIENTS)
            .map(|names| AllowedClients::parse(&names))
            .transpose()?;

        if client_ca.is_some() && identity.is_none() {
            return Err(ConfigError::new(
                TLS_CLIENT_CA_FILE,
                "",
                format!("needs the server's own {TLS_CERT_FILE} and {TLS_KEY_FILE}"),
            ));
        }
        if allowed.is_some() && client_ca.is_none() {
            return Err(ConfigError::new(
                TLS_ALLOWED_CLIENTS,
                "",
                format!(
                    "needs {TLS_CLIENT_CA_FILE}: names are read from verified client certificates"
                ),
            ));
        }

        let server = identity.clone().map(|identity| {
            let server = ServerTlsConfig::new().identity(identity);
            match &client_ca {
                Some(ca) => server.client_ca_root(Certificate::from_pem(ca.as_bytes())),
                None => server,
            }
        });
        let client = ca_pem.as_ref().map(|ca| {
            let client =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.as_bytes()));
            match identity {
                Some(identity) => client.identity(identity),
                None => client,
            }
        });
        Ok(Self {
            server,
            client,
            allowed,
        })
    }

    /// The gRPC server's TLS, when it has a certificate.
    pub fn server(&self) -> Option<&ServerTlsConfig> {
        self.server.as_ref()
    }

    /// The gRPC clients' TLS, when `TLS_CA_FILE` is set.
    pub fn client(&self) -> Option<&ClientTlsConfig> {
        self.client.as_ref()
    }

    /// The names a server admits (`TLS_ALLOWED_CLIENTS`), when it limits them.
    pub fn allowed_clients(&self) -> Option<&AllowedClients> {
        self.allowed.as_ref()
    }
}

/// `TLS_CA_FILE`'s certificates as PEM (checked), for the datastores' TLS (`rediss://`,
/// `amqps://`); `None` when unset.
pub fn ca_pem_from_env(env: &impl Env) -> Result<Option<Arc<str>>, ConfigError> {
    env.get(TLS_CA_FILE)
        .map(|path| read_certificates(TLS_CA_FILE, &path).map(Arc::from))
        .transpose()
}

/// A rustls client configuration that trusts the system's roots and `ca_pem` (`TLS_CA_FILE`),
/// for Redis over `rediss://`. No client certificate: managed datastores authenticate with the
/// URL's credentials.
pub fn rustls_client_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    // A few unreadable system certificates are no reason to trust nothing.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for cert in ca_pem.map_or_else(Vec::new, |pem| {
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect()
    }) {
        let cert = cert.map_err(|e| format!("{TLS_CA_FILE}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{TLS_CA_FILE}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "no trusted roots: neither system certificates nor {TLS_CA_FILE}"
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn read(var: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(Path::new(path))
        .map_err(|e| ConfigError::new(var, path, format!("cannot read it: {e}")))
}

/// The file's text, checked to hold at least one PEM certificate and nothing unparseable.
fn read_certificates(var: &str, path: &str) -> Result<String, ConfigError> {
    let pem = read(var, path)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|e| ConfigError::new(var, path, format!("not a PEM certificate: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(ConfigError::new(var, path, "holds no PEM certificate"));
    }
    Ok(pem)
}

/// The DNS names a server admits (`TLS_ALLOWED_CLIENTS`): a client certificate is allowed when
/// it is valid for one of them, by the same rules a client checks a server's name with
/// (subjectAltName, wildcards), checked by `webpki`.
#[derive(Clone)]
pub struct AllowedClients {
    names: Arc<[ServerName<'static>]>,
}

impl fmt::Debug for AllowedClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.names.iter().map(|n| n.to_str()))
            .finish()
    }
}

impl AllowedClients {
    /// Comma-separated DNS names.
    pub fn parse(names: &str) -> Result<Self, ConfigError> {
        let names = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|name| match ServerName::try_from(name.to_owned()) {
                Ok(server @ ServerName::DnsName(_)) => Ok(server),
                _ => Err(ConfigError::new(
                    TLS_ALLOWED_CLIENTS,
                    name,
                    "not a DNS name",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if names.is_empty() {
            return Err(ConfigError::new(TLS_ALLOWED_CLIENTS, "", "names no client"));
        }
        Ok(Self {
            names: names.into(),
        })
    }

    /// Whether the peer's end-entity certificate names an allowed client.
    pub fn admits(&self, peer: Option<&[CertificateDer<'static>]>) -> bool {
        let Some(cert) = peer.and_then(<[_]>::first) else {
            return false;
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
            return false;
        };
        self.names
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn certificate(names: &[&str]) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn only_certificates_that_name_an_allowed_client_are_admitted() {
        let allowed = AllowedClients::parse("root, worker.multi-agent.svc").unwrap();
        assert!(allowed.admits(Some(&[certificate(&["root"])])));
        assert!(allowed.admits(Some(&[certificate(&["x", "worker.multi-agent.svc"])])));
        assert!(!allowed.admits(Some(&[certificate(&["gateway"])])));
        assert!(!allowed.admits(Some(&[certificate(&["rootkit"])])));
        assert!(!allowed.admits(Some(&[])));
        assert!(!allowed.admits(None), "no certificate, no entry");
        assert!(!allowed.admits(Some(&[CertificateDer::from(vec![1, 2, 3])])));
    }

    #[test]
    fn settings_that_cannot_work_stop_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let cert = cert.to_string_lossy().into_owned();
        let missing = dir
            .path()
            .join("missing.pem")
            .to_string_lossy()
            .into_owned();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![(TLS_CERT_FILE, "/x")], TLS_KEY_FILE),
            (vec![(TLS_KEY_FILE, "/x")], TLS_CERT_FILE),
            (vec![(TLS_CA_FILE, &cert)], TLS_CA_FILE),
            (vec![(TLS_CA_FILE, &missing)], TLS_CA_FILE),
            (vec![(TLS_ALLOWED_CLIENTS, "root")], TLS_ALLOWED_CLIENTS),
            (
                vec![(TLS_ALLOWED_CLIENTS, "127.0.0.1")],
                TLS_ALLOWED_CLIENTS,
            ),
        ];
        for (vars, named) in cases {
            let env: HashMap<&str, &str> = vars.into_iter().collect();
            let err = TlsConfig::from_env(&env).unwrap_err();
            assert_eq!(err.var, named, "{err}");
        }
        let none = TlsConfig::from_env(&HashMap::<&str, &str>::new()).unwrap();
        assert!(none.server().is_none() && none.client().is_none());
    }
}
