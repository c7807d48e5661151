//! The manifests shipped in the binary (`apps/<app>/manifest.yaml` at the repository's
//! root), each loaded and checked by the tests.

use crate::error::ManifestError;
use crate::loader::load;
use crate::manifest::Manifest;

/// (app id, manifest text) of every shipped manifest.
pub const MANIFESTS: &[(&str, &str)] = &[
    ("your-app", include_str!("../../../apps/your-app/manifest.yaml")),
    ("slack", include_str!("../../../apps/slack/manifest.yaml")),
    ("teams", include_str!("../../../apps/teams/manifest.yaml")),
    ("webhook", include_str!("../../../apps/webhook/manifest.yaml")),
    ("qonto", include_str!("../../../apps/qonto/manifest.yaml")),
    ("bqe-core", include_str!("../../../apps/bqe-core/manifest.yaml")),
    ("nozbe", include_str!("../../../apps/nozbe/manifest.yaml")),
    ("qobrix", include_str!("../../../apps/qobrix/manifest.yaml")),
];

/// Every shipped manifest, loaded. A shipped manifest that does not load is a bug the tests
/// catch; the error names the app.
pub fn manifests() -> Result<Vec<Manifest>, (&'static str, ManifestError)> {
    MANIFESTS.iter().map(|(app, text)| load(text).map_err(|err| (*app, err))).collect()
}
