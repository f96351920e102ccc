//! Assistants: saved per tenant over one or several collections, in the order given;
//! a further collection that is deleted leaves the assistant, the first one takes the
//! assistant with it.

use super::support::{Fixture, c, t};
use cairn_store::{Assistant, Error};
use cairn_types::ChunkingSpec;

fn bot(tenant: &str, id: &str, first: &str, more: &[&str], at: i64) -> Assistant {
    Assistant {
        tenant: t(tenant),
        id: id.into(),
        name: format!("{id} bot"),
        description: String::new(),
        collection: c(first),
        collections: more.iter().map(|m| c(m)).collect(),
        instructions: "Answer briefly.".into(),
        model: None,
        updated_by: "user:ann".into(),
        created_at: at,
        updated_at: at,
    }
}

fn collections_of(a: &Assistant) -> Vec<&str> {
    a.collections.iter().map(|c| c.as_str()).collect()
}

fn assistants_answer_from_several_collections(s: Fixture) {
    for name in ["hr", "eng"] {
        s.create_collection(&t("a"), &c(name), "", &ChunkingSpec::default(), 2)
            .unwrap();
    }
    let saved = s
        .put_assistant(&bot("a", "all", "c", &["hr", "c", "eng"], 10))
        .unwrap();
    // The first collection is not repeated; the others keep their order.
    assert_eq!(collections_of(&saved), ["hr", "eng"]);
    assert_eq!(s.get_assistant(&t("a"), "all").unwrap(), saved);
    s.put_assistant(&bot("a", "one", "hr", &[], 11)).unwrap();
    let listed = s.list_assistants(&t("a")).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(collections_of(&listed[0]), ["hr", "eng"], "{listed:?}");
    assert!(listed[1].collections.is_empty());
    // Saving again replaces the list whole.
    let again = s
        .put_assistant(&bot("a", "all", "c", &["eng"], 20))
        .unwrap();
    assert_eq!(collections_of(&again), ["eng"]);
    assert_eq!((again.created_at, again.updated_at), (10, 20));
    // Another tenant's collection (or none) is not found, and nothing changes.
    assert!(matches!(
        s.put_assistant(&bot("a", "all", "c", &["eng", "nope"], 30)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        collections_of(&s.get_assistant(&t("a"), "all").unwrap()),
        ["eng"]
    );
    assert!(matches!(
        s.put_assistant(&bot("b", "x", "c", &["hr"], 30)),
        Err(Error::NotFound { .. })
    ));
    assert!(s.list_assistants(&t("b")).unwrap().is_empty());
    // Deleting a further collection takes it off; deleting the first deletes the
    // assistant.
    s.delete_collection(&t("a"), &c("eng")).unwrap();
    assert!(
        s.get_assistant(&t("a"), "all")
            .unwrap()
            .collections
            .is_empty()
    );
    s.delete_collection(&t("a"), &c("hr")).unwrap();
    assert!(matches!(
        s.get_assistant(&t("a"), "one"),
        Err(Error::NotFound { .. })
    ));
    s.delete_assistant(&t("a"), "all").unwrap();
    assert!(s.list_assistants(&t("a")).unwrap().is_empty());
}
both!(assistants_answer_from_several_collections);
