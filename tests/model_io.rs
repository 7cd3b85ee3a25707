//! Safetensors model files: round trip, metadata, and clear errors.

mod common;

use common::net_and_data;
use hairtrigger::net::io::{read_tensors, write_tensors, Tensor};
use hairtrigger::{Activation, Error, Mlp};
use std::collections::{BTreeMap, HashMap};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hairtrigger-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn round_trip_is_exact_for_every_activation_and_bias_setting() {
    for act in common::ACTIVATIONS {
        for bias in [true, false] {
            let (net, _) = net_and_data(&[3, 7, 5, 2], act, bias, 4, 1);
            let path = tmp(&format!("rt-{}-{bias}.safetensors", act.name()));
            net.save(&path, &[("note", "test".into())]).unwrap();
            let back = Mlp::load(&path).unwrap();
            assert_eq!(back, net);
            let (tensors, meta) = read_tensors(&path).unwrap();
            assert_eq!(meta["widths"], "3,7,5,2");
            assert_eq!(meta["activation"], act.name());
            assert_eq!(meta["note"], "test");
            assert_eq!(tensors["layers.0.weight"].shape, vec![7, 3]);
            assert_eq!(tensors.contains_key("layers.2.bias"), bias);
        }
    }
}

#[test]
fn garbage_file_is_a_clear_error() {
    let path = tmp("garbage.safetensors");
    std::fs::write(&path, b"this is not a model").unwrap();
    let err = Mlp::load(&path).unwrap_err();
    assert!(matches!(err, Error::ModelFile { .. }), "{err}");
    assert!(err.to_string().contains("garbage.safetensors"));
    assert!(matches!(
        Mlp::load(&tmp("missing.safetensors")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn shape_that_does_not_match_the_metadata_is_rejected() {
    let (net, _) = net_and_data(&[3, 4, 2], Activation::Relu, true, 1, 1);
    let path = tmp("mismatch.safetensors");
    net.save(&path, &[]).unwrap();
    let (mut tensors, mut meta) = read_tensors(&path).unwrap();
    meta.insert("widths".into(), "3,5,2".into());
    write_tensors(&path, &tensors, meta.clone()).unwrap();
    let err = Mlp::load(&path).unwrap_err();
    assert!(err.to_string().contains("layers.0.weight"), "{err}");

    // A missing tensor is named too.
    meta.insert("widths".into(), "3,4,2".into());
    tensors.remove("layers.1.bias");
    write_tensors(&path, &tensors, meta).unwrap();
    assert!(Mlp::load(&path)
        .unwrap_err()
        .to_string()
        .contains("layers.1.bias"));

    // Foreign files without the format key are refused.
    let mut t = BTreeMap::new();
    t.insert(
        "w".to_string(),
        Tensor {
            shape: vec![1],
            data: vec![1.0],
        },
    );
    write_tensors(&path, &t, HashMap::new()).unwrap();
    assert!(Mlp::load(&path).unwrap_err().to_string().contains("format"));
}
