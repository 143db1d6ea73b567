"""The GraphQL schema, one module per type area, merged here."""
