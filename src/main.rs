//! `intentmesh`: one binary, a subcommand per service. `intentmesh` alone (or `intentmesh dev`)
//! starts the whole mesh in one process with embedded defaults.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use intentmesh_core::{
    config::{ConfigError, ProcessEnv},
    shutdown, telemetry,
};
use intentmesh_tasks::{AsyncConfig, TaskPorts};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod dlq;
mod probe;

// glibc's malloc spends a large share of each request in consolidation under many small,
// short-lived gRPC buffers; mimalloc measured faster for this workload (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EX_USAGE: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "intentmesh",
    version,
    about = "IntentMesh: a gRPC service mesh of agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Everything in one process: gateway :8000, payment :8001, search :8002, root :8003.
    Dev,
    /// The public HTTP gateway (:8000).
    Gateway,
    /// The payment agent (:8001).
    Payment,
    /// The search agent (:8002).
    Search,
    /// The root agent (:8003).
    Root,
    /// Exits 0 when `url` answers 200 (container health checks: the image has no curl).
    Probe {
        /// For example http://127.0.0.1:8001/ready
        url: String,
    },
    /// Prints the OpenAPI 3.1 description of the gateway's public API (as `GET /openapi.json`).
    Openapi,
    /// Dead-lettered tasks on RabbitMQ (`RABBITMQ_URL`): list them, or put them back to work.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// API keys for `AUTH_MODE=api_key` (`AUTH_API_KEYS_FILE`).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum KeysAction {
    /// Makes a random key for `principal` and prints it once (`key: …`; keep it secret, it is
    /// stored nowhere) and the line to add to AUTH_API_KEYS_FILE (`line: …`), which holds only
    /// the key's SHA-256.
    New {
        /// Who the key authenticates: the user id its requests act as.
        principal: String,
        /// Comma-separated scopes: act_as, route_override, admin.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum DlqAction {
    /// Shows the agent's dead-lettered tasks with their reason, oldest first.
    List {
        /// The agent whose queue to read (payment, search, ...).
        agent: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Moves dead-lettered tasks back onto the agent's work queue.
    Replay {
        agent: String,
        /// Only this task (default: all of the agent's dead letters).
        #[arg(long = "task")]
        task: Option<String>,
    },
}

/// Where each service listens: loopback in `dev`, every interface when run alone (containers).
fn default_addr(port: u16, dev: bool) -> SocketAddr {
    let ip = if dev { [127, 0, 0, 1] } else { [0, 0, 0, 0] };
    SocketAddr::from((ip, port))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match telemetry::TelemetryConfig::from_env(&ProcessEnv) {
        Ok(t) => t,
        Err(err) => return config_error(&err),
    };
    let _telemetry = telemetry::init(&telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Dev))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<dlq::Usage>().is_some() => {
            eprintln!("intentmesh: {err:#}");
            ExitCode::from(EX_USAGE)
        }
        Err(err) => match err.downcast_ref::<ConfigError>() {
            Some(config) => config_error(config),
            None => {
                tracing::error!("{err:#}");
                eprintln!("intentmesh: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn config_error(err: &ConfigError) -> ExitCode {
    eprintln!("intentmesh: configuration error: {err}");
    ExitCode::from(EX_USAGE)
}

/// The span every log line of one service carries (`"service": "payment"` in JSON logs).
fn service_span(service: &'static str) -> tracing::Span {
    tracing::info_span!("service", service)
}

async fn bind(addr: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the {service} service"))
}

/// The ports of asynchronous work for one service on its own: RabbitMQ and Redis when both are
/// set, none when neither is.
async fn connect_tasks(config: &AsyncConfig, service: &str) -> anyhow::Result<Option<TaskPorts>> {
    TaskPorts::connect(config, service, false)
        .await
        .context("cannot connect the task queue and store")
}

/// The payment ledger the config names, checked and migrated (failing fast).
async fn open_ledger(
    config: &intentmesh_payment_agent::Config,
) -> anyhow::Result<Arc<dyn intentmesh_payment_agent::Ledger>> {
    let ledger = intentmesh_payment_agent::SqlLedger::connect(&config.database, config.pool_size)
        .await
        .context("cannot open the payment ledger")?;
    Ok(Arc::new(ledger))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let env = ProcessEnv;
    if let Command::Probe { url } = &command {
        return probe::run(url).await;
    }
    if let Command::Openapi = &command {
        use std::io::Write as _;
        std::io::stdout()
            .lock()
            .write_all(intentmesh_gateway::openapi::json().as_bytes())
            .context("cannot write the description")?;
        return Ok(());
    }
    if let Command::Keys {
        action: KeysAction::New { principal, scopes },
    } = &command
    {
        let key =
            intentmesh_gateway::auth::new_key(principal, scopes).map_err(|err| match err {
                intentmesh_gateway::auth::KeysError::Usage(why) => {
                    anyhow::Error::new(dlq::Usage(why))
                }
                other => anyhow::Error::new(other),
            })?;
        println!("key:  {}", key.key);
        println!("line: {}", key.line);
        return Ok(());
    }
    if let Command::Dlq { action } = command {
        return match action {
            DlqAction::List { agent, json } => dlq::list(&env, &agent, json).await,
            DlqAction::Replay { agent, task } => dlq::replay(&env, &agent, task.as_deref()).await,
        };
    }
    let shutdown = shutdown::on_signal();
    let dev = matches!(command, Command::Dev);
    match command {
        Command::Dev => return run_dev(shutdown).await,
        Command::Dlq { .. } | Command::Keys { .. } | Command::Probe { .. } | Command::Openapi => {}
        Command::Gateway => {
            let config = intentmesh_gateway::Config::from_env(&env, default_addr(8000, dev))?;
            let listener = bind(config.server.listen, "gateway").await?;
            let tasks = connect_tasks(&config.tasks, "gateway").await?;
            intentmesh_gateway::serve(config, tasks, listener, shutdown)
                .instrument(service_span("gateway"))
                .await?;
        }
        Command::Payment => {
            let config = intentmesh_payment_agent::Config::from_env(&env, default_addr(8001, dev))?;
            let listener = bind(config.server.listen, "payment").await?;
            let ledger = open_ledger(&config).await?;
            let tasks = connect_tasks(&config.tasks, "payment").await?;
            intentmesh_payment_agent::serve(config, ledger, tasks, listener, shutdown)
                .instrument(service_span("payment"))
                .await?;
        }
        Command::Search => {
            let config = intentmesh_search_agent::Config::from_env(&env, default_addr(8002, dev))?;
            let listener = bind(config.server.listen, "search").await?;
            let catalog = intentmesh_search_agent::open_catalog(&config)
                .await
                .context("cannot open the search catalog")?;
            let tasks = connect_tasks(&config.tasks, "search").await?;
            intentmesh_search_agent::serve(config, catalog, tasks, listener, shutdown)
                .instrument(service_span("search"))
                .await?;
        }
        Command::Root => {
            let config = intentmesh_root_agent::Config::from_env(&env, default_addr(8003, dev))?;
            let listener = bind(config.server.listen, "root").await?;
            let tasks = connect_tasks(&config.tasks, "root").await?;
            intentmesh_root_agent::serve(config, tasks, listener, shutdown)
                .instrument(service_span("root"))
                .await?;
        }
    }
    Ok(())
}

/// The whole mesh in one process. Listeners are bound first, so the root learns the workers'
/// real addresses and the gateway the root's (any of them may be port 0 in tests).
async fn run_dev(shutdown: CancellationToken) -> anyhow::Result<()> {
    let env = ProcessEnv;
    let payment = intentmesh_payment_agent::Config::from_env(&env, default_addr(8001, true))?;
    let search = intentmesh_search_agent::Config::from_env(&env, default_addr(8002, true))?;
    let mut root = intentmesh_root_agent::Config::from_env(&env, default_addr(8003, true))?;
    let mut gateway = intentmesh_gateway::Config::from_env(&env, default_addr(8000, true))?;

    // One process serves four services: each needs an admin port of its own.
    let admins = [
        ("GATEWAY", gateway.server.admin),
        ("PAYMENT", payment.server.admin),
        ("SEARCH", search.server.admin),
        ("ROOT", root.server.admin),
    ];
    for (i, (service, addr)) in admins.iter().enumerate() {
        if let Some(addr) = addr
            && addr.port() != 0
            && admins[..i].iter().any(|(_, other)| *other == Some(*addr))
        {
            return Err(ConfigError::new(
                intentmesh_core::config::ADMIN_LISTEN_ADDR,
                &addr.to_string(),
                format!(
                    "`dev` runs four services in one process: give each its own with {service}_ADMIN_LISTEN_ADDR and the like"
                ),
            )
            .into());
        }
    }
    let payment_listener = bind(payment.server.listen, "payment").await?;
    let search_listener = bind(search.server.listen, "search").await?;
    let root_listener = bind(root.server.listen, "root").await?;
    let gateway_listener = bind(gateway.server.listen, "gateway").await?;
    let url = |l: &TcpListener| l.local_addr().map(|a| format!("http://{a}"));
    let (payment_url, search_url) = (url(&payment_listener)?, url(&search_listener)?);
    let (root_url, gateway_url) = (url(&root_listener)?, url(&gateway_listener)?);

    // Unless AGENT_URLS / ROOT_AGENT_URL say otherwise, the services find each other where they
    // were just bound.
    if root.workers.is_none() {
        root.workers = Some(
            intentmesh_root_agent::parse_workers(&format!(
                "payment={payment_url},search={search_url}"
            ))
            .map_err(anyhow::Error::msg)?,
        );
    }
    if gateway.root_url.is_none() {
        gateway.root_url = Some(root_url.clone());
    }

    // One set of task ports for the whole process: in memory unless RABBITMQ_URL / REDIS_URL say
    // otherwise (a set URL that cannot be reached fails here, never falls back). Every service
    // read the same settings; the payment agent's are used.
    let async_config = payment.tasks.clone();
    let tasks = TaskPorts::connect(&async_config, "intentmesh-dev", true)
        .await
        .context("cannot connect the task queue and store")?;
    let backends = format!(
        "{} broker, {} task store",
        if async_config.amqp.is_some() {
            "RabbitMQ"
        } else {
            "in-memory"
        },
        if async_config.redis.is_some() {
            "Redis"
        } else {
            "in-memory"
        },
    );

    // Open the stores before announcing anything: a bad DATABASE_URL fails here, loudly.
    let ledger = open_ledger(&payment).await?;
    let catalog = intentmesh_search_agent::open_catalog(&search)
        .await
        .context("cannot open the search catalog")?;

    let (payment_tasks, search_tasks, root_tasks, gateway_tasks) =
        (tasks.clone(), tasks.clone(), tasks.clone(), tasks);
    let mut services = JoinSet::new();
    let token = shutdown.clone();
    services.spawn(async move {
        intentmesh_payment_agent::serve(payment, ledger, payment_tasks, payment_listener, token)
            .instrument(service_span("payment"))
            .await
            .context("payment agent")
    });
    let token = shutdown.clone();
    services.spawn(async move {
        intentmesh_search_agent::serve(search, catalog, search_tasks, search_listener, token)
            .instrument(service_span("search"))
            .await
            .context("search agent")
    });
    let token = shutdown.clone();
    services.spawn(async move {
        intentmesh_root_agent::serve(root, root_tasks, root_listener, token)
            .instrument(service_span("root"))
            .await
            .context("root agent")
    });
    let token = shutdown.clone();
    services.spawn(async move {
        intentmesh_gateway::serve(gateway, gateway_tasks, gateway_listener, token)
            .instrument(service_span("gateway"))
            .await
            .context("gateway")
    });

    let banner = format!(
        "\nIntentMesh is running ({backends}; SQLite ledger and catalog unless DATABASE_URL is set).\n\
         \n  gateway  {gateway_url}   POST /process, POST /route, GET /tasks/{{id}}, GET /health\
         \n  payment  {payment_url}   gRPC + GET /health, /metrics\
         \n  search   {search_url}   gRPC + GET /health, /metrics\
         \n  root     {root_url}   gRPC + GET /health, /metrics\n\
         \nTry:\n  curl -s {gateway_url}/process -H 'Content-Type: application/json' \\\n    \
         -d '{{\"message\": \"I want to pay $100 for order #12345\", \"user_id\": \"user-123\", \"context\": {{\"order_id\": \"12345\", \"currency\": \"USD\"}}}}'\n\
         \nPress Ctrl-C to stop.\n"
    );
    // A closed stdout (a pipe whose reader left) must not stop the mesh: ignore write errors.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }

    // The first service to stop (with an error, or at shutdown) stops the rest.
    let mut first_error = None;
    while let Some(joined) = services.join_next().await {
        let outcome = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(err) = outcome {
            tracing::error!("{err:#}");
            first_error.get_or_insert(err);
        }
        shutdown.cancel();
    }
    first_error.map_or(Ok(()), Err)
}
