//! One invocation of any kind, JSON in and JSON out: the registry's dry run and `upward plugin run` share it, so an
//! author sees locally exactly what the server would do with the same component, input and limits.

use serde_json::Value;
use wasmtime::component::Component;

use super::connector::{ConnectorInput, ConnectorPlugin};
use super::matcher::{MatcherInput, PluginPolicy};
use super::scorer::{ScorerInput, ScorerPlugin};
use super::{Host, Invocation, Kind, Limits, Network, PluginError, Usage};

/// A kind's input, parsed.
pub enum Input {
    Matcher(MatcherInput),
    Scorer(ScorerInput),
    Connector(ConnectorInput),
}

/// Why an input does not parse as its kind's: the JSON path (`.` for the whole document) and the message.
#[derive(Debug)]
pub struct BadInput {
    pub path: String,
    pub message: String,
}

impl Input {
    pub fn parse(kind: Kind, input: Value) -> Result<Input, BadInput> {
        fn parse<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, BadInput> {
            serde_path_to_error::deserialize::<_, T>(input).map_err(|e| BadInput {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })
        }
        Ok(match kind {
            Kind::Matcher => Input::Matcher(parse(input)?),
            Kind::SurveyScorer => Input::Scorer(parse(input)?),
            Kind::HrisConnector => Input::Connector(parse(input)?),
        })
    }
}

/// Runs `input` through `component` (blocking: call it on the blocking pool). The outer error is a plugin that
/// cannot even be prepared; the inner result is the invocation's own outcome, recorded in the returned invocation.
pub fn invoke(
    host: &Host,
    reference: &str,
    component: &Component,
    input: Input,
    limits: Limits,
    config: String,
    network: Network,
) -> Result<(Result<Value, PluginError>, Invocation), PluginError> {
    fn json<T: serde::Serialize>(r: Result<T, PluginError>) -> Result<Value, PluginError> {
        r.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
    }
    Ok(match input {
        Input::Matcher(input) => {
            let policy = PluginPolicy::new(host, reference, component, limits, config)?;
            let (result, _) = policy.run(&input);
            let invocation = policy.take_invocations().pop().unwrap_or(Invocation {
                usage: Usage::default(),
                failure: None,
            });
            (json(result), invocation)
        }
        Input::Scorer(input) => {
            let (result, invocation) = ScorerPlugin::new(host, component, limits, config)?.run(&input);
            (json(result), invocation)
        }
        Input::Connector(input) => {
            let (result, invocation) = ConnectorPlugin::new(host, component, limits, config, network)?.run(&input);
            (json(result), invocation)
        }
    })
}
