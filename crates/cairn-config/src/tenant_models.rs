//! Models and routes a tenant adds at run time (the admin API stores them with the
//! tenant's settings): the configuration file's registry plus the tenant's own entries,
//! validated by the same rules. A tenant's entries never shadow the file's names.

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

    /// This configuration with a tenant's own remote models and routes added. Each is
    /// checked as the file's are (a route's targets may name the file's models and the
    /// tenant's); a name the file already uses, or the local generator's, is refused.
    pub fn with_tenant_models(
        &self,
        remote: &[RemoteModelSection],
        routes: &[RouteSection],
    ) -> crate::Result<Config> {
        if remote.is_empty() && routes.is_empty() {
            return Ok(self.clone());
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
        let section = ModelsSection {
            embedder: self.embedder.clone(),
            generator: self.generator.clone(),
            judge: self.judge.clone(),
            rewriter: self.rewriter.clone(),
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
        Ok(merged)
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

    #[test]
    fn a_tenants_models_join_the_files_and_are_validated_alike() {
        let c = config();
        let route = RouteSection {
            name: "mine-first".into(),
            strategy: "fallback".into(),
            targets: vec!["mine".into(), "shared".into()],
            ..RouteSection::default()
        };
        let merged = c.with_tenant_models(&[remote("mine")], &[route]).unwrap();
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

        let taken = c.with_tenant_models(&[remote("shared")], &[]).unwrap_err();
        assert!(taken.to_string().contains("already a model"), "{taken}");
        let mut bad = remote("bad");
        bad.base_url = "ftp://x".into();
        let err = c.with_tenant_models(&[bad], &[]).unwrap_err();
        assert!(err.to_string().contains("base_url"), "{err}");
        let dangling = RouteSection {
            name: "r".into(),
            strategy: "fallback".into(),
            targets: vec!["nowhere".into()],
            ..RouteSection::default()
        };
        assert!(c.with_tenant_models(&[], &[dangling]).is_err());
    }
}
