"""The GraphQL schema: one package per area (``directory``, ``protocols``, ``cases``, ``audit``),
each split into types, inputs, queries and mutations, assembled in ``build``. ``access_log`` is
the hook that notes every confidential read, whichever executor path completes it; ``adapter``
holds every use of strawberry's and graphql-core's private members."""
