//! The answer's JSON schema and the request bodies that ask for it, as a strict `response_format`
//! or as the parameters of a forced `route` tool call.
//!
//! Typed structs rather than `serde_json::Value`: a `Value` object sorts its keys, and servers
//! generate properties in schema order (OpenAI documents it; llama.cpp's grammar follows it), so
//! alphabetical order would make the model write `confidence` and every entity before `intent`.

use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{Choice, RawEntities, StructuredMode};

/// Name of the forced tool and of the `json_schema` response format.
pub(crate) const TOOL_NAME: &str = "route";
/// The intent meaning "none of the choices".
pub(crate) const NONE: &str = "none";
pub(crate) const TOOL_DESCRIPTION: &str =
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
}
