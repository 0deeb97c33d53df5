//! SecretService conversions: requests into new secrets, patches and
//! values (every bad field reported at once); secrets into responses
//! (metadata only: values are input only).

use crate::error::{Error, Violations};
use crate::grpc::convert::{check_id, etag};
use crate::grpc::{opt_timestamp, timestamp};
use crate::pb;
use crate::registry::secrets::{NewSecret, SecretPatch, SecretView};
use crate::registry::{Description, SecretName, SecretValues};

/// Reads values under `field` (`secret.values`, `values`).
fn values(values: Vec<pb::SecretValue>, field: &str, v: &mut Violations) -> Option<SecretValues> {
    let pairs = values.into_iter().map(|sv| (sv.name, sv.value)).collect();
    match SecretValues::parse(pairs) {
        Ok(values) => Some(values),
        Err(problems) => {
            for (index, of_name, problem) in problems {
                let path = match (index, of_name) {
                    (None, _) => field.to_owned(),
                    (Some(i), true) => format!("{field}[{i}].name"),
                    (Some(i), false) => format!("{field}[{i}].value"),
                };
                v.add(path, problem);
            }
            None
        }
    }
}

impl TryFrom<pb::CreateSecretRequest> for NewSecret {
    type Error = Error;

    fn try_from(request: pb::CreateSecretRequest) -> Result<Self, Error> {
        let secret = request
            .secret
            .ok_or_else(|| Error::invalid("secret", "is required"))?;
        let mut v = Violations::new();
        let name = v.check("secret.name", SecretName::parse(secret.name));
        let description = v.check("secret.description", Description::parse(secret.description));
        let values = values(secret.values, "secret.values", &mut v);
        v.finish()?;
        match (name, description, values) {
            (Some(name), Some(description), Some(values)) => Ok(NewSecret {
                name,
                description,
                values,
            }),
            _ => Err(Error::internal(anyhow::anyhow!(
                "a validated field was lost"
            ))),
        }
    }
}

/// An UpdateSecret request: which secret, what changes, the etag.
pub struct SecretUpdate {
    pub id: String,
    pub patch: SecretPatch,
    pub etag: Option<String>,
}

impl TryFrom<pb::UpdateSecretRequest> for SecretUpdate {
    type Error = Error;

    fn try_from(request: pb::UpdateSecretRequest) -> Result<Self, Error> {
        let pb::UpdateSecretRequest {
            secret,
            update_mask,
        } = request;
        let secret = secret.ok_or_else(|| Error::invalid("secret", "is required"))?;
        let mut v = Violations::new();
        check_id(&mut v, "secret.id", "sec", &secret.id);
        let paths: Vec<String> = match update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            _ => vec!["name".to_owned(), "description".to_owned()],
        };
        let mut patch = SecretPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("secret.name", SecretName::parse(secret.name.clone()));
                }
                "description" => {
                    patch.description = v.check(
                        "secret.description",
                        Description::parse(secret.description.clone()),
                    );
                }
                "values" => v.add("update_mask", "values change only with RotateSecret"),
                other => v.add(
                    "update_mask",
                    format!("{other:?} is not an updatable field of Secret (updatable: name, description)"),
                ),
            }
        }
        v.finish()?;
        Ok(SecretUpdate {
            id: secret.id,
            patch,
            etag: etag(secret.etag),
        })
    }
}

/// A RotateSecret request: which secret, its new values, the etag.
pub struct SecretRotation {
    pub id: String,
    pub values: SecretValues,
    pub etag: Option<String>,
}

impl TryFrom<pb::RotateSecretRequest> for SecretRotation {
    type Error = Error;

    fn try_from(request: pb::RotateSecretRequest) -> Result<Self, Error> {
        let pb::RotateSecretRequest {
            id,
            values: given,
            etag: tag,
        } = request;
        let mut v = Violations::new();
        check_id(&mut v, "id", "sec", &id);
        let values = values(given, "values", &mut v);
        v.finish()?;
        let values =
            values.ok_or_else(|| Error::internal(anyhow::anyhow!("a validated field was lost")))?;
        Ok(SecretRotation {
            id,
            values,
            etag: etag(tag),
        })
    }
}

impl From<SecretView> for pb::Secret {
    fn from(view: SecretView) -> Self {
        let etag = view.secret.etag();
        let crate::registry::secrets::Secret {
            id,
            organization_id,
            name,
            description,
            value_names,
            sealed_values: _,
            created_at,
            created_by,
            updated_at,
            updated_by,
            rotated_at,
            rotated_by,
            revision: _,
        } = view.secret;
        pb::Secret {
            id,
            organization_id,
            name,
            description,
            values: Vec::new(),
            value_names,
            dependent_servers: view.dependent_servers,
            create_time: Some(timestamp(created_at)),
            created_by,
            update_time: opt_timestamp(Some(updated_at)),
            updated_by,
            rotate_time: Some(timestamp(rotated_at)),
            rotated_by,
            etag,
        }
    }
}
