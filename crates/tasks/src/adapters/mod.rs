//! Adapters, named for their technology: memory (embedded `make run`), RabbitMQ via lapin, Redis
//! via fred.

pub mod amqp;
pub mod memory;
pub mod redis;
