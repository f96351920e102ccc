//! Models and routes a tenant adds at run time (the admin API stores them with the
//! tenant's settings): the configuration file's registry plus the tenant's own entries,
//! validated by the same rules. A tenant's entries never shadow the file's names, and
//! never name a local model by path: a tenant reaches the local models the file set up,
//! not files on the server's disk. A tenant may also point its own answers, judge and
//! query rewriting at a model of its registry (its roles).

use crate::registry::{Route, RouteStrategy};
use crate::validate::Config;
use crate::{Error, ModelsSection, RemoteModelSection, RouteSection};

impl RouteStrategy {
    /// The strategy's configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fallback => "fallback",
            Self::RoundRobin => "round_robin",
            Self::LeastBusy => "least_busy",
            Self::Cascade => "cascade",
        }
    }
}

impl From<&Route> for RouteSection {
    fn from(r: &Route) -> Self {
        Self {
            name: r.name.clone(),
            strategy: r.strategy.as_str().to_owned(),
            targets: r.targets.clone(),
            escalate_below: r.escalate_below,
        }
    }
}

impl Config {
    /// Whether `name` is a remote model or a route of the configuration file.
    pub fn is_configured_model(&self, name: &str) -> bool {
        self.remote_models.iter().any(|m| m.name == name)
            || self.routes.iter().any(|r| r.name == name)
    }

    /// Whether the configuration file already uses `name` (a remote model, a route,
    /// the generator or the embedder): a tenant may not name its own model so.
    pub fn reserves_model_name(&self, name: &str) -> bool {
        self.is_configured_model(name) || name == self.generator || name == self.embedder
    }

    /// Whether a caller may pick `name` to answer with: a remote model or route of this
    /// registry, or a local model the file's roles name (never an arbitrary file).
    pub fn answers_with(&self, name: &str) -> bool {
        match self.model_ref(name) {
            crate::ModelRef::Local => self.local_role_models().contains(&name),
            _ => true,
        }
    }

    /// The local models the file's roles name: all a tenant may name locally.
    fn local_role_models(&self) -> Vec<&str> {
        [
            self.generator.as_str(),
            self.judge_model(),
            self.rewriter_model(),
        ]
        .into_iter()
        .filter(|name| matches!(self.model_ref(name), crate::ModelRef::Local))
        .collect()
    }

    /// This configuration with a tenant's own remote models and routes added and its
    /// roles set. Each model is checked as the file's are (a route's targets may name
    /// the file's models and the tenant's, and local models only by the file's role
    /// names); a name the file already uses, or the local generator's, is refused. A
    /// role names a remote model or route of the merged registry, or a local model of
    /// the file's roles.
    pub fn with_tenant_models(
        &self,
        remote: &[RemoteModelSection],
        routes: &[RouteSection],
        roles: &TenantRoles,
    ) -> crate::Result<Config> {
        if remote.is_empty() && routes.is_empty() && roles.is_empty() {
            return Ok(self.clone());
        }
        let local = self.local_role_models();
        for (i, r) in routes.iter().enumerate() {
            if let Some(t) = r
                .targets
                .iter()
                .find(|t| t.contains('/') && !local.contains(&t.as_str()))
            {
                return Err(Error::Invalid {
                    key: format!("models.routes[{i}].targets"),
                    message: format!(
                        "`{t}` is a path; a tenant's route names models of the registry, \
                         not files"
                    ),
                });
            }
        }
        let names = remote
            .iter()
            .map(|m| m.name.as_str())
            .chain(routes.iter().map(|r| r.name.as_str()));
        for name in names {
            if self.reserves_model_name(name) {
                return Err(Error::Invalid {
                    key: "models".into(),
                    message: format!(
                        "`{name}` is already a model of the configuration file; choose \
                         another name"
                    ),
                });
            }
        }
        let role = |own: &Option<String>, file: &String| own.clone().unwrap_or(file.clone());
        let section = ModelsSection {
            embedder: self.embedder.clone(),
            generator: role(&roles.generator, &self.generator),
            judge: role(&roles.judge, &self.judge),
            rewriter: role(&roles.rewriter, &self.rewriter),
            reranker: self.reranker.clone(),
            remote: self.remote_models.iter().chain(remote).cloned().collect(),
            routes: self
                .routes
                .iter()
                .map(RouteSection::from)
                .chain(routes.iter().cloned())
                .collect(),
            ..ModelsSection::default()
        };
        let (remote_models, routes) = crate::registry::validate(&section)?;
        let mut merged = self.clone();
        merged.remote_models = remote_models;
        merged.routes = routes;
        for (key, own) in roles.named() {
            let known = merged.is_configured_model(own) || local.contains(&own);
            if !known {
                return Err(Error::Invalid {
                    key: key.into(),
                    message: format!(
                        "`{own}` is not a model of this tenant's registry (a remote model, \
                         a route, or one of the configuration file's local models: {})",
                        local.join(", ")
                    ),
                });
            }
        }
        merged.generator = section.generator;
        merged.judge = section.judge;
        merged.rewriter = section.rewriter;
        Ok(merged)
    }
}

/// The roles a tenant sets for itself (`models.generator`, `models.judge`,
/// `models.rewriter` in its settings); unset ones keep the file's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantRoles {
    pub generator: Option<String>,
    pub judge: Option<String>,
    pub rewriter: Option<String>,
}

impl TenantRoles {
    /// Whether no role is set.
    pub fn is_empty(&self) -> bool {
        self.named().next().is_none()
    }

    /// The set roles with their keys.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("models.generator", &self.generator),
            ("models.judge", &self.judge),
            ("models.rewriter", &self.rewriter),
        ]
        .into_iter()
        .filter_map(|(key, name)| name.as_deref().map(|n| (key, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let toml = "[[models.remote]]\nname = \"shared\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";
        crate::load_from_str(toml, "t", &[]).unwrap().0
    }

    fn remote(name: &str) -> RemoteModelSection {
        RemoteModelSection {
            name: name.into(),
            base_url: "http://127.0.0.1:2/v1".into(),
            ..RemoteModelSection::default()
        }
    }

    fn none() -> TenantRoles {
        TenantRoles::default()
    }

    #[test]
    fn a_tenant_points_its_roles_at_its_registry_and_nowhere_else() {
        let c = config();
        let roles = TenantRoles {
            generator: Some("mine".into()),
            judge: Some("shared".into()),
            rewriter: None,
        };
        let merged = c
            .with_tenant_models(&[remote("mine")], &[], &roles)
            .unwrap();
        assert_eq!(merged.generator, "mine");
        assert_eq!(merged.judge_model(), "shared");
        assert_eq!(
            merged.rewriter_model(),
            "mine",
            "unset: follows the generator"
        );
        assert_eq!(
            c.generator,
            crate::load_from_str("", "t", &[]).unwrap().0.generator
        );

        // The file's local generator is allowed; other names and paths are not.
        let local = TenantRoles {
            judge: Some(c.generator.clone()),
            ..none()
        };
        assert!(c.with_tenant_models(&[], &[], &local).is_ok());
        for bad in ["nowhere", "/etc/passwd", "../models/x.gguf"] {
            let roles = TenantRoles {
                generator: Some(bad.into()),
                ..none()
            };
            let err = c.with_tenant_models(&[], &[], &roles).unwrap_err();
            assert!(err.to_string().contains("models.generator"), "{err}");
        }
        // A role needs a chat model.
        let mut embed = remote("vectors");
        embed.api = "embeddings".into();
        embed.dimension = 8;
        let roles = TenantRoles {
            rewriter: Some("vectors".into()),
            ..none()
        };
        let err = c.with_tenant_models(&[embed], &[], &roles).unwrap_err();
        assert!(err.to_string().contains("chat"), "{err}");
        // A tenant's route cannot reach a file on disk.
        let by_path = RouteSection {
            name: "r".into(),
            strategy: "fallback".into(),
            targets: vec!["/srv/models/other.gguf".into()],
            ..RouteSection::default()
        };
        let err = c.with_tenant_models(&[], &[by_path], &none()).unwrap_err();
        assert!(err.to_string().contains("path"), "{err}");
    }

    #[test]
    fn a_tenants_models_join_the_files_and_are_validated_alike() {
        let c = config();
        let route = RouteSection {
            name: "mine-first".into(),
            strategy: "fallback".into(),
            targets: vec!["mine".into(), "shared".into()],
            ..RouteSection::default()
        };
        let merged = c
            .with_tenant_models(&[remote("mine")], &[route], &none())
            .unwrap();
        assert!(matches!(
            merged.model_ref("mine"),
            crate::ModelRef::Remote(_)
        ));
        assert!(matches!(
            merged.model_ref("mine-first"),
            crate::ModelRef::Route(_)
        ));
        assert_eq!(merged.remote_models[1].model, "mine", "defaults filled in");
        assert!(
            matches!(c.model_ref("mine"), crate::ModelRef::Local),
            "the file's is untouched"
        );

        let taken = c
            .with_tenant_models(&[remote("shared")], &[], &none())
            .unwrap_err();
        assert!(taken.to_string().contains("already a model"), "{taken}");
        let mut bad = remote("bad");
        bad.base_url = "ftp://x".into();
        let err = c.with_tenant_models(&[bad], &[], &none()).unwrap_err();
        assert!(err.to_string().contains("base_url"), "{err}");
        let dangling = RouteSection {
            name: "r".into(),
            strategy: "fallback".into(),
            targets: vec!["nowhere".into()],
            ..RouteSection::default()
        };
        assert!(c.with_tenant_models(&[], &[dangling], &none()).is_err());
    }
}
