"""The fake Dify Service API (tests/fakes/dify), exercised over real HTTP."""
