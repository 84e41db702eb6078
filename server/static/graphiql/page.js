// Starts GraphiQL on the page served by server/graphiql.py. This is a file rather than an
// inline script so the page's Content-Security-Policy can stay at script-src 'self'.
(function () {
  "use strict";

  const WELCOME = `# Welcome to the Storefront GraphQL API.
#
# Write a query on this side, run it with Ctrl-Enter (or the play button),
# and the answer appears on the right. Ctrl-Space completes field names.
#
# Operations that need a login: open "Headers" below and paste
#
#     {"Authorization": "Bearer <access token>"}
#
# The same header is sent as connectionParams.Authorization for subscriptions.

{
  __typename
}
`;

  const container = document.getElementById("graphiql");
  const endpoint = new URL(container.dataset.endpoint, window.location.href);
  endpoint.search = "";
  endpoint.hash = "";

  const subscriptionUrl = new URL(endpoint);
  subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // `q`, not `query`: GET /graphql?query=... executes the query instead of serving this page.
  const shared = new URLSearchParams(window.location.search);

  function share(name, value) {
    if (value) {
      shared.set(name, value);
    } else {
      shared.delete(name);
    }
    const search = shared.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  // GraphiQL passes the header editor's headers to the WebSocket client as its
  // connection parameters, which is where the server looks for the bearer token.
  const fetcher = GraphiQL.createFetcher({
    url: endpoint.toString(),
    subscriptionUrl: subscriptionUrl.toString(),
  });
  const plugins = [GraphiQLPluginExplorer.explorerPlugin()];

  function StorefrontGraphiQL() {
    const [query, setQuery] = React.useState(shared.get("q") || WELCOME);
    const [variables, setVariables] = React.useState(shared.get("variables") || undefined);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: plugins,
      query: query,
      variables: variables,
      onEditQuery: function (value) {
        setQuery(value);
        share("q", value);
      },
      onEditVariables: function (value) {
        setVariables(value);
        share("variables", value);
      },
      defaultEditorToolsVisibility: true,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // Headers hold bearer tokens: keep them out of localStorage and out of the URL.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(container).render(React.createElement(StorefrontGraphiQL));
})();
