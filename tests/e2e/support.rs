//! The whole mesh on real ports (127.0.0.1:0), in this process, for end-to-end tests.

use std::{collections::HashMap, sync::Arc, time::Duration};

use intentmesh_core::config::DatabaseUrl;
use intentmesh_payment_agent::{Ledger, SqlLedger};
use intentmesh_tasks::{AsyncConfig, TaskPorts};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

pub(crate) struct Mesh {
    pub(crate) gateway: String,
    pub(crate) payment: String,
    pub(crate) root: String,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) tasks: Option<TaskPorts>,
    pub(crate) http: reqwest::Client,
    shutdown: CancellationToken,
    payment_agent: std::sync::Mutex<Option<PaymentAgent>>,
    _tasks: JoinSet<()>,
    _dir: tempfile::TempDir,
}

/// The payment agent's own stop switch and what restarting it needs.
struct PaymentAgent {
    stop: CancellationToken,
    done: Option<tokio::task::JoinHandle<()>>,
    config: intentmesh_payment_agent::Config,
    addr: std::net::SocketAddr,
    tasks: Option<TaskPorts>,
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("http://{}", l.local_addr().expect("local addr"));
    (l, url)
}

/// Which task ports each service gets.
pub(crate) struct Async {
    /// For the root and the gateway (queuing and the task API).
    pub(crate) front: Option<TaskPorts>,
    /// For the workers (consuming); `None` leaves queued work waiting.
    pub(crate) workers: Option<TaskPorts>,
}

impl Async {
    pub(crate) fn all(ports: Option<TaskPorts>) -> Self {
        Self {
            front: ports.clone(),
            workers: ports,
        }
    }
}

impl Mesh {
    /// The mesh as `make run` starts it: in-memory broker, task store and event log.
    pub(crate) async fn start() -> Self {
        Self::start_with(Async::all(Some(
            TaskPorts::memory(&AsyncConfig::embedded()),
        )))
        .await
    }

    /// Starts payment, search, root and gateway with the given task ports, and waits until the
    /// gateway is ready.
    pub(crate) async fn start_with(ports: Async) -> Self {
        Self::start_custom(ports, &[]).await
    }

    /// As [`Mesh::start_with`], with extra settings for every service.
    pub(crate) async fn start_custom(ports: Async, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (payment_l, payment) = listener().await;
        let (search_l, search) = listener().await;
        let (root_l, root) = listener().await;
        let (gateway_l, gateway) = listener().await;
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let agent_urls = format!("payment={payment},search={search}");
        // Where the machine keeps the embedding model (`make embedding-model`), as a service
        // started here would see it.
        let machine: Vec<(&str, String)> = ["EMBEDDING_MODEL_DIR", "XDG_CACHE_HOME", "HOME"]
            .into_iter()
            .filter_map(|name| {
                intentmesh_core::config::Env::get(&intentmesh_core::config::ProcessEnv, name)
                    .map(|value| (name, value))
            })
            .collect();
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("AGENT_URLS", agent_urls.as_str()),
            ("ROOT_AGENT_URL", root.as_str()),
            ("SHUTDOWN_GRACE_SECS", "2"),
        ]);
        env.extend(machine.iter().map(|(name, value)| (*name, value.as_str())));
        env.extend(settings.iter().copied());

        let mut payment_cfg =
            intentmesh_payment_agent::Config::from_env(&env, any).expect("payment config");
        payment_cfg.database = DatabaseUrl::Sqlite(format!(
            "sqlite://{}/ledger.sqlite?mode=rwc",
            dir.path().display()
        ));
        let ledger: Arc<dyn Ledger> = Arc::new(
            SqlLedger::connect(&payment_cfg.database, 1)
                .await
                .expect("ledger opens"),
        );
        let search_cfg =
            intentmesh_search_agent::Config::from_env(&env, any).expect("search config");
        let catalog = intentmesh_search_agent::open_catalog(&search_cfg)
            .await
            .expect("catalog opens");
        let root_cfg = intentmesh_root_agent::Config::from_env(&env, any).expect("root config");
        let gateway_cfg = intentmesh_gateway::Config::from_env(&env, any).expect("gateway config");

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let payment_addr = payment_l.local_addr().expect("payment address");
        let payment_agent = PaymentAgent::spawn(
            payment_cfg,
            Arc::clone(&ledger),
            ports.workers.clone(),
            payment_l,
            shutdown.child_token(),
        );
        let (t, p) = (shutdown.clone(), ports.workers.clone());
        tasks.spawn(async move {
            intentmesh_search_agent::serve(search_cfg, catalog, p, search_l, t)
                .await
                .expect("search serves");
        });
        let (t, p) = (shutdown.clone(), ports.front.clone());
        tasks.spawn(async move {
            intentmesh_root_agent::serve(root_cfg, p, root_l, t)
                .await
                .expect("root serves")
        });
        let (t, p) = (shutdown.clone(), ports.front.clone());
        tasks.spawn(async move {
            intentmesh_gateway::serve(gateway_cfg, p, gateway_l, t)
                .await
                .expect("gateway serves")
        });

        let mesh = Self {
            gateway,
            payment,
            root,
            ledger,
            tasks: ports.front,
            http: reqwest::Client::new(),
            payment_agent: std::sync::Mutex::new(Some(PaymentAgent {
                addr: payment_addr,
                ..payment_agent
            })),
            shutdown,
            _tasks: tasks,
            _dir: dir,
        };
        mesh.wait_ready().await;
        mesh
    }

    /// Stops the payment agent (as a crash or a rollout would): it drains and its port closes.
    pub(crate) async fn stop_payment(&self) {
        let mut agent = self
            .payment_agent
            .lock()
            .unwrap()
            .take()
            .expect("the payment agent runs");
        agent.stop.cancel();
        if let Some(done) = agent.done.take() {
            done.await.expect("the payment agent stopped cleanly");
        }
        *self.payment_agent.lock().unwrap() = Some(agent);
    }

    /// Starts the payment agent again on the same address.
    pub(crate) async fn restart_payment(&self) {
        let old = self
            .payment_agent
            .lock()
            .unwrap()
            .take()
            .expect("the payment agent was stopped");
        let listener = TcpListener::bind(old.addr)
            .await
            .expect("rebind the payment port");
        let agent = PaymentAgent::spawn(
            old.config.clone(),
            Arc::clone(&self.ledger),
            old.tasks.clone(),
            listener,
            self.shutdown.child_token(),
        );
        *self.payment_agent.lock().unwrap() = Some(PaymentAgent {
            addr: old.addr,
            ..agent
        });
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let root_ready = self.get(&format!("{}/ready", self.root)).await.0 == StatusCode::OK;
            let gw_ready = self.get(&format!("{}/ready", self.gateway)).await.0 == StatusCode::OK;
            if root_ready && gw_ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the mesh did not become ready in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn get(&self, url: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        (r.status(), r.text().await.unwrap_or_default())
    }

    /// POSTs JSON to the gateway; returns status, parsed body and headers.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.post_with(path, body, &[]).await
    }

    pub(crate) async fn post_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.post(format!("{}{path}", self.gateway)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::parse(
            req.send()
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
        .await
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let req = self
            .http
            .post(format!("{}{path}", self.gateway))
            .header("content-type", content_type)
            .body(body);
        Self::parse(
            req.send()
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
        .await
    }

    /// GETs a gateway path; returns status and parsed body.
    pub(crate) async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, text) = self.get(&format!("{}{path}", self.gateway)).await;
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, body)
    }

    /// Polls `GET /tasks/{id}` until the task finishes (10 s at most); returns its JSON.
    pub(crate) async fn finished_task(&self, task_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get_json(&format!("/tasks/{task_id}")).await;
            assert_eq!(status, 200, "{body}");
            if ["success", "failed", "canceled"]
                .contains(&body["status"].as_str().unwrap_or_default())
            {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task still {}: {body}",
                body["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn parse(r: reqwest::Response) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, body, headers)
    }
}

impl PaymentAgent {
    fn spawn(
        config: intentmesh_payment_agent::Config,
        ledger: Arc<dyn Ledger>,
        tasks: Option<TaskPorts>,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> Self {
        let addr = listener.local_addr().expect("payment address");
        let (c, t, s) = (config.clone(), tasks.clone(), stop.clone());
        let done = tokio::spawn(async move {
            intentmesh_payment_agent::serve(c, ledger, t, listener, s)
                .await
                .expect("payment serves");
        });
        Self {
            stop,
            done: Some(done),
            config,
            addr,
            tasks,
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
