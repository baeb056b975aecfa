//! The Chat Completions request: the prompt's two turns and the route schema, in the shape the
//! server takes it (`response_format` or a forced tool call).

use serde::Serialize;

use crate::{
    prompt::Prompt,
    schema::{RouteSchema, TOOL_DESCRIPTION, TOOL_NAME, Wire},
};

/// The Chat Completions body: deterministic (`temperature: 0`), bounded (`max_tokens`), not
/// streamed, with the schema in the shape `wire` asks for.
#[derive(Debug, Serialize)]
pub(crate) struct RequestBody<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    temperature: u8,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[Tool<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Tool<'a>>,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: Function<'a>,
}

/// A tool (`{"type": "function", "function": …}`); in `tool_choice` only its name is set.
#[derive(Debug, Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

/// The named schema: of the `json_schema` format (`schema`) or of the tool (`parameters`).
#[derive(Debug, Serialize)]
struct Function<'a> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a RouteSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RouteSchema>,
}

impl<'a> RequestBody<'a> {
    pub(crate) fn new(
        model: &'a str,
        max_tokens: u32,
        prompt: &'a Prompt,
        schema: &'a RouteSchema,
        wire: Wire,
    ) -> Self {
        let named = |schema, parameters, description| Function {
            name: TOOL_NAME,
            description,
            strict: Some(true),
            schema,
            parameters,
        };
        let mut body = Self {
            model,
            messages: [
                Message {
                    role: "system",
                    content: &prompt.system,
                },
                Message {
                    role: "user",
                    content: &prompt.user,
                },
            ],
            temperature: 0,
            max_tokens,
            stream: false,
            response_format: None,
            tools: None,
            tool_choice: None,
        };
        match wire {
            Wire::JsonSchema => {
                body.response_format = Some(ResponseFormat {
                    kind: "json_schema",
                    json_schema: named(Some(schema), None, None),
                });
            }
            Wire::Tools => {
                body.tools = Some([Tool {
                    kind: "function",
                    function: named(None, Some(schema), Some(TOOL_DESCRIPTION)),
                }]);
                body.tool_choice = Some(Tool {
                    kind: "function",
                    function: Function {
                        name: TOOL_NAME,
                        description: None,
                        strict: None,
                        schema: None,
                        parameters: None,
                    },
                });
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::schema::route_schema;

    #[test]
    fn bodies_carry_one_structured_shape() {
        let prompt = Prompt {
            system: "s".into(),
            user: "u".into(),
            estimated_tokens: 1,
        };
        let schema = route_schema(&[]);
        let body =
            |wire| serde_json::to_value(RequestBody::new("m", 50, &prompt, &schema, wire)).unwrap();
        let schema = serde_json::to_value(&schema).unwrap();

        let json_schema = body(Wire::JsonSchema);
        assert_eq!(
            json_schema["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "route", "strict": true, "schema": schema}})
        );
        assert!(json_schema.get("tools").is_none() && json_schema.get("tool_choice").is_none());
        assert_eq!(json_schema["max_tokens"], 50);
        assert_eq!(json_schema["temperature"], 0);
        assert_eq!(json_schema["stream"], false);
        assert_eq!(
            json_schema["messages"],
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        );

        let tools = body(Wire::Tools);
        assert!(tools.get("response_format").is_none());
        assert_eq!(
            tools["tool_choice"],
            json!({"type": "function", "function": {"name": "route"}})
        );
        assert_eq!(tools["tools"][0]["type"], "function");
        assert_eq!(tools["tools"][0]["function"]["parameters"], schema);
        assert_eq!(tools["tools"][0]["function"]["strict"], true);
        assert!(tools["tools"][0]["function"].get("schema").is_none());
        assert_eq!(tools["model"], Value::from("m"));
    }
}
