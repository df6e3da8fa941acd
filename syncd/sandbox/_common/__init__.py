"""What every sandbox shares: the recording server base, hook delivery, OpenAPI checks, ticket data."""
