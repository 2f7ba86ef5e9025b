//! `deploy/kubernetes/` holds together: the ConfigMap's configuration parses with wardgate's own
//! parser, every file it names is mounted where it says (ConfigMap items and Secrets), the
//! embedded rules compile and pass their [[test]] cases, and the Deployment is hardened as
//! deploy/README.md says (two replicas on separate nodes, non-root, read-only root, probes on
//! /healthz and /readyz, resources, grace period longer than the ack timeout). Schema validation
//! proper is `kubernetes-validate --strict` (PyPI) on the manifests (deploy/README.md, section 10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wardgate_hl7::ParseLimits;
use wardgate_proxy::config::Config;
use wardgate_rules::{RuleSource, compile};
use yaml_rust2::{Yaml, YamlLoader};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every document of every manifest, by `kind/name`.
fn manifests() -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            let kind = doc["kind"].as_str().unwrap().to_owned();
            let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
            out.insert(format!("{kind}/{name}"), doc);
        }
    }
    out
}

/// Where each mounted file comes from: absolute path in the container -> (volume, key).
fn mounted_files(deployment: &Yaml) -> BTreeMap<String, (String, String)> {
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mut out = BTreeMap::new();
    for mount in container["volumeMounts"].as_vec().unwrap() {
        let vname = mount["name"].as_str().unwrap();
        let at = mount["mountPath"].as_str().unwrap();
        let volume = pod["volumes"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(vname))
            .unwrap_or_else(|| panic!("no volume {vname}"));
        if let Some(items) = volume["configMap"]["items"].as_vec() {
            for item in items {
                let key = item["key"].as_str().unwrap().to_owned();
                let path = format!("{at}/{}", item["path"].as_str().unwrap());
                out.insert(path, (vname.to_owned(), key));
            }
        } else if volume["secret"]["secretName"].as_str().is_some() {
            // Secret keys: every key becomes a file of the same name.
            for key in ["tls.crt", "tls.key", "ca.crt", "token"] {
                out.insert(format!("{at}/{key}"), (vname.to_owned(), key.to_owned()));
            }
        }
    }
    out
}

fn configmap_data(docs: &BTreeMap<String, Yaml>, key: &str) -> String {
    docs["ConfigMap/wardgate-config"]["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap has no {key}"))
        .to_owned()
}

#[test]
fn the_configmap_config_parses_and_everything_it_names_is_mounted() {
    let docs = manifests();
    let deployment = &docs["Deployment/wardgate"];
    let config = Config::parse(&configmap_data(&docs, "wardgate.toml"), "configmap", None)
        .unwrap_or_else(|e| panic!("{e}"));
    let files = mounted_files(deployment);
    let admin = config
        .admin
        .as_ref()
        .expect("an admin endpoint for the probes");
    let mut named: Vec<PathBuf> = vec![admin.token_file.clone().expect("a token off loopback")];
    for route in &config.routes {
        named.extend(route.rules.iter().cloned());
        let tls = route.tls.as_ref().expect("mutual TLS from the senders");
        named.extend([tls.cert.clone(), tls.key.clone()]);
        named.extend(tls.client_ca.iter().cloned());
    }
    for path in &named {
        let path = path.to_str().unwrap();
        assert!(files.contains_key(path), "{path} is not mounted: {files:?}");
    }
    // The audit log's folder is a mounted (writable) volume: the root file system is read-only.
    let audit = config.audit.path.as_ref().unwrap();
    let folder = audit.parent().unwrap().to_str().unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mount = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(folder))
        .expect("the audit folder is a volume");
    assert_ne!(mount["readOnly"].as_bool(), Some(true));

    // The grace period outlasts the ack timeout, so a rollout lets forwarded orders finish.
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap();
    for route in &config.routes {
        assert!(route.limits.ack_timeout.as_secs() < grace as u64);
    }
}

#[test]
fn the_embedded_rules_compile_and_pass_their_tests() {
    let docs = manifests();
    let deployment = &docs["Deployment/wardgate"];
    let config = Config::parse(&configmap_data(&docs, "wardgate.toml"), "configmap", None).unwrap();
    let files = mounted_files(deployment);
    // Test messages are the repository's fixtures, as for rules/pcd03/.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/pcd03");
    for route in &config.routes {
        let sources: Vec<RuleSource> = route
            .rules
            .iter()
            .map(|p| {
                let (_, key) = &files[p.to_str().unwrap()];
                RuleSource {
                    name: Arc::from(p.display().to_string()),
                    text: configmap_data(&docs, key),
                    dir: Some(shipped.clone()),
                }
            })
            .collect();
        let set = compile(&sources).unwrap_or_else(|e| panic!("route {}: {e}", route.name));
        assert!(!set.tests.is_empty());
        let failed: Vec<String> = set
            .run_tests(&ParseLimits::default())
            .iter()
            .filter(|o| o.failure.is_some())
            .map(ToString::to_string)
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
}

#[test]
fn the_deployment_is_hardened_and_probed() {
    let docs = manifests();
    let d = &docs["Deployment/wardgate"];
    assert!(d["spec"]["replicas"].as_i64().unwrap() >= 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"].as_str(), Some("kubernetes.io/hostname"));
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    for r in ["requests", "limits"] {
        assert!(c["resources"][r]["memory"].as_str().is_some(), "{r}");
    }
    let probe_path = |probe: &str| {
        let cmd = c[probe]["exec"]["command"].as_vec().unwrap();
        let words: Vec<&str> = cmd.iter().map(|w| w.as_str().unwrap()).collect();
        assert_eq!(&words[..2], ["wardgate", "probe"], "{probe}");
        words.last().unwrap().to_string()
    };
    assert_eq!(probe_path("livenessProbe"), "/healthz");
    assert_eq!(probe_path("readinessProbe"), "/readyz");
    // The probe command's flags are ones `wardgate probe` accepts.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(["probe", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--config") && help.contains("--path"),
        "{help}"
    );

    // Services and the budget select the Deployment's pods.
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    for selector in [
        &docs["Service/wardgate-mllp"]["spec"]["selector"],
        &docs["Service/wardgate-admin"]["spec"]["selector"],
        &docs["PodDisruptionBudget/wardgate"]["spec"]["selector"]["matchLabels"],
    ] {
        for (k, v) in selector.as_hash().unwrap() {
            assert_eq!(&labels[k.as_str().unwrap()], v);
        }
    }
}
