//! Pagination streams return every record once, whatever the page size.

use std::collections::HashSet;

use futures_util::TryStreamExt;

use crate::support::TestSandbox;

#[tokio::test]
async fn every_stream_yields_each_contact_once() {
    let sandbox = TestSandbox::start_with(|config| {
        config.contacts = 230;
        config.rate_limits.burst = 10_000;
    })
    .await;
    let client = sandbox.client();
    let listed: Vec<_> = client.contacts_stream(17).try_collect().await.expect("list stream");
    assert_eq!(listed.len(), 230);
    assert_eq!(listed.iter().map(|c| &c.id).collect::<HashSet<_>>().len(), 230);

    let search = ghl_types::SearchBody {
        location_id: client.location_id().into(),
        page_limit: 40,
        ..Default::default()
    };
    let searched: Vec<_> =
        client.search_stream(&search).try_collect().await.expect("search stream");
    assert_eq!(searched.len(), 230);
    assert_eq!(searched.iter().map(|c| &c.id).collect::<HashSet<_>>().len(), 230);

    let ids: Vec<String> = listed.iter().take(45).map(|c| c.id.clone()).collect();
    client.set_business(&ids, Some("acme")).await.expect("business");
    let of_business: Vec<_> =
        client.business_stream("acme", 10).try_collect().await.expect("business stream");
    assert_eq!(
        of_business.iter().map(|c| &c.id).collect::<HashSet<_>>(),
        ids.iter().collect::<HashSet<_>>()
    );
}
