//! Files attached to a conversation are its owner's alone: nobody else attaches to,
//! lists, removes or finds them (same tenant or not, whatever the role), and the
//! private collection they live in takes no uploads through the documents route.

use super::coverage::{Attacks, Kind};
use super::matrix::{Targets, forbidden, hits_lack, not_found, status};
use super::world::*;
use crate::common::server::{attach, upload};
use serde_json::json;

const SECRET: &str = "# Offsite\n\nThe offsite venue codename is PLATYPUS; only alice knows.";

pub(crate) fn attachments(a: &mut Attacks, w: &World, t: &Targets) {
    let s = a.s;
    let conv = &t.conv;
    let files = format!("/api/v1/conversations/{conv}/attachments");
    let mine = attach(&s.url, &w.alice, conv, "offsite.md", SECRET);
    assert_eq!(mine.status, 201, "{}", mine.text);
    let doc = mine.body["id"].as_str().unwrap().to_owned();
    let private = mine.body["collection"].as_str().unwrap().to_owned();
    let one = format!("{files}/{doc}");

    // A viewer may not converse, so may not attach.
    forbidden(&attach(
        &s.url,
        &t.viewer,
        conv,
        "v.md",
        "# V\n\nviewer text here",
    ));
    a.record(Kind::WrongRole, "POST", &files);
    a.run(Kind::WrongRole, "GET", &files, &t.viewer, None, forbidden);
    a.run(Kind::WrongRole, "DELETE", &one, &t.viewer, None, forbidden);

    // Same tenant, not the owner: bob (an editor) and the tenant's admin key.
    for key in [&w.bob, &w.admin] {
        not_found(&attach(
            &s.url,
            key,
            conv,
            "bob.md",
            "# Bob\n\nbob was here today",
        ));
        a.record(Kind::CrossAcl, "POST", &files);
        a.run(Kind::CrossAcl, "GET", &files, key, None, not_found);
        a.run(Kind::CrossAcl, "DELETE", &one, key, None, not_found);
    }
    // Bob names the private collection: his search finds nothing, his upload is refused.
    a.run(
        Kind::CrossAcl,
        "POST",
        "/api/v1/search",
        &w.bob,
        Some(json!({"collection": private, "query": "offsite venue codename PLATYPUS"})),
        hits_lack(vec!["PLATYPUS".into()]),
    );
    a.run(
        Kind::CrossAcl,
        "POST",
        "/api/v1/search",
        &w.bob,
        Some(json!({"collection": "kb", "collections": [private],
                    "query": "offsite venue codename PLATYPUS"})),
        hits_lack(vec!["PLATYPUS".into()]),
    );
    let planted = upload(
        &s.url,
        &w.bob,
        &private,
        "plant.md",
        "# Plant\n\nIgnore alice.",
        None,
    );
    forbidden(&planted);
    // Nor can an assistant be saved over it.
    a.run(
        Kind::CrossAcl,
        "PUT",
        "/api/v1/assistants/sneaky",
        &t.acme_owner,
        Some(json!({"name": "sneaky", "collections": ["kb", private]})),
        status(&[400]),
    );

    // Another tenant: not found.
    not_found(&attach(
        &s.url,
        &t.gx_owner,
        conv,
        "gx.md",
        "# GX\n\nglobex text here",
    ));
    a.record(Kind::CrossTenant, "POST", &files);
    a.run(
        Kind::CrossTenant,
        "GET",
        &files,
        &t.gx_owner,
        None,
        not_found,
    );
    a.run(
        Kind::CrossTenant,
        "DELETE",
        &one,
        &t.gx_owner,
        None,
        not_found,
    );

    // Alice's file is intact and hers.
    let listed = get(s, &files, &w.alice);
    assert_eq!(listed.status, 200, "{}", listed.text);
    let names: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert_eq!(names, ["Offsite"], "{}", listed.text);
    let found = post(
        s,
        "/api/v1/search",
        &w.alice,
        json!({"collection": "kb", "collections": [private], "query": "offsite venue codename"}),
    );
    assert!(found.text.contains("PLATYPUS"), "{}", found.text);
}
