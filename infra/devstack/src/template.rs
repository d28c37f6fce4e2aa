//! Reads `template.yaml`: the one source of truth for the local stack's
//! tables, bucket, key, secret, routes and each function's environment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_yaml::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
    #[error("template.yaml: cannot resolve {what}: {why}")]
    Unresolved { what: String, why: String },
}

fn shape(msg: impl Into<String>) -> TemplateError {
    TemplateError::Shape(msg.into())
}

/// One `Resources` entry.
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub kind: String,
    pub properties: Value,
}

/// A route of the HTTP API and the function serving it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// Globals' variables merged with the function's own, unresolved.
    pub environment: BTreeMap<String, Value>,
    pub events: Vec<(String, String, Value)>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, Option<String>>,
    pub resources: Vec<Resource>,
    pub functions: Vec<Function>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The repository's own template.
    pub fn repo() -> Result<Self, TemplateError> {
        Self::load(&crate::repo_root().join("template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_yaml::from_str(text)?;
        let parameters = mapping(&doc, "Parameters")
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar(v.get("Default")?))))
                    .collect()
            })
            .unwrap_or_default();
        let global_env = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let resources_map = mapping(&doc, "Resources").ok_or_else(|| shape("no Resources"))?;
        let mut resources = Vec::new();
        let mut functions = Vec::new();
        for (id, body) in resources_map {
            let logical_id = id
                .as_str()
                .ok_or_else(|| shape("non-string resource id"))?
                .to_owned();
            let kind = body
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| shape(format!("{logical_id} has no Type")))?
                .to_owned();
            let properties = body.get("Properties").cloned().unwrap_or(Value::Null);
            if kind == "AWS::Serverless::Function" {
                let binary = body
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        shape(format!(
                            "{logical_id} has no Metadata.BuildProperties.Binary"
                        ))
                    })?
                    .to_owned();
                let mut environment = BTreeMap::new();
                let own = properties
                    .get("Environment")
                    .and_then(|e| e.get("Variables"))
                    .and_then(Value::as_mapping);
                for (k, v) in global_env.iter().chain(own.into_iter().flatten()) {
                    if let Some(k) = k.as_str() {
                        environment.insert(k.to_owned(), v.clone());
                    }
                }
                let events = properties
                    .get("Events")
                    .and_then(Value::as_mapping)
                    .map(|events| {
                        events
                            .iter()
                            .filter_map(|(name, e)| {
                                Some((
                                    name.as_str()?.to_owned(),
                                    e.get("Type")?.as_str()?.to_owned(),
                                    e.get("Properties").cloned().unwrap_or(Value::Null),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                functions.push(Function {
                    logical_id: logical_id.clone(),
                    binary,
                    environment,
                    events,
                });
            }
            resources.push(Resource {
                logical_id,
                kind,
                properties,
            });
        }
        Ok(Self {
            parameters,
            resources,
            functions,
        })
    }

    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    pub fn function_by_binary(&self, binary: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.binary == binary)
    }

    /// Every `HttpApi` route, sorted.
    pub fn routes(&self) -> Vec<Route> {
        let mut routes: Vec<Route> = self
            .functions
            .iter()
            .flat_map(|f| {
                f.events
                    .iter()
                    .filter(|(_, kind, _)| kind == "HttpApi")
                    .filter_map(|(_, _, props)| {
                        Some(Route {
                            method: props.get("Method")?.as_str()?.to_ascii_uppercase(),
                            path: props.get("Path")?.as_str()?.to_owned(),
                            function: f.binary.clone(),
                        })
                    })
            })
            .collect();
        routes.sort();
        routes
    }
}

fn mapping<'a>(doc: &'a Value, key: &str) -> Option<&'a serde_yaml::Mapping> {
    doc.get(key).and_then(Value::as_mapping)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a resource resolves to: `Ref` and its `GetAtt` attributes.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

/// Resolves the intrinsic functions the template uses in values the local
/// stack needs (`Ref`, `GetAtt`, `Sub`, in short and long form).
#[derive(Debug, Clone)]
pub struct Resolver {
    pub pseudo: HashMap<&'static str, String>,
    pub parameters: BTreeMap<String, Option<String>>,
    pub physical: HashMap<String, Physical>,
}

impl Resolver {
    pub fn new(
        stack_name: &str,
        region: &str,
        account_id: &str,
        parameters: BTreeMap<String, Option<String>>,
    ) -> Self {
        let pseudo = HashMap::from([
            ("AWS::StackName", stack_name.to_owned()),
            ("AWS::Region", region.to_owned()),
            ("AWS::AccountId", account_id.to_owned()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::URLSuffix", "amazonaws.com".to_owned()),
        ]);
        Self {
            pseudo,
            parameters,
            physical: HashMap::new(),
        }
    }

    fn unresolved(what: impl Into<String>, why: impl Into<String>) -> TemplateError {
        TemplateError::Unresolved {
            what: what.into(),
            why: why.into(),
        }
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        if let Some(v) = self.pseudo.get(name) {
            return Ok(v.clone());
        }
        if let Some(param) = self.parameters.get(name) {
            return param
                .clone()
                .ok_or_else(|| Self::unresolved(format!("Ref {name}"), "parameter has no value"));
        }
        self.physical
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| {
                Self::unresolved(format!("Ref {name}"), "no such parameter or local resource")
            })
    }

    fn attribute(&self, target: &str) -> Result<String, TemplateError> {
        let (id, attr) = target.split_once('.').ok_or_else(|| {
            Self::unresolved(format!("GetAtt {target}"), "expected Resource.Attribute")
        })?;
        self.physical
            .get(id)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| {
                Self::unresolved(
                    format!("GetAtt {target}"),
                    "no such local resource attribute",
                )
            })
    }

    fn sub(&self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| Self::unresolved(format!("Sub {text}"), "unclosed ${"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if name.contains('.') && !name.starts_with("AWS::") {
                out.push_str(&self.attribute(name)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A template value as the string CloudFormation would produce.
    pub fn resolve(&self, value: &Value) -> Result<String, TemplateError> {
        match value {
            Value::Tagged(tagged) => {
                let arg = tagged.value.as_str();
                match (tagged.tag.to_string().trim_start_matches('!'), arg) {
                    ("Ref", Some(name)) => self.reference(name),
                    ("GetAtt", Some(target)) => self.attribute(target),
                    ("Sub", Some(text)) => self.sub(text),
                    (tag, _) => Err(Self::unresolved(format!("!{tag}"), "unsupported intrinsic")),
                }
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().ok_or_else(|| shape("empty mapping"))?;
                match (k.as_str(), v) {
                    (Some("Ref"), Value::String(name)) => self.reference(name),
                    (Some("Fn::Sub"), Value::String(text)) => self.sub(text),
                    (Some("Fn::GetAtt"), Value::Sequence(parts)) if parts.len() == 2 => {
                        let id = parts[0].as_str().unwrap_or_default();
                        let attr = parts[1].as_str().unwrap_or_default();
                        self.attribute(&format!("{id}.{attr}"))
                    }
                    (Some("Fn::GetAtt"), Value::String(target)) => self.attribute(target),
                    _ => Err(Self::unresolved(format!("{m:?}"), "unsupported intrinsic")),
                }
            }
            other => {
                scalar(other).ok_or_else(|| Self::unresolved(format!("{other:?}"), "not a scalar"))
            }
        }
    }

    /// A function's environment, every value resolved.
    pub fn environment(
        &self,
        function: &Function,
    ) -> Result<HashMap<String, String>, TemplateError> {
        function
            .environment
            .iter()
            .map(|(k, v)| {
                self.resolve(v)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| match e {
                        TemplateError::Unresolved { what, why } => TemplateError::Unresolved {
                            what: format!("{}.Environment.{k} ({what})", function.logical_id),
                            why,
                        },
                        other => other,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {BillingMode: PAY_PER_REQUEST}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: fnbin}}
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
          ARN: !GetAtt Table.Arn
          BUCKET: !Sub "${AWS::StackName}-b-${AWS::AccountId}"
          LONG: {"Fn::Sub": "x-${Stage}"}
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: "/v1/x/{id}"}}
"#;

    fn resolver(t: &Template) -> Resolver {
        let mut r = Resolver::new("stk", "us-east-1", "123456789012", t.parameters.clone());
        r.physical.insert(
            "Table".into(),
            Physical {
                reference: "stk-Table".into(),
                attributes: [("Arn".to_owned(), "arn:table".to_owned())].into(),
            },
        );
        r
    }

    #[test]
    fn function_environment_resolves_every_intrinsic() {
        let t = Template::parse(SAMPLE).unwrap();
        let env = resolver(&t).environment(t.function("Fn").unwrap()).unwrap();
        assert_eq!(env["STAGE"], "dev");
        assert_eq!(env["TABLE"], "stk-Table");
        assert_eq!(env["ARN"], "arn:table");
        assert_eq!(env["BUCKET"], "stk-b-123456789012");
        assert_eq!(env["LONG"], "x-dev");
    }

    #[test]
    fn misspelled_ref_in_an_environment_is_an_error_naming_it() {
        let t = Template::parse(&SAMPLE.replace("!Ref Table", "!Ref Tabel")).unwrap();
        let err = resolver(&t)
            .environment(t.function("Fn").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("Fn.Environment.TABLE"), "{err}");
    }

    #[test]
    fn routes_name_their_function() {
        let t = Template::parse(SAMPLE).unwrap();
        assert_eq!(
            t.routes(),
            vec![Route {
                method: "GET".into(),
                path: "/v1/x/{id}".into(),
                function: "fnbin".into()
            }]
        );
    }
}
