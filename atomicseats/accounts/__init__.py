"""Account services: users, passwords, roles and API tokens. No Flask request inside."""
