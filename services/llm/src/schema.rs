//! The answer's JSON schema and the request bodies that ask for it, as a strict `response_format`
//! or as the parameters of a forced `route` tool call.
//!
//! Typed structs rather than `serde_json::Value`: a `Value` object sorts its keys, and servers
//! generate properties in schema order (OpenAI documents it; llama.cpp's grammar follows it), so
//! alphabetical order would make the model write `confidence` and every entity before `intent`.

use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{Choice, RawEntities, StructuredMode, prompt::Prompt};

/// Name of the forced tool and of the `json_schema` response format.
pub(crate) const TOOL_NAME: &str = "route";
/// The intent meaning "none of the choices".
pub(crate) const NONE: &str = "none";
const TOOL_DESCRIPTION: &str =
    "Route the user's message to one intent, with the entities it states.";

/// One structured-output request shape (what `StructuredMode::Auto` chooses between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    JsonSchema,
    Tools,
}

impl Wire {
    pub(crate) fn mode(self) -> StructuredMode {
        match self {
            Self::JsonSchema => StructuredMode::JsonSchema,
            Self::Tools => StructuredMode::Tools,
        }
    }
}

/// Choice ids (first spelling of each, case-insensitively) followed by "none".
pub(crate) fn intent_enum(choices: &[Choice]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(choices.len() + 1);
    for id in choices
        .iter()
        .map(|c| c.id.trim())
        .chain(std::iter::once(NONE))
    {
        if !id.is_empty() && !ids.iter().any(|seen| seen.eq_ignore_ascii_case(id)) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// `{"type": "object", …}` with this `properties`, all of them required, no others (what OpenAI's
/// strict mode demands).
#[derive(Debug, Clone, Serialize)]
struct Object<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: P,
    required: &'static [&'static str],
    #[serde(rename = "additionalProperties")]
    additional_properties: bool,
}

impl<P> Object<P> {
    fn strict(properties: P, required: &'static [&'static str]) -> Self {
        Self {
            kind: "object",
            properties,
            required,
            additional_properties: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Typed<T> {
    #[serde(rename = "type")]
    kind: T,
}

#[derive(Debug, Clone, Serialize)]
struct Enum {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "enum")]
    values: Vec<String>,
}

/// Field order here is the order the model writes them in.
#[derive(Debug, Clone, Serialize)]
struct RouteProperties {
    intent: Enum,
    confidence: Typed<&'static str>,
    entities: Object<EntityProperties>,
}

/// Every key of [`RawEntities::KEYS`], in that order, as a nullable string.
#[derive(Debug, Clone, Copy)]
struct EntityProperties;

impl Serialize for EntityProperties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(RawEntities::KEYS.len()))?;
        for key in RawEntities::KEYS {
            map.serialize_entry(
                key,
                &Typed {
                    kind: ["string", "null"],
                },
            )?;
        }
        map.end()
    }
}

/// The schema of an answer for these choices.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub(crate) struct RouteSchema(Object<RouteProperties>);

pub(crate) fn route_schema(choices: &[Choice]) -> RouteSchema {
    RouteSchema(Object::strict(
        RouteProperties {
            intent: Enum {
                kind: "string",
                values: intent_enum(choices),
            },
            confidence: Typed { kind: "number" },
            entities: Object::strict(EntityProperties, &RawEntities::KEYS),
        },
        &["intent", "confidence", "entities"],
    ))
}

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

    #[test]
    fn enum_lists_choices_once_then_none() {
        let choices = [
            Choice::new("payment.pay", ""),
            Choice::new("Payment.Pay", ""),
            Choice::new("search.products", ""),
            Choice::new("none", ""),
        ];
        assert_eq!(
            intent_enum(&choices),
            ["payment.pay", "search.products", "none"]
        );
    }

    #[test]
    fn schema_is_strict_and_ordered() {
        let schema = route_schema(&[Choice::new("payment.pay", "")]);
        let text = serde_json::to_string(&schema).unwrap();
        let at = |needle: &str| text.find(needle).unwrap();
        assert!(
            at("\"intent\"") < at("\"confidence\"") && at("\"confidence\"") < at("\"entities\"")
        );
        assert!(at("\"amount\"") < at("\"currency\"") && at("\"min_price\"") < at("\"max_price\""));

        let schema = serde_json::to_value(&schema).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["required"],
            json!(["intent", "confidence", "entities"])
        );
        let entities = &schema["properties"]["entities"];
        assert_eq!(entities["additionalProperties"], false);
        assert_eq!(entities["required"], json!(RawEntities::KEYS));
        assert_eq!(
            entities["properties"]["order_id"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            schema["properties"]["intent"],
            json!({"type": "string", "enum": ["payment.pay", "none"]})
        );
        assert_eq!(
            schema["properties"]["confidence"],
            json!({"type": "number"})
        );
    }

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
