//! `intentmesh dlq list|replay`: operating an agent's dead-letter queue on RabbitMQ.

use std::{
    io::Write as _,
    time::{Duration, UNIX_EPOCH},
};

use anyhow::Context;
use intentmesh_core::config::Env;
use intentmesh_tasks::{
    RetryPolicy, TaskId,
    adapters::amqp::{self, AmqpConfig},
    ports::Broker,
};

/// A command that cannot run as asked (exit 64).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Usage(pub(crate) String);

async fn broker(env: &impl Env) -> anyhow::Result<amqp::AmqpBroker> {
    let retry = RetryPolicy::from_env(env)?;
    let Some(mut config) = AmqpConfig::from_env(env, retry)? else {
        return Err(Usage(
            "dlq needs RABBITMQ_URL: dead letters live in RabbitMQ (the embedded broker of `intentmesh dev` keeps them in that process only)"
                .to_owned(),
        )
        .into());
    };
    if config.url.starts_with("amqps://") {
        config.ca_pem = intentmesh_core::config::tls::ca_pem_from_env(env)?;
    }
    let (broker, _) = amqp::connect(&config, "intentmesh-dlq")
        .await
        .context("cannot reach RabbitMQ")?;
    Ok(broker)
}

fn check_agent(agent: &str) -> anyhow::Result<()> {
    if agent.is_empty()
        || !agent
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(Usage(format!("{agent:?} is not an agent name")).into());
    }
    Ok(())
}

fn when(ms: i64) -> String {
    u64::try_from(ms).ok().filter(|ms| *ms > 0).map_or_else(
        || "-".to_owned(),
        |ms| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
    )
}

pub(crate) async fn list(env: &impl Env, agent: &str, json: bool) -> anyhow::Result<()> {
    check_agent(agent)?;
    let letters = broker(env).await?.dead_letters(agent).await?;
    let mut out = std::io::stdout().lock();
    if json {
        for l in &letters {
            let line = serde_json::json!({
                "task_id": l.task_id,
                "agent": l.agent,
                "reason": l.reason,
                "attempts": l.attempts,
                "history": l.history,
                "dead_lettered_at": when(l.at),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "no dead letters for {agent}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<37} {:>8}  {:<20}  REASON",
        "TASK", "ATTEMPTS", "DEAD-LETTERED"
    )?;
    for l in &letters {
        writeln!(
            out,
            "{:<37} {:>8}  {:<20}  {}",
            l.task_id,
            l.attempts,
            when(l.at),
            l.reason
        )?;
    }
    writeln!(
        out,
        "{} dead letter(s); `intentmesh dlq replay {agent}` puts them back to work",
        letters.len()
    )?;
    Ok(())
}

pub(crate) async fn replay(env: &impl Env, agent: &str, task: Option<&str>) -> anyhow::Result<()> {
    check_agent(agent)?;
    if let Some(task) = task
        && TaskId::parse(task).is_none()
    {
        return Err(Usage(format!("{task:?} is not a task id (task_<32 hex digits>)")).into());
    }
    let moved = broker(env).await?.replay(agent, task).await?;
    let mut out = std::io::stdout().lock();
    for l in &moved {
        writeln!(out, "replayed {} ({})", l.task_id, l.reason)?;
    }
    writeln!(
        out,
        "{} task(s) back on the {agent} work queue",
        moved.len()
    )?;
    if moved.is_empty() && task.is_some() {
        return Err(anyhow::anyhow!("no dead letter for that task"));
    }
    Ok(())
}
