// GraphiQL for the hotline's roles, served by nrd itself (no third-party host, no inline code).
//
// Queries go by POST to this page's own address. Nothing is kept in the browser: GraphiQL
// would keep the editors (a case's details can be among the variables), the tabs and the
// headers (the bearer token) in localStorage; here they live in memory and go with the tab.
(function () {
  'use strict';

  var memory = new Map();
  var storage = {
    getItem: function (key) {
      return memory.has(key) ? memory.get(key) : null;
    },
    setItem: function (key, value) {
      memory.set(key, String(value));
    },
    removeItem: function (key) {
      memory.delete(key);
    },
    clear: function () {
      memory.clear();
    },
    get length() {
      return memory.size;
    },
  };

  var welcome = [
    '# nrd GraphiQL',
    '#',
    '# Add your token under Headers before you run a query (or sign in first, on a demo',
    '# server at /auth/development):',
    '#   {"Authorization": "Bearer <token>"}',
    '# then re-fetch the schema (the "Re-fetch GraphQL schema" button, or Ctrl-Shift-R) for',
    '# its documentation and completion: they load for the hotline roles only.',
    '# Nothing typed here is kept by the browser: a reload starts afresh.',
    '',
    'query Directory($search: String) {',
    '  directory(search: $search, first: 5) {',
    '    totalCount',
    '    edges { node { nameEn nameFr regions { province } } }',
    '  }',
    '}',
    '',
  ].join('\n');

  // The header a request riding a session must carry (a development sign-in's, say);
  // without a session cookie it changes nothing.
  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + window.location.pathname,
    headers: { 'X-NRD-Request': '1' },
  });

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: welcome,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
