//! Every service method, message, field, oneof, enum and enum value of the API is documented.

use prost::Message;
use prost_types::FileDescriptorSet;

#[test]
fn every_element_has_a_comment() {
    let fds = FileDescriptorSet::decode(zkinfer_proto::FILE_DESCRIPTOR_SET).unwrap();
    let file = fds.file.iter().find(|f| f.name() == "zkinfer/v1/prover.proto").expect("the API file");
    let info = file.source_code_info.as_ref().expect("source info kept");
    let documented =
        |path: &[i32]| info.location.iter().any(|l| l.path == path && !l.leading_comments().trim().is_empty());
    let mut missing = Vec::new();
    for (i, m) in file.message_type.iter().enumerate() {
        let i = i as i32;
        if !documented(&[4, i]) {
            missing.push(m.name().to_string());
        }
        for (j, f) in m.field.iter().enumerate() {
            if !documented(&[4, i, 2, j as i32]) {
                missing.push(format!("{}.{}", m.name(), f.name()));
            }
        }
        for (j, o) in m.oneof_decl.iter().enumerate() {
            if !documented(&[4, i, 8, j as i32]) {
                missing.push(format!("{}.{} (oneof)", m.name(), o.name()));
            }
        }
    }
    for (i, e) in file.enum_type.iter().enumerate() {
        let i = i as i32;
        if !documented(&[5, i]) {
            missing.push(e.name().to_string());
        }
        for (j, v) in e.value.iter().enumerate() {
            if !documented(&[5, i, 2, j as i32]) {
                missing.push(format!("{}.{}", e.name(), v.name()));
            }
        }
    }
    for (i, s) in file.service.iter().enumerate() {
        let i = i as i32;
        if !documented(&[6, i]) {
            missing.push(s.name().to_string());
        }
        for (j, m) in s.method.iter().enumerate() {
            if !documented(&[6, i, 2, j as i32]) {
                missing.push(format!("{}.{}", s.name(), m.name()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
    // The service has every call the node must answer.
    let methods: Vec<_> = file.service[0].method.iter().map(|m| m.name()).collect();
    for want in ["RegisterModel", "ListModels", "SubmitJob", "GetJob", "WatchJob", "GetProof", "CancelJob"] {
        assert!(methods.contains(&want), "{want} missing");
    }
}
