//! The baselines `make bench` compares IntentMesh against, measured in the same run:
//! a minimal axum gateway (`POST /process`, JSON in and out) calling a minimal tonic worker over
//! one pooled HTTP/2 channel. For a search the worker answers at once; for a payment it inserts
//! one row into a SQLite table with the ledger's own durability settings (WAL, synchronous=FULL,
//! one writer), so the comparison isolates what IntentMesh adds. With `--middle`, a third hop
//! sits between them, a tonic server that passes each call on and does nothing else: the bare
//! axum → tonic → tonic chain of the mesh's shape (gateway → root → worker).

use std::{net::SocketAddr, str::FromStr};

use anyhow::Context;
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use clap::Parser;
use intentmesh_proto::pb::{
    self,
    agent_client::AgentClient,
    agent_server::{Agent, AgentServer},
};
use serde_json::{Value, json};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use tonic::{Request, Response, Status, transport::Channel};

// glibc's malloc spends a large share of each request in consolidation under many small,
// short-lived gRPC buffers; mimalloc measured faster for this workload (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// Where the baseline gateway listens.
    #[arg(long, default_value = "127.0.0.1:18100")]
    gateway: SocketAddr,
    /// Where the baseline worker listens.
    #[arg(long, default_value = "127.0.0.1:18101")]
    worker: SocketAddr,
    /// Where a middle hop listens, if any (the three-hop chain).
    #[arg(long)]
    middle: Option<SocketAddr>,
    /// The SQLite file the payment baseline writes to.
    #[arg(long)]
    db: std::path::PathBuf,
}

#[derive(Debug, Clone)]
struct Worker {
    pool: SqlitePool,
}

#[tonic::async_trait]
impl Agent for Worker {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        let req = request.into_inner();
        if req.skill != "pay" {
            return Ok(Response::new(pb::ProcessResponse {
                agent: "search".into(),
                skill: "search".into(),
                route: None,
                result: Some(pb::process_response::Result::Search(
                    pb::SearchResult::default(),
                )),
            }));
        }
        let id = format!("txn_{}", uuid::Uuid::new_v4().simple());
        sqlx::query("INSERT INTO payments (transaction_id, user_id, order_id, amount_minor, currency) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(&req.user_id)
            .bind(&req.request_id)
            .bind(10_000_i64)
            .bind("USD")
            .execute(&self.pool)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::ProcessResponse {
            agent: "payment".into(),
            skill: "pay".into(),
            route: None,
            result: Some(pb::process_response::Result::Payment(pb::PaymentResult {
                transaction_id: id,
                amount: Some(pb::Money {
                    currency_code: "USD".into(),
                    units: 100,
                    nanos: 0,
                }),
                status: pb::PaymentStatus::Completed as i32,
                ..Default::default()
            })),
        }))
    }

    async fn describe(
        &self,
        _: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(pb::AgentCard::default()))
    }
}

/// The middle hop: passes each call on to the worker.
#[derive(Debug, Clone)]
struct Middle {
    next: AgentClient<Channel>,
}

#[tonic::async_trait]
impl Agent for Middle {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        self.next.clone().process(request.into_inner()).await
    }

    async fn describe(
        &self,
        _: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(pb::AgentCard::default()))
    }
}

/// Serves one agent on `listener` until the process ends.
async fn serve_grpc<A: Agent>(
    listener: tokio::net::TcpListener,
    service: AgentServer<A>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_lazy(),
    )
}

async fn process(
    State(client): State<AgentClient<Channel>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let message = body["message"].as_str().unwrap_or_default();
    let skill = if message.to_lowercase().contains("pay") {
        "pay"
    } else {
        "search"
    };
    let request = pb::ProcessRequest {
        request_id: format!("req-{}", uuid::Uuid::now_v7().simple()),
        message: message.to_owned(),
        user_id: body["user_id"].as_str().unwrap_or_default().to_owned(),
        skill: skill.to_owned(),
        ..Default::default()
    };
    match client.clone().process(request).await {
        Ok(r) => (
            StatusCode::OK,
            Json(json!({"status": "success", "agent": r.get_ref().agent})),
        ),
        Err(s) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"status": "error", "message": s.message()})),
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", args.db.display()))?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, intentmesh_payment_agent::SQLITE_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("open the baseline SQLite file")?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS payments (transaction_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
         order_id TEXT UNIQUE, amount_minor BIGINT NOT NULL, currency TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;

    let worker = tokio::net::TcpListener::bind(args.worker).await?;
    let gateway = tokio::net::TcpListener::bind(args.gateway).await?;
    let worker_service = AgentServer::new(Worker { pool });
    let worker_task = tokio::spawn(serve_grpc(worker, worker_service));
    let first_hop = match args.middle {
        None => args.worker,
        Some(addr) => {
            let middle = tokio::net::TcpListener::bind(addr).await?;
            let service = AgentServer::new(Middle {
                next: AgentClient::new(channel(args.worker)?),
            });
            tokio::spawn(serve_grpc(middle, service));
            addr
        }
    };
    let app = Router::new()
        .route("/process", post(process))
        .route("/health", axum::routing::get(|| async { "ok" }))
        .with_state(AgentClient::new(channel(first_hop)?));
    println!(
        "baseline gateway http://{} → {}worker http://{}",
        args.gateway,
        args.middle
            .map(|m| format!("middle http://{m} → "))
            .unwrap_or_default(),
        args.worker
    );
    tokio::select! {
        r = axum::serve(gateway, app) => r?,
        r = worker_task => r??,
    }
    Ok(())
}
