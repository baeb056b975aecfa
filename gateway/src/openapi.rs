//! The OpenAPI 3.1 description of the public API, generated from the handlers and the shapes of
//! [`crate::api`]; served at `GET /openapi.json` and committed as `docs/openapi.json` (a test
//! keeps the two equal: `make openapi` writes it again).

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use std::sync::LazyLock;

use utoipa::OpenApi;

use crate::{api, handlers, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IntentMesh gateway",
        description = "JSON in front of the IntentMesh agents: a request is routed by the root agent and answered by a worker agent (payment, search, ...), now or as a task.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        handlers::process,
        handlers::route,
        tasks::get_task,
        tasks::task_events,
        tasks::cancel_task,
        handlers::health,
        handlers::ready,
        handlers::metrics,
        serve,
    ),
    components(schemas(
        api::ProcessRequest,
        api::Mode,
        api::ProcessAnswer,
        api::Data,
        api::PaymentData,
        api::SearchData,
        api::ProductData,
        api::ClarificationData,
        api::CandidateData,
        api::QueuedData,
        api::RouteSummary,
        api::QueuedAnswer,
        api::TaskLinks,
        api::FinishedAnswer,
        api::RouteAnswer,
        api::EntitiesData,
        api::TaskView,
        api::TaskEventData,
        api::ErrorEnvelope,
        api::ErrorBody,
        api::Health,
        api::Readiness,
    )),
    modifiers(&Credentials),
    // With AUTH_MODE on, every route but the operations ones needs one of these (`{}`: none, as
    // with AUTH_MODE=none).
    security((), ("bearer" = []), ("api_key" = [])),
    tags(
        (name = "requests", description = "Run or route a request"),
        (name = "tasks", description = "Follow and cancel queued work"),
        (name = "operations", description = "Health, readiness, metrics and this description"),
    ),
)]
pub(crate) struct ApiDoc;

/// The two ways to send a credential: `Authorization: Bearer <API key or JWT>`, `X-API-Key`.
struct Credentials;

impl utoipa::Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (AUTH_MODE=api_key) or a JWT from the identity provider (AUTH_MODE=jwt)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The description as pretty JSON, ending in a newline (as committed); made once.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot describe the API: {e}\"}}"));
        text.push('\n');
        text
    });
    &JSON
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()), responses((status = 200, description = "This description", content_type = "application/json", body = Object)))]
pub(crate) async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}
