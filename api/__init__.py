"""The edge: HTTP and GraphQL, authentication, the CLI, and the composition root."""
