//! Conversations, recorded answers and feedback: ordering, atomic turns, tenant scoping.

use crate::support::{Fixture, c, t};
use cairn_store::Error;
use cairn_types::{
    AnswerId, Conversation, ConversationId, Feedback, FeedbackId, MessageRole, StoredAnswer,
};

fn conv(tenant: &str) -> Conversation {
    Conversation {
        tenant: t(tenant),
        id: ConversationId::generate(),
        collection: Some(c("c")),
        title: "vacuum questions".into(),
        summary: String::new(),
        summarized_through: 0,
        owner: None,
        created_at: 10,
        updated_at: 10,
    }
}

fn answer(tenant: &str, conversation: Option<&ConversationId>, q: &str) -> StoredAnswer {
    StoredAnswer {
        tenant: t(tenant),
        id: AnswerId::generate(),
        conversation: conversation.cloned(),
        collection: Some(c("c")),
        question: q.into(),
        answer: format!("answer to {q} [1]"),
        prompt_version: "rag-v1".into(),
        record: serde_json::json!({"citations": [{"n": 1}]}),
        owner: None,
        created_at: 20,
    }
}

both!(a_recorded_answer_appends_its_turn_to_the_conversation);
fn a_recorded_answer_appends_its_turn_to_the_conversation(s: Fixture) {
    let cv = conv("a");
    s.create_conversation(&cv).unwrap();
    let a1 = answer("a", Some(&cv.id), "what is vacuum?");
    let a2 = answer("a", Some(&cv.id), "and full?");
    s.record_answer(&a1).unwrap();
    s.record_answer(&a2).unwrap();

    let msgs = s.list_messages(&t("a"), &cv.id).unwrap();
    let seqs: Vec<i64> = msgs.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(msgs[0].role, MessageRole::User);
    assert_eq!(msgs[0].content, "what is vacuum?");
    assert_eq!(msgs[1].role, MessageRole::Assistant);
    assert_eq!(msgs[1].answer.as_ref(), Some(&a1.id));
    assert_eq!(msgs[3].content, "answer to and full? [1]");

    let back = s.get_answer(&t("a"), &a2.id).unwrap();
    assert_eq!(back, a2);
    assert_eq!(s.get_conversation(&t("a"), &cv.id).unwrap().updated_at, 20);
}

both!(an_answer_into_a_missing_conversation_stores_nothing);
fn an_answer_into_a_missing_conversation_stores_nothing(s: Fixture) {
    let ghost = ConversationId::generate();
    let a = answer("a", Some(&ghost), "q");
    assert!(matches!(s.record_answer(&a), Err(Error::NotFound { .. })));
    assert!(matches!(
        s.get_answer(&t("a"), &a.id),
        Err(Error::NotFound { .. })
    ));
}

both!(summaries_and_listing_follow_updates);
fn summaries_and_listing_follow_updates(s: Fixture) {
    let mut first = conv("a");
    first.updated_at = 5;
    let second = conv("a");
    s.create_conversation(&first).unwrap();
    s.create_conversation(&second).unwrap();
    s.set_summary(&t("a"), &first.id, "talked about vacuum", 4, 99)
        .unwrap();
    let list = s.list_conversations(&t("a"), None, 10).unwrap();
    assert_eq!(list[0].id, first.id);
    assert_eq!(list[0].summary, "talked about vacuum");
    assert_eq!(list[0].summarized_through, 4);
    assert_eq!(s.list_conversations(&t("a"), None, 1).unwrap().len(), 1);
}

both!(another_tenant_sees_none_of_it);
fn another_tenant_sees_none_of_it(s: Fixture) {
    let cv = conv("a");
    s.create_conversation(&cv).unwrap();
    let a = answer("a", Some(&cv.id), "secret question");
    s.record_answer(&a).unwrap();

    let b = t("b");
    assert!(matches!(
        s.get_conversation(&b, &cv.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.list_messages(&b, &cv.id),
        Err(Error::NotFound { .. })
    ));
    assert!(s.list_conversations(&b, None, 10).unwrap().is_empty());
    assert!(matches!(
        s.get_answer(&b, &a.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.append_messages(&b, &cv.id, &[(MessageRole::User, "x".into(), None)], 30),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_conversation(&b, &cv.id),
        Err(Error::NotFound { .. })
    ));
    let fb = Feedback {
        tenant: b.clone(),
        id: FeedbackId::generate(),
        answer: a.id.clone(),
        rating: -1,
        comment: "guessing ids".into(),
        owner: None,
        created_at: 40,
    };
    assert!(matches!(s.add_feedback(&fb), Err(Error::NotFound { .. })));
    // Tenant a's data is intact.
    assert_eq!(s.list_messages(&t("a"), &cv.id).unwrap().len(), 2);
    assert!(s.list_feedback(&t("a"), &a.id).unwrap().is_empty());
}

both!(feedback_is_tied_to_its_answer_and_survives_the_conversation);
fn feedback_is_tied_to_its_answer_and_survives_the_conversation(s: Fixture) {
    let cv = conv("a");
    s.create_conversation(&cv).unwrap();
    let a = answer("a", Some(&cv.id), "q");
    s.record_answer(&a).unwrap();
    let fb = Feedback {
        tenant: t("a"),
        id: FeedbackId::generate(),
        answer: a.id.clone(),
        rating: 1,
        comment: "cited the right page".into(),
        owner: None,
        created_at: 30,
    };
    s.add_feedback(&fb).unwrap();
    let bad = Feedback {
        rating: 3,
        id: FeedbackId::generate(),
        ..fb.clone()
    };
    assert!(s.add_feedback(&bad).is_err(), "rating must be -1 or 1");

    s.delete_conversation(&t("a"), &cv.id).unwrap();
    assert!(matches!(
        s.list_messages(&t("a"), &cv.id),
        Err(Error::NotFound { .. })
    ));
    let kept = s.get_answer(&t("a"), &a.id).unwrap();
    assert_eq!(kept.conversation, None);
    assert_eq!(s.list_feedback(&t("a"), &a.id).unwrap(), vec![fb.clone()]);
    // Everything since a time, oldest first, for the tenant only (dataset exports).
    let since = s.answers_since(&t("a"), 0, 10).unwrap();
    assert_eq!(since.iter().map(|x| &x.id).collect::<Vec<_>>(), [&a.id]);
    assert!(
        s.answers_since(&t("a"), a.created_at + 1, 10)
            .unwrap()
            .is_empty()
    );
    assert!(s.answers_since(&t("b"), 0, 10).unwrap().is_empty());
    assert_eq!(s.feedback_since(&t("a"), 30, 10).unwrap(), vec![fb]);
    assert!(s.feedback_since(&t("a"), 31, 10).unwrap().is_empty());
    assert!(s.feedback_since(&t("b"), 0, 10).unwrap().is_empty());
}

both!(conversations_are_searched_by_title_and_messages_and_renamed_in_place);
fn conversations_are_searched_by_title_and_messages_and_renamed_in_place(s: Fixture) {
    let mut mine = conv("a");
    mine.owner = Some("ann".into());
    s.create_conversation(&mine).unwrap();
    let mut other = conv("a");
    other.owner = Some("ben".into());
    other.title = "budget".into();
    s.create_conversation(&other).unwrap();
    let mut foreign = conv("b");
    foreign.owner = Some("ann".into());
    s.create_conversation(&foreign).unwrap();
    let mut a = answer("a", Some(&mine.id), "how loud is the 100% turbo_mode?");
    a.owner = Some("ann".into());
    s.record_answer(&a).unwrap();

    let ids = |found: Vec<Conversation>| found.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let find =
        |owner: Option<&str>, q: &str| ids(s.search_conversations(&t("a"), owner, q, 10).unwrap());
    assert_eq!(
        find(Some("ann"), "VACUUM"),
        [mine.id.clone()],
        "title, any case"
    );
    assert_eq!(
        find(Some("ann"), "turbo_mode"),
        [mine.id.clone()],
        "a message"
    );
    assert_eq!(find(Some("ann"), "100%"), [mine.id.clone()]);
    assert!(
        find(Some("ann"), "100_").is_empty(),
        "_ is literal, not a wildcard"
    );
    assert!(find(Some("ann"), "1%0").is_empty(), "% is literal");
    assert!(find(Some("ben"), "turbo").is_empty(), "another owner's");
    assert_eq!(
        find(None, "u").len(),
        2,
        "the operator sees the tenant's, not b's"
    );

    let before = s.get_conversation(&t("a"), &mine.id).unwrap();
    let renamed = s
        .rename_conversation(&t("a"), &mine.id, "Turbo noise")
        .unwrap();
    assert_eq!(renamed.title, "Turbo noise");
    assert_eq!(renamed.updated_at, before.updated_at, "keeps its place");
    assert!(matches!(
        s.rename_conversation(&t("b"), &mine.id, "x"),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        s.get_conversation(&t("a"), &mine.id).unwrap().title,
        "Turbo noise"
    );
}
