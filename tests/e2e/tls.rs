//! Service-to-service TLS on the real binary: each service its own process with its own
//! certificate from a CA this test makes, Redis and RabbitMQ over TLS on spare ports, and the
//! admin port (`ADMIN_LISTEN_ADDR`) in plain HTTP beside the TLS service ports.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use intentmesh_proto::pb::{DescribeRequest, agent_client::AgentClient};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::{
    auth::{get, post},
    launcher::{Running, wait_ready},
};

/// A CA and the files of the certificates it signed, in a directory of the test's own.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "IntentMesh test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca,
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn file(&self, file: &str) -> String {
        self.path(file).to_string_lossy().into_owned()
    }

    /// `<name>.pem` and `<name>.key`: a certificate for `name` (and for 127.0.0.1, the address
    /// its server is dialled at), for servers and clients alike.
    fn issue(&self, name: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec![name.to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (cert_file, key_file) = (format!("{name}.pem"), format!("{name}.key"));
        std::fs::write(self.path(&cert_file), cert.pem()).unwrap();
        std::fs::write(self.path(&key_file), key.serialize_pem()).unwrap();
        (self.file(&cert_file), self.file(&key_file))
    }

    fn identity(&self, name: &str) -> Identity {
        let (cert, key) = self.issue(name);
        Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
    }
}

/// A port free now, below Linux's ephemeral range (32768 and up): the processes started here
/// bind it a moment later, and a port the kernel hands out for `:0` or an outgoing connection
/// meanwhile (other tests run in parallel) is never one of these.
fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    loop {
        let port = rng.gen_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A server process group (RabbitMQ's scripts start a tree of processes) that is killed whole
/// when the test ends.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        // `--`: a negative number after it is a process group, not a signal.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, what: &str, within: Duration, log: &Path) {
    let deadline = Instant::now() + within;
    while !port_open(port) {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {within:?}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `redis-server` with TLS only (no plaintext port), on a spare port.
fn tls_redis(pki: &Pki) -> (Group, u16) {
    let (cert, key) = pki.issue("redis");
    let port = free_port();
    let log = pki.path("redis.log");
    let child = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
        .args(["--tls-ca-cert-file", &pki.file("ca.pem")])
        .args(["--tls-auth-clients", "no", "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--logfile", &log.to_string_lossy()])
        .process_group(0)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (Debian's redis-server) is installed");
    let group = Group(child);
    wait_for_port(port, "TLS Redis", Duration::from_secs(20), &log);
    (group, port)
}

/// A RabbitMQ node of its own (its own name, data and ports) with a TLS listener only.
fn tls_rabbitmq(pki: &Pki) -> (Group, u16) {
    let (cert, key) = pki.issue("rabbitmq");
    let (port, dist) = (free_port(), free_port());
    let base = pki.path("rabbitmq");
    std::fs::create_dir_all(base.join("home")).unwrap();
    std::fs::write(
        base.join("rabbitmq.conf"),
        format!(
            "listeners.tcp = none\nlisteners.ssl.default = {port}\n\
             ssl_options.cacertfile = {ca}\nssl_options.certfile = {cert}\n\
             ssl_options.keyfile = {key}\nssl_options.verify = verify_none\n\
             ssl_options.fail_if_no_peer_cert = false\n",
            ca = pki.file("ca.pem"),
        ),
    )
    .unwrap();
    // No plugins: the system node's management and Prometheus ports stay its own.
    std::fs::write(base.join("enabled_plugins"), "[].\n").unwrap();
    let log = base.join("out.log");
    // The server's own script, not the wrapper that switches to the rabbitmq user.
    let child = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
        .env("HOME", base.join("home"))
        .env(
            "RABBITMQ_NODENAME",
            format!("imtest-tls-{}@localhost", std::process::id()),
        )
        .env("RABBITMQ_NODE_PORT", free_port().to_string())
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("RABBITMQ_CONFIG_FILE", base.join("rabbitmq"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            base.join("enabled_plugins"),
        )
        .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", base.join("log"))
        .env("RABBITMQ_PID_FILE", base.join("pid"))
        .process_group(0)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("RabbitMQ's server (Debian's rabbitmq-server) is installed");
    let group = Group(child);
    wait_for_port(port, "TLS RabbitMQ", Duration::from_secs(90), &log);
    (group, port)
}

/// One service of the mesh as its own process, with its own certificate and `settings`.
fn service(
    pki: &Pki,
    which: &str,
    listen: u16,
    admin: u16,
    settings: &[(&str, String)],
) -> Running {
    let (cert, key) = pki.issue(which);
    let prefix = which.to_uppercase();
    let child = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg(which)
        .env(
            format!("{prefix}_LISTEN_ADDR"),
            format!("127.0.0.1:{listen}"),
        )
        .env("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin}"))
        .env("TLS_CERT_FILE", cert)
        .env("TLS_KEY_FILE", key)
        .env("TLS_CA_FILE", pki.file("ca.pem"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Running(child)
}

async fn describe(channel: Channel) -> Result<String, tonic::Status> {
    AgentClient::new(channel)
        .describe(DescribeRequest::default())
        .await
        .map(|card| card.into_inner().name)
}

async fn tls_channel(url: &str, tls: ClientTlsConfig) -> Result<Channel, String> {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// The mesh over TLS end to end: gRPC between the services with client certificates, Redis over
/// `rediss://`, RabbitMQ over `amqps://`; plaintext, a client without a certificate and a client
/// whose certificate names no allowed caller are all refused at the payment agent's port.
#[tokio::test]
async fn the_mesh_runs_over_tls_and_refuses_whoever_it_does_not_know() {
    let pki = Pki::new();
    let (_redis, redis_port) = tls_redis(&pki);
    let (_rabbitmq, amqp_port) = tls_rabbitmq(&pki);
    let prefix = intentmesh_core::test_util::unique_name("imtest-tls").replace('_', "-");
    let datastores = vec![
        ("REDIS_URL", format!("rediss://127.0.0.1:{redis_port}")),
        (
            "RABBITMQ_URL",
            format!("amqps://guest:guest@127.0.0.1:{amqp_port}/%2f"),
        ),
        ("TASK_QUEUE_PREFIX", prefix.clone()),
        ("REDIS_KEY_PREFIX", prefix),
    ];
    let ports: Vec<(u16, u16)> = (0..4).map(|_| (free_port(), free_port())).collect();
    let [
        (gateway, gateway_admin),
        (root, root_admin),
        (payment, payment_admin),
        (search, search_admin),
    ] = ports[..]
    else {
        unreachable!()
    };
    let agent = |allowed: &str| {
        let mut settings = datastores.clone();
        settings.push(("TLS_CLIENT_CA_FILE", pki.file("ca.pem")));
        settings.push(("TLS_ALLOWED_CLIENTS", allowed.to_owned()));
        settings
    };
    let _payment = service(&pki, "payment", payment, payment_admin, &agent("root"));
    let _search = service(&pki, "search", search, search_admin, &agent("root"));
    let mut root_settings = agent("gateway");
    root_settings.push((
        "AGENT_URLS",
        // Plain http:// URLs are dialled with TLS once TLS_CA_FILE is set.
        format!("payment=http://127.0.0.1:{payment},search=https://127.0.0.1:{search}"),
    ));
    let _root = service(&pki, "root", root, root_admin, &root_settings);
    let mut gateway_settings = datastores.clone();
    gateway_settings.push(("ROOT_AGENT_URL", format!("https://127.0.0.1:{root}")));
    let _gateway = service(&pki, "gateway", gateway, gateway_admin, &gateway_settings);

    let public = format!("http://127.0.0.1:{gateway}");
    wait_ready(&format!("http://127.0.0.1:{gateway_admin}")).await;
    wait_ready(&public).await;

    // A payment: gateway → root → payment, every hop TLS with a client certificate.
    let paid = post(
        &public,
        None,
        json!({"message": "pay $12.50 for order 881", "user_id": "tls-user", "mode": "sync"}),
    )
    .await;
    assert_eq!(paid.body["status"], "success", "{}", paid.body);
    assert_eq!(paid.body["agent"], "payment", "{}", paid.body);

    // A queued search: its record in Redis over TLS, its work and events through RabbitMQ over TLS.
    let queued = post(
        &public,
        None,
        json!({"message": "find running shoes", "user_id": "tls-user", "mode": "async"}),
    )
    .await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let task = queued.body["task_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let body = get(&format!("{public}/tasks/{task}"), None).await.body;
        if body["status"] == "success" || body["status"] == "failed" {
            break body;
        }
        assert!(Instant::now() < deadline, "task still {}", body["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "success", "{finished}");

    // Metrics are on the admin port only.
    assert_eq!(get(&format!("{public}/metrics"), None).await.status, 404);
    let metrics = get(&format!("http://127.0.0.1:{payment_admin}/metrics"), None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .as_str()
            .is_some_and(|text| text.contains("agent_requests_total"))
    );

    // At the payment agent's port: plaintext is refused…
    let plain = Channel::from_shared(format!("http://127.0.0.1:{payment}"))
        .unwrap()
        .connect()
        .await;
    match plain {
        Err(_) => {}
        Ok(channel) => assert!(describe(channel).await.is_err(), "plaintext was served"),
    }
    let url = format!("https://127.0.0.1:{payment}");
    let ca = Certificate::from_pem(std::fs::read(pki.path("ca.pem")).unwrap());
    // …so is a TLS client without a certificate…
    let anonymous = ClientTlsConfig::new().ca_certificate(ca.clone());
    match tls_channel(&url, anonymous).await {
        Err(_) => {}
        Ok(channel) => assert!(describe(channel).await.is_err(), "no certificate, served"),
    }
    // …and one whose certificate, signed by the same CA, names another caller.
    let intruder = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(pki.identity("gateway"));
    let channel = tls_channel(&url, intruder).await.unwrap();
    let refused = describe(channel).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    // The root's name is let in.
    let root_client = ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(pki.identity("root"));
    let channel = tls_channel(&url, root_client).await.unwrap();
    assert_eq!(describe(channel).await.unwrap(), "payment");
}
